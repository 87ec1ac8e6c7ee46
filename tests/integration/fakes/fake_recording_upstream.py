#!/usr/bin/python3
"""FAKE upstream that records what reaches it: method, target and every header.

Only the integration tests use this (suite cors_anonymous). A real S3 server answers an
OPTIONS or a public GET the same with or without credentials, so it cannot show whether the
proxy signed such a request with its own identity; this fake shows exactly what arrived.
Every request is answered 200 with a short body (none for HEAD and OPTIONS; OPTIONS gets
Access-Control-Allow-Origin echoing the Origin), its body read and counted, and recorded as
one JSON line in --record: {"method", "target", "headers" (lower-case names), "body_bytes"}.

    fake_recording_upstream.py --port PORT --record FILE
"""
import argparse
import http.server
import json
import threading

import fake_http

BODY = b"recorded\n"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    record_path = None
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def answer(self):
        n, _ = fake_http.read_body(self)
        entry = {"method": self.command, "target": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body_bytes": n}
        with self.lock, open(self.record_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        body = b"" if self.command in ("HEAD", "OPTIONS") else BODY
        self.send_response(200)
        if self.command == "OPTIONS" and self.headers.get("Origin"):
            self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
        self.send_header("Content-Length", str(len(BODY) if self.command == "HEAD" else len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = answer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    Handler.record_path = args.record
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
