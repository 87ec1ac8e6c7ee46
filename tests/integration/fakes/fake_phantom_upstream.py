#!/usr/bin/python3
"""FAKE upstream: an S3 endpoint that acknowledges writes and keeps nothing ("phantom writes").

Only the integration tests use this. A real S3 server here (Ceph RGW) never answers 200 to
a PutObject without storing the object, so the case `[upstream] verify_writes` exists for
(a storage that acknowledged a write it lost: a broken gateway, a cache in front of a dead
backend, eventual consistency gone wrong) cannot be produced with it. This fake produces it:

  - PUT of an object: the body is read to its end (Content-Length or chunked framing, as
    sent), nothing is stored, and the answer is 200 with the MD5 of the bytes as ETag, as
    S3 gives for a successful PutObject. A PUT with x-amz-copy-source gets a
    CopyObjectResult the same way.
  - HEAD or GET of an object: 404 NoSuchKey, since nothing was kept.
  - HEAD or GET of a bucket or of the service: 200 (what the proxy's idle probe asks).
  - Anything else: 501 NotImplemented.
Signatures are not verified.

Each request is recorded as one JSON line in --record (method, target, lower-case headers,
status answered, body bytes read), so a test can see that the proxy did look the object up.

    fake_phantom_upstream.py --port PORT --record FILE
"""
import argparse
import http.server
import json
import threading
import urllib.parse
import uuid

from fake_http import read_body

NO_SUCH_KEY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
    "<RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>")
NOT_IMPLEMENTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NotImplemented</Code><Message>This fake upstream does not implement this operation."
    "</Message><RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>")
LIST_BUCKETS = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                "<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>")
HOST_ID = "ZmFrZS1waGFudG9tLXVwc3RyZWFt"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    record_lock = threading.Lock()
    record_path = None

    def log_message(self, fmt, *args):  # the record file is the log
        pass

    def _read_body(self):
        return read_body(self)

    def _answer(self, status, body="", extra=None):
        rid = uuid.uuid4().hex[:16].upper()
        payload = body.format(rid=rid, hid=HOST_ID).encode()
        self.send_response(status)
        self.send_header("x-amz-request-id", rid)
        self.send_header("x-amz-id-2", HOST_ID)
        if payload:
            self.send_header("Content-Type", "application/xml")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))  # for HEAD too: the length a GET would have
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _record(self, status, body_bytes):
        line = json.dumps({"method": self.command, "target": self.path,
                           "headers": {k.lower(): v for k, v in self.headers.items()},
                           "status": status, "body_bytes": body_bytes})
        with self.record_lock, open(self.record_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _handle(self):
        path = urllib.parse.urlsplit(self.path).path
        bucket, _, key = path.lstrip("/").partition("/")
        if self.command == "PUT" and key:
            n, md5 = self._read_body()
            self._record(200, n)
            if "x-amz-copy-source" in {k.lower() for k in self.headers.keys()}:
                return self._answer(200, '<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult>'
                                         f'<LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"{md5}"</ETag>'
                                         "</CopyObjectResult>")
            return self._answer(200, extra={"ETag": f'"{md5}"'})
        if self.command in ("GET", "HEAD"):
            if key:
                self._record(404, 0)
                return self._answer(404, NO_SUCH_KEY)
            self._record(200, 0)
            return self._answer(200, LIST_BUCKETS if not bucket else "")
        n, _ = self._read_body()
        self._record(501, n)
        return self._answer(501, NOT_IMPLEMENTED)

    do_PUT = do_POST = do_GET = do_HEAD = do_DELETE = _handle


def main():
    parser = argparse.ArgumentParser(description="FAKE S3 upstream that stores nothing (tests only)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True, help="file to append one JSON line per request to")
    args = parser.parse_args()
    Handler.record_path = args.record
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
