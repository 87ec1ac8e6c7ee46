#!/usr/bin/env python3
"""Memory per idle keep-alive connection: opens N connections to a server, sends one small
GET on each (so each is a real keep-alive connection that served a request, with whatever
the server keeps for it between requests), holds them all open, and reads the server's RSS
before and after.

Usage: idle_conns.py URL N PID [PID...]
  URL   a presigned GET of a small object on the server to measure (http://host:port/...)
  N     connections to hold
  PID   the server's processes; their VmRSS is summed (nginx: the master and its workers)
Prints `RESULT conns=N ok=OK before_kib=B after_kib=A`; exits 1 unless every GET got a 2xx.
"""
import re
import resource
import socket
import sys
import time
import urllib.parse

# Requests before the first reading, so one-time allocations of a server that has served
# nothing yet (its first upstream connection, lazily built tables) are not charged to the
# connections.
WARMUP_REQUESTS = 10
# Time for the server to settle (a worker that frees what it is done with) before a reading.
SETTLE_S = 1.0
SOCKET_TIMEOUT = 10
# Descriptors this client needs beyond the N sockets (stdio, python's own).
SPARE_FDS = 64


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            total += int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))
    return total


def get(sock, request):
    """Sends one GET and reads its answer to the end of the body; returns the status."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("closed before the answer's head")
        data += piece
    head, body = data.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    length = int(m.group(1)) if m else 0
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("closed inside the body")
        body += piece
    return status


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    url, n, pids = argv[1], int(argv[2]), [int(p) for p in argv[3:]]
    parts = urllib.parse.urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + SPARE_FDS:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + SPARE_FDS), hard))

    def connect():
        s = socket.create_connection((parts.hostname, parts.port), timeout=SOCKET_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    with connect() as warm:
        for _ in range(WARMUP_REQUESTS):
            if not 200 <= get(warm, request) < 300:
                sys.exit("idle_conns: the warm-up GET did not get a 2xx")
    time.sleep(SETTLE_S)
    before = rss_kib(pids)
    socks, ok = [], 0
    try:
        for _ in range(n):
            s = connect()
            socks.append(s)
            ok += 200 <= get(s, request) < 300
        time.sleep(SETTLE_S)
        after = rss_kib(pids)
    finally:
        for s in socks:
            s.close()
    print(f"RESULT conns={n} ok={ok} before_kib={before} after_kib={after}")
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
