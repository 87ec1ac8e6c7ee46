#!/usr/bin/python3
"""A FAKE S3 upstream that answers server errors and drops reused connections, for the
faults suite (suites/faults.sh). It never verifies signatures and stores nothing; it only
records every request that reaches it, so the suite can count how often the proxy sent a
request (retries).

    fake_error_upstream.py --port P --record FILE

What it does depends on the object key's first path segment (path-style /bucket/key):

    status-500/...   reads the whole body, answers 500 InternalError (keep-alive)
    status-503/...   reads the whole body, answers 503 SlowDown (keep-alive)
    early-503/...    answers 503 SlowDown with Connection: close before reading any body
                     (instead of 100 Continue), then reads the body away and closes (what
                     S3 does when it sheds load)
    drop-reused/...  the first request on a connection is answered 200 (GET: a small body;
                     PUT: the body is read and its MD5 returned as ETag); any later request
                     on the same connection is read up to its head and the connection closed
                     without an answer, as a server does with an idle keep-alive connection
                     it has just timed out
    reset-reused/... every request is answered 200 as drop-reused's first one, and then the
                     connection is reset (SO_LINGER 0): the proxy's pooled copy of it is dead
                     before its next use, and a write on it fails at once; a key starting
                     with `slow-` is answered after SLOW_S, so that requests sent together
                     each take a connection of their own
    anything else    200 (the proxy's readiness probe lands here)

Each request is one JSON line in FILE: {"method", "path", "conn_seq" (1 for the first
request on its connection), "outcome" (the status sent, or "dropped"), "body_bytes",
"body_md5"}.
"""
import argparse
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_http import read_body  # noqa: E402

ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
          503: ("SlowDown", "Please reduce your request rate.")}
# How long an early answer waits for the rest of the request body before closing.
LINGER_S = 5.0
# How long a reset-reused/slow-... request waits before its answer.
SLOW_S = 0.3
record_lock = threading.Lock()


def error_xml(code, message, resource):
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}'
            f"</Message><Resource>{resource}</Resource><RequestId>fake-error</RequestId></Error>").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-error-upstream"

    def setup(self):
        super().setup()
        self.conn_seq = 0

    def log_message(self, *args):  # quiet: the record file is the log
        pass

    def record(self, outcome, body_bytes=0, body_md5=None):
        line = json.dumps({"method": self.command, "path": self.path.split("?", 1)[0], "conn_seq": self.conn_seq,
                           "outcome": outcome, "body_bytes": body_bytes, "body_md5": body_md5})
        with record_lock, open(self.server.record_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def kind(self):
        parts = self.path.split("?", 1)[0].split("/")
        return parts[2] if len(parts) > 3 else ""

    def answer(self, status, body=b"", headers=(), close=False):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def handle_expect_100(self):
        # An early 503 or a dropped connection comes instead of the 100 Continue. (Called
        # before serve(): conn_seq still counts the requests before this one.)
        if self.kind() == "early-503" or (self.kind() == "drop-reused" and self.conn_seq >= 1):
            return True
        return super().handle_expect_100()

    def linger(self):
        """After an answer sent before the body was read: stop sending and read the rest of
        the request away, so that closing does not reset the connection before the proxy has
        read the answer (a bounded wait)."""
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(LINGER_S)
        try:
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def serve(self):
        self.conn_seq += 1
        kind = self.kind()
        if kind == "drop-reused" and self.conn_seq > 1:
            self.record("dropped")
            self.close_connection = True
            return
        if kind == "early-503":
            self.record(503)
            code, message = ERRORS[503]
            self.answer(503, error_xml(code, message, self.path), [("Content-Type", "application/xml")], close=True)
            self.linger()
            return
        n, md5 = read_body(self)
        if kind in ("status-500", "status-503"):
            status = int(kind[-3:])
            self.record(status, n, md5)
            code, message = ERRORS[status]
            self.answer(status, error_xml(code, message, self.path), [("Content-Type", "application/xml")])
            return
        self.record(200, n, md5)
        if kind == "reset-reused":
            self.close_connection = True
            if self.path.split("?", 1)[0].split("/")[3].startswith("slow-"):
                time.sleep(SLOW_S)
        if self.command == "GET" and kind in ("drop-reused", "reset-reused"):
            self.answer(200, b"fake object " + self.path.encode(), [("Content-Type", "application/octet-stream")])
        elif self.command == "GET":
            self.answer(200, b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Buckets/>'
                             b"</ListAllMyBucketsResult>", [("Content-Type", "application/xml")])
        else:
            self.answer(200, b"", [("ETag", f'"{md5}"')])
        if kind == "reset-reused":
            # No Connection: close: the proxy keeps the connection, and the reset follows.
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = serve


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args(argv[1:])
    server = Server(("127.0.0.1", args.port), Handler)
    server.record_path = args.record
    open(args.record, "a", encoding="utf-8").close()
    print(f"fake error upstream listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
