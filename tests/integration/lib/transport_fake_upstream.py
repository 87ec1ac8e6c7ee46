#!/usr/bin/python3
"""Upstream stand-ins for the transport suite (suites/transport.sh). Listens on 127.0.0.1.

    transport_fake_upstream.py cut --port P --record FILE
        A FAKE S3 that fails mid-exchange. GET: answers "200 OK" with Content-Length
        1000, sends 10 bytes of body and closes the connection. Any other method (PUT...):
        reads the request head and closes without answering. Never verifies signatures.
    transport_fake_upstream.py tap --port P --to PORT --record FILE
        A byte-for-byte TCP relay to 127.0.0.1:PORT (the real RGW) that records the request
        line and Host header of every request passing through, so the suite can see how the
        proxy addressed the upstream.

Each request seen is one JSON line in FILE: {"method", "target", "host"}.
"""
import argparse
import json
import re
import socket
import socketserver
import sys
import threading

# The fake's announced body length and what it really sends before closing.
ANNOUNCED_LENGTH = 1000
SENT_LENGTH = 10
# Request heads larger than this are not S3 requests from the proxy; stop reading there.
MAX_HEAD = 64 * 1024
# A request head anywhere in the stream (after a Content-Length body the next head follows the
# body's last byte directly). Bodies here are random or XML bytes: a false match inside one
# would need "PUT /... HTTP/1.1\r\n" and a blank line in it.
HEAD_RE = re.compile(rb"(GET|PUT|POST|HEAD|DELETE) (/\S*) HTTP/1\.1\r\n(.*?)\r\n\r\n", re.S)
HOST_RE = re.compile(rb"^host:[ \t]*(\S+)", re.I | re.M)
# How much of the request stream the tap keeps between reads: a head split across two reads
# is still found whole, and memory stays bounded however large the bodies.
TAP_CARRY = 2 * MAX_HEAD
PIECE = 64 * 1024

record_lock = threading.Lock()


def record(path, method, target, host):
    line = json.dumps({"method": method, "target": target, "host": host})
    with record_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        piece = sock.recv(PIECE)
        if not piece:
            return None
        data += piece
    return data


def parse_head(data):
    line, _, rest = data.partition(b"\r\n")
    parts = line.decode("latin-1").split(" ")
    host = HOST_RE.search(rest)
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "",
            host.group(1).decode("latin-1") if host else None)


class CutHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        head = read_head(sock)
        if head is None:
            return
        method, target, host = parse_head(head)
        record(self.server.record_path, method, target, host)
        if method == "GET":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         + f"Content-Length: {ANNOUNCED_LENGTH}\r\n\r\n".encode() + b"0123456789"[:SENT_LENGTH])
        # Closing here: GET mid-body, anything else before any answer.
        sock.shutdown(socket.SHUT_RDWR)


class TapHandler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        try:
            upstream = socket.create_connection(("127.0.0.1", self.server.to_port))
        except OSError:
            return
        back = threading.Thread(target=self.pump, args=(upstream, client), daemon=True)
        back.start()
        carry = b""
        while True:
            try:
                piece = client.recv(PIECE)
            except OSError:
                break
            if not piece:
                break
            carry += piece
            end = 0
            for m in HEAD_RE.finditer(carry):
                host = HOST_RE.search(m.group(3))
                record(self.server.record_path, m.group(1).decode(), m.group(2).decode("latin-1"),
                       host.group(1).decode("latin-1") if host else None)
                end = m.end()
            carry = carry[end:][-TAP_CARRY:]
            try:
                upstream.sendall(piece)
            except OSError:
                break
        try:
            upstream.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        back.join()
        upstream.close()

    @staticmethod
    def pump(src, dst):
        while True:
            try:
                piece = src.recv(PIECE)
            except OSError:
                break
            if not piece:
                break
            try:
                dst.sendall(piece)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("cut", "tap"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--to", type=int, help="tap: the port to relay to")
    args = parser.parse_args(argv[1:])
    if args.mode == "tap" and not args.to:
        parser.error("tap needs --to PORT")
    server = Server(("127.0.0.1", args.port), CutHandler if args.mode == "cut" else TapHandler)
    server.record_path = args.record
    server.to_port = args.to
    open(args.record, "a", encoding="utf-8").close()
    print(f"{args.mode} listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
