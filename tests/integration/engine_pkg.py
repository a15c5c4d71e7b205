#!/usr/bin/env python3
"""Builds update packages for the engine's integration tests and benchmark.

  engine_pkg.py OUT.zip [--server DIR] [--client DIR] [--schema FILE] [--data FILE]
                        [--hostile KIND --target server|client|outer]

A package is {version}.zip holding server.zip / client.zip / 结构.sql / data.sql (seed 000
appendix A). Inner zips are built from directory trees (modes and mtimes kept, deflated).
--hostile KIND builds a malicious inner archive (or outer one) instead of a faithful one:
  slip       entry "../evil.txt"              absolute   entry "/tmp/evil.txt"
  symlink    a symlink entry                   dup        two entries with the same name
  crc        a file whose CRC-32 is wrong      bomb       a highly compressed 64 MiB entry
  backslash  entry "a\\..\\evil.txt"
"""
import argparse
import io
import os
import stat
import struct
import sys
import zipfile

SCHEMA_NAME = "结构.sql"


def tree_zip(src):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for d in dirs:
                p = os.path.join(root, d)
                rel = os.path.relpath(p, src) + "/"
                zi = zipfile.ZipInfo.from_file(p, rel)
                z.writestr(zi, b"")
            for f in sorted(files):
                p = os.path.join(root, f)
                rel = os.path.relpath(p, src)
                zi = zipfile.ZipInfo.from_file(p, rel)
                zi.compress_type = zipfile.ZIP_DEFLATED
                with open(p, "rb") as fh:
                    z.writestr(zi, fh.read())
    return buf.getvalue()


def info(name, mode=0o100644):
    zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    zi.external_attr = mode << 16
    zi.create_system = 3
    zi.compress_type = zipfile.ZIP_DEFLATED
    return zi


def hostile_zip(kind):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(info("ok.txt"), b"fine\n")
        if kind == "slip":
            z.writestr(info("../evil.txt"), b"evil\n")
        elif kind == "absolute":
            z.writestr(info("/tmp/ferry-evil.txt"), b"evil\n")
        elif kind == "backslash":
            z.writestr(info("a\\..\\evil.txt"), b"evil\n")
        elif kind == "symlink":
            z.writestr(info("link", 0o120777), b"/etc/passwd")
        elif kind == "dup":
            import warnings
            warnings.simplefilter("ignore")
            z.writestr(info("twice.txt"), b"one\n")
            z.writestr(info("twice.txt"), b"two\n")
        elif kind == "crc":
            z.writestr(info("crc.txt"), b"A" * 4096)
        elif kind == "bomb":
            z.writestr(info("bomb.bin"), b"\0" * (64 << 20))
        else:
            raise SystemExit("unknown hostile kind " + kind)
    data = bytearray(buf.getvalue())
    if kind == "crc":
        # Flip the stored CRC in both the local header and the central directory.
        name = b"crc.txt"
        for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
            i = 0
            while True:
                i = data.find(sig, i)
                if i < 0:
                    break
                name_off = 30 if sig == b"PK\x03\x04" else 46
                if data[i + name_off:i + name_off + len(name)] == name:
                    crc = struct.unpack_from("<I", data, i + off)[0]
                    struct.pack_into("<I", data, i + off, crc ^ 0xDEADBEEF)
                i += 4
    return bytes(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--server")
    ap.add_argument("--client")
    ap.add_argument("--schema")
    ap.add_argument("--data")
    ap.add_argument("--hostile")
    ap.add_argument("--target", default="server")
    ap.add_argument("--stored", action="store_true", help="store inner zips uncompressed (fast, big)")
    a = ap.parse_args()
    method = zipfile.ZIP_STORED if a.stored else zipfile.ZIP_DEFLATED
    members = []
    if a.server:
        members.append(("server.zip", tree_zip(a.server)))
    if a.client:
        members.append(("client.zip", tree_zip(a.client)))
    if a.hostile and a.target in ("server", "client"):
        members = [m for m in members if m[0] != a.target + ".zip"]
        members.append((a.target + ".zip", hostile_zip(a.hostile)))
    if a.schema:
        members.append((SCHEMA_NAME, open(a.schema, "rb").read()))
    if a.data:
        members.append(("data.sql", open(a.data, "rb").read()))
    if a.hostile and a.target == "outer":
        with open(a.out, "wb") as fh:
            fh.write(hostile_zip(a.hostile))
        return 0
    with zipfile.ZipFile(a.out, "w", method) as z:
        for name, data in members:
            zi = info(name)
            zi.compress_type = zipfile.ZIP_STORED if name.endswith(".zip") else method
            z.writestr(zi, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
