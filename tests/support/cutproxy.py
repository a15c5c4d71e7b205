#!/usr/bin/env python3
"""A TCP proxy for download tests: relays every connection to TARGET and, with
--cut-after N, closes a connection once N response bytes went through (a network cut
mid-download). Request lines and Range headers seen are appended to --log, one per line,
so a test can assert where a resumed download started.

usage: cutproxy.py --listen PORT --target HOST:PORT [--cut-after N] [--cuts K] --log FILE
Runs until killed (SIGTERM)."""
import argparse
import socket
import threading


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--cuts", type=int, default=1 << 30, help="cut at most this many connections")
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    host, port = a.target.rsplit(":", 1)
    lock = threading.Lock()
    state = {"cuts": 0}

    def log(line):
        with lock, open(a.log, "a") as f:
            f.write(line + "\n")

    def up(c, s):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                for ln in b.split(b"\r\n"):
                    if ln.startswith((b"GET ", b"HEAD ", b"PUT ")) or ln.lower().startswith(b"range:"):
                        log(ln.decode("latin-1").split("?")[0])
                s.sendall(b)
        except OSError:
            pass
        finally:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def handle(c):
        s = socket.create_connection((host, int(port)))
        threading.Thread(target=up, args=(c, s), daemon=True).start()
        sent = 0
        cut = False
        with lock:
            if a.cut_after > 0 and state["cuts"] < a.cuts:
                cut = True
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                if cut and sent + len(b) > a.cut_after:
                    c.sendall(b[: a.cut_after - sent])
                    with lock:
                        state["cuts"] += 1
                    log("CUT after %d bytes" % a.cut_after)
                    break
                c.sendall(b)
                sent += len(b)
        except OSError:
            pass
        finally:
            for x in (c, s):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                x.close()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", a.listen))
    srv.listen(64)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
