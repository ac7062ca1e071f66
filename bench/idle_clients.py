"""Open N keep-alive TLS connections, send one GET on each, then keep them idle.

Prints "open N" once every connection has its response, then holds them until standard
input closes or --hold seconds pass, and prints how many the server closed meanwhile.
Used by bench/harness.py to measure a proxy's memory per idle connection.
"""

import argparse
import asyncio
import resource
import ssl
import sys


async def open_one(host, port, path, context, limit):
    async with limit:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        return reader, writer


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--path", default="/orders/94113592")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds to hold at most")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.count + 1024), hard))

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    limit = asyncio.Semaphore(64)
    tasks = [open_one("127.0.0.1", args.port, args.path, context, limit) for _ in range(args.count)]
    connections = await asyncio.gather(*tasks)
    print(f"open {len(connections)}", flush=True)

    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(stdin_closed, timeout=args.hold)
    except asyncio.TimeoutError:
        pass

    closed = sum(1 for reader, _ in connections if reader.at_eof())
    print(f"closed_by_server {closed}", flush=True)
    for _, writer in connections:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
