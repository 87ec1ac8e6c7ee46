#!/usr/bin/python3
"""FAKE upstream: a stand-in for an S3-compatible service that rejects checksum headers.

Only the integration tests use this. Backblaze B2 (and services like it) answer any request
carrying a header of the flexible-checksum family that AWS SDKs send by default since
January 2025 with exactly

    400 InvalidArgument
    <Error><Code>InvalidArgument</Code><Message>Unsupported header 'x-amz-checksum-crc32'
    received for this API call.</Message></Error>

naming the header (seen for x-amz-checksum-crc32, x-amz-checksum-sha256,
x-amz-checksum-mode, x-amz-sdk-checksum-algorithm, x-amz-checksum-algorithm). No such server
runs here, so this fake gives that answer to any request carrying a header named
x-amz-checksum-*, x-amz-sdk-checksum-algorithm or x-amz-trailer.

Everything else is served from memory, without verifying signatures: PUT stores the object
(or a part), decoding an aws-chunked body (the proxy's own signed chunks) to its payload;
POST ?uploads starts a multipart upload, POST ?uploadId completes it (the parts joined in
the order listed); GET/HEAD return a stored object, 404 NoSuchKey otherwise; GET/HEAD of a
bucket or of the service answer 200 (the proxy's idle probe). Objects are held up to
MAX_STORED bytes in all, enough for the suite's few small and 12 MiB objects.

Each request is recorded as one JSON line in --record: method, target, every header
(lower-case names), the status answered, the payload bytes read and their MD5, and whether
the body arrived whole ("complete"), so a test can assert what reached the "upstream".

    fake_checksum_rejecting_upstream.py --port PORT --record FILE
"""
import argparse
import hashlib
import http.server
import json
import re
import threading
import urllib.parse
import uuid

UNSUPPORTED_HEADER = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    "<Error>\n    <Code>InvalidArgument</Code>\n"
    "    <Message>Unsupported header '{header}' received for this API call.</Message>\n</Error>\n")
NO_SUCH_KEY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>")
NOT_IMPLEMENTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NotImplemented</Code><Message>This fake upstream does not implement this operation."
    "</Message></Error>")
# Bounds what the fake keeps in memory (the suite stores a few MiB).
MAX_STORED = 256 * 1024 * 1024
READ_PIECE = 65536


def rejected_header(headers):
    for name in sorted(headers):
        if name.startswith("x-amz-checksum-") or name in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer"):
            return name
    return None


class Store:
    lock = threading.Lock()
    objects = {}   # (bucket, key) -> bytes
    uploads = {}   # upload id -> {part number: bytes}
    size = 0

    @classmethod
    def put(cls, where, data):
        with cls.lock:
            old = cls.objects.pop(where, b"")
            if cls.size - len(old) + len(data) > MAX_STORED:
                cls.size -= len(old)
                return False
            cls.size += len(data) - len(old)
            cls.objects[where] = data
            return True


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    record_lock = threading.Lock()
    record_path = None

    def log_message(self, fmt, *args):  # the record file is the log
        pass

    def _lower_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def handle_expect_100(self):
        # Like S3: a request that will be refused gets its final answer instead of 100 Continue.
        if rejected_header(self._lower_headers()):
            return True
        return super().handle_expect_100()

    def _wire_body(self):
        """The body as framed on the wire; (bytes, complete)."""
        rfile, out = self.rfile, bytearray()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = rfile.readline()
                if not line:
                    return bytes(out), False
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out), True
                data = rfile.read(size)
                out += data
                rfile.readline()
                if len(data) < size:
                    return bytes(out), False
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = rfile.read(min(left, READ_PIECE))
            if not data:
                return bytes(out), False
            out += data
            left -= len(data)
        return bytes(out), True

    @staticmethod
    def _aws_chunked_payload(wire):
        """The payload of an aws-chunked body (size;chunk-signature=... lines), or None."""
        out, pos = bytearray(), 0
        while True:
            eol = wire.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(wire[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                return bytes(out)
            out += wire[pos:pos + size]
            pos += size + 2

    def _body(self, headers):
        wire, complete = self._wire_body()
        if complete and "aws-chunked" in headers.get("content-encoding", ""):
            payload = self._aws_chunked_payload(wire)
            return (payload, True) if payload is not None else (wire, False)
        return wire, complete

    def _answer(self, status, body="", extra=None, close=False, length=None):
        payload = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        if payload and isinstance(body, str):
            self.send_header("Content-Type", "application/xml")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload) if length is None else length))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _record(self, status, body, complete):
        line = json.dumps({"method": self.command, "target": self.path, "headers": self._lower_headers(),
                           "status": status, "body_bytes": len(body), "md5": hashlib.md5(body).hexdigest(),
                           "complete": complete})
        with self.record_lock, open(self.record_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _handle(self):
        headers = self._lower_headers()
        split = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        bucket, _, key = urllib.parse.unquote(split.path).lstrip("/").partition("/")
        rejected = rejected_header(headers)
        if rejected:
            expecting = headers.get("expect", "").lower() == "100-continue"
            body, complete = (b"", False) if expecting else self._body(headers)
            self._record(400, body, complete)
            return self._answer(400, UNSUPPORTED_HEADER.format(header=rejected), close=expecting)
        if self.command == "PUT" and key:
            body, complete = self._body(headers)
            self._record(200 if complete else 400, body, complete)
            if not complete:
                self.close_connection = True
                return None
            etag = hashlib.md5(body).hexdigest()
            if "uploadId" in query:
                with Store.lock:
                    Store.uploads.setdefault(query["uploadId"][0], {})[int(query["partNumber"][0])] = body
            elif not Store.put((bucket, key), body):
                return self._answer(507, NOT_IMPLEMENTED)
            return self._answer(200, extra={"ETag": f'"{etag}"'})
        if self.command == "POST" and "uploads" in query:
            body, complete = self._body(headers)
            upload = uuid.uuid4().hex
            with Store.lock:
                Store.uploads[upload] = {}
            self._record(200, body, complete)
            return self._answer(200, '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>'
                                f"<Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{upload}</UploadId>"
                                "</InitiateMultipartUploadResult>")
        if self.command == "POST" and "uploadId" in query:
            body, complete = self._body(headers)
            self._record(200 if complete else 400, body, complete)
            if not complete:
                self.close_connection = True
                return None
            numbers = [int(n) for n in re.findall(rb"<PartNumber>\s*(\d+)\s*</PartNumber>", body)]
            with Store.lock:
                parts = Store.uploads.pop(query["uploadId"][0], {})
            data = b"".join(parts.get(n, b"") for n in numbers)
            Store.put((bucket, key), data)
            return self._answer(200, '<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>'
                                f"<Bucket>{bucket}</Bucket><Key>{key}</Key>"
                                f"<ETag>\"{hashlib.md5(data).hexdigest()}-{len(numbers)}\"</ETag>"
                                "</CompleteMultipartUploadResult>")
        if self.command in ("GET", "HEAD"):
            if key:
                with Store.lock:
                    data = Store.objects.get((bucket, key))
                if data is None:
                    self._record(404, b"", True)
                    return self._answer(404, NO_SUCH_KEY)
                self._record(200, b"", True)
                return self._answer(200, data, extra={"ETag": f'"{hashlib.md5(data).hexdigest()}"',
                                                      "Content-Type": "application/octet-stream"},
                                    length=len(data))
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult><Buckets/>'
                    "</ListAllMyBucketsResult>") if split.path in ("", "/") else ""
            self._record(200, b"", True)
            return self._answer(200, body)
        if self.command == "DELETE" and key:
            with Store.lock:
                Store.objects.pop((bucket, key), None)
            self._record(204, b"", True)
            return self._answer(204)
        body, complete = self._body(headers)
        self._record(501, body, complete)
        return self._answer(501, NOT_IMPLEMENTED)

    do_PUT = do_POST = do_GET = do_HEAD = do_DELETE = _handle


def main():
    parser = argparse.ArgumentParser(description="FAKE S3 upstream rejecting checksum headers (tests only)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True, help="file to append one JSON line per request to")
    args = parser.parse_args()
    Handler.record_path = args.record
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
