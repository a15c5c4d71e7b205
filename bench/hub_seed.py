#!/usr/bin/env python3
"""Bulk-seeds a Ferry data dir for the hub benchmark and crash test (not a test).

Inserts one customer, one store, N nodes (PROD) with node tokens in the hub's format
(fyn_<16 hex>_<43 base64url>, stored as SHA-256 of the whole token), and with --tasks
one package + release + one Pending task per node. Writes "node_code token task_id"
lines to OUT. Usage: hub_seed.py DB OUT N [--tasks]
"""
import base64, hashlib, os, sqlite3, sys, time

db, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tasks = "--tasks" in sys.argv
now = int(time.time() * 1000)
c = sqlite3.connect(db, timeout=30)
c.execute("PRAGMA foreign_keys=ON")
cur = c.cursor()
cur.execute("INSERT INTO customer (code, name, created_at, updated_at) VALUES ('BENCH', 'bench', ?, ?)", (now, now))
cust = cur.lastrowid
cur.execute("INSERT INTO store (customer_id, code, name, created_at, updated_at) VALUES (?, 'BS1', 'bench', ?, ?)",
            (cust, now, now))
store = cur.lastrowid
rel = None
if tasks:
    cur.execute("INSERT INTO package (version, v_major, v_minor, v_patch, v_revision, v_build, size, sha256,"
                " has_server, has_client, has_schema_sql, has_data_sql, manifest, signature, key_id, created_at)"
                " VALUES ('9.9.9.9(9)', 9, 9, 9, 9, 9, 3, ?, 1, 0, 0, 0, x'', x'', 'k', ?)",
                ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", now))
    pkg = cur.lastrowid
    cur.execute("INSERT INTO release (package_id, customer_id, environment, policy, created_at, updated_at)"
                " VALUES (?, ?, 4, 1, ?, ?)", (pkg, cust, now, now))
    rel = cur.lastrowid
lines = []
for i in range(n):
    hexid = os.urandom(8).hex()
    secret = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    token = f"fyn_{hexid}_{secret}"
    code = f"BN{i:06d}"
    cur.execute("INSERT INTO node (store_id, code, environment, name, token_id, token_hash, token_issued_at,"
                " created_at, updated_at) VALUES (?, ?, 4, '', ?, ?, ?, ?, ?)",
                (store, code, f"fyn_{hexid}", hashlib.sha256(token.encode()).digest(), now, now, now))
    task = 0
    if rel is not None:
        node = cur.lastrowid
        cur.execute("INSERT INTO update_task (release_id, node_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (rel, node, now, now))
        task = cur.lastrowid
    lines.append(f"{code} {token} {task}\n")
c.commit()
c.close()
with open(out, "w") as f:
    f.writelines(lines)
