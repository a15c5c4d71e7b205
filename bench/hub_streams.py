#!/usr/bin/env python3
"""Opens N WatchAssignments streams (Connect server streaming over HTTP/1.1, one TCP
connection each, a different node token per stream) and holds them for S seconds.
Prints how many streams got their first message. Usage: hub_streams.py URL NODES N S"""
import asyncio, sys
from urllib.parse import urlparse

url, nodes_file, n, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
u = urlparse(url)
tokens = [l.split()[1] for l in open(nodes_file)][:n]
ok = 0

async def one(tok):
    global ok
    try:
        r, w = await asyncio.open_connection(u.hostname, u.port)
        body = b"\x00\x00\x00\x00\x00"  # one envelope: empty WatchAssignmentsRequest
        w.write((f"POST /ferry.v1.AgentService/WatchAssignments HTTP/1.1\r\nHost: {u.netloc}\r\n"
                 f"Content-Type: application/connect+proto\r\nConnect-Protocol-Version: 1\r\n"
                 f"Authorization: Bearer {tok}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
        await w.drain()
        line = await asyncio.wait_for(r.readline(), 30)
        if b" 200 " in line:
            ok += 1
        await asyncio.sleep(hold)
        w.close()
    except Exception:
        pass

async def main():
    tasks = []
    for i, t in enumerate(tokens):
        tasks.append(asyncio.create_task(one(t)))
        if i % 500 == 499:
            await asyncio.sleep(0.2)  # do not flood the accept queue
    await asyncio.sleep(hold / 2)
    print(f"streams_open {ok}", flush=True)
    await asyncio.gather(*tasks)

asyncio.run(main())
