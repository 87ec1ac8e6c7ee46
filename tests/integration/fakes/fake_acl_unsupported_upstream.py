#!/usr/bin/python3
"""FAKE upstream: a stand-in for AWS S3 with a BucketOwnerEnforced bucket (ACLs disabled).

Only the integration tests use this. No real S3 server available here gives AWS's exact
answer to an ACL on such a bucket (Ceph RGW has no Object Ownership), so this fake gives
it: any PUT or POST that carries `x-amz-acl` (other than `bucket-owner-full-control`,
which AWS accepts on such a bucket) or any `x-amz-grant-*` header, and any `PUT ?acl`,
gets AWS's

    400 AccessControlListNotSupported
    <Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message>...

Every other PUT is read to its end, stored nowhere, and answered 200 with the MD5 of the
bytes received as ETag (a CopyObject with a CopyObjectResult); a POST ?uploads gets an
InitiateMultipartUploadResult and a POST ?uploadId a CompleteMultipartUploadResult.
GET/HEAD of a bucket or of the service answer 200 (the proxy's idle probe); GET/HEAD of an
object answer 404 NoSuchKey, since nothing is stored. Anything else: 501 NotImplemented.
Nothing about signatures is verified.

Each request is recorded as one JSON line in --record: method, target, every header
(lower-case names) and the status answered, so a test can assert what reached the
"upstream".

    fake_acl_unsupported_upstream.py --port PORT --record FILE
"""
import argparse
import http.server
import json
import threading
import urllib.parse
import uuid

from fake_http import read_body

ACL_NOT_SUPPORTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessControlListNotSupported</Code><Message>The bucket does not allow ACLs</Message>"
    "<RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>")
NO_SUCH_KEY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
    "<RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>")
NOT_IMPLEMENTED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NotImplemented</Code><Message>This fake upstream does not implement this operation."
    "</Message><RequestId>{rid}</RequestId><HostId>{hid}</HostId></Error>")
# The one canned ACL AWS accepts on a BucketOwnerEnforced bucket.
OWNER_ENFORCED_OK = "bucket-owner-full-control"


def refuses_acl(method, query, headers):
    if method not in ("PUT", "POST"):
        return False
    if method == "PUT" and "acl" in query:
        return True
    acl = headers.get("x-amz-acl")
    if acl is not None and acl.strip() != OWNER_ENFORCED_OK:
        return True
    return any(name.startswith("x-amz-grant-") for name in headers)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    record_lock = threading.Lock()
    record_path = None

    def log_message(self, fmt, *args):  # the record file is the log
        pass

    def _lower_headers(self):
        return {k.lower(): v for k, v in self.headers.items()}

    def _query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)

    def handle_expect_100(self):
        # Like S3: a request that will be refused gets its final answer instead of 100 Continue.
        if refuses_acl(self.command, self._query(), self._lower_headers()):
            return True
        return super().handle_expect_100()

    def _read_body(self):
        return read_body(self)

    def _answer(self, status, body="", extra=None, close=False):
        rid = uuid.uuid4().hex[:16].upper()
        payload = body.format(rid=rid, hid="ZmFrZS11cHN0cmVhbS1mb3ItdGVzdHM=").encode()
        self.send_response(status)
        self.send_header("x-amz-request-id", rid)
        self.send_header("x-amz-id-2", "ZmFrZS11cHN0cmVhbS1mb3ItdGVzdHM=")
        if payload:
            self.send_header("Content-Type", "application/xml")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))  # for HEAD too: the length a GET would have
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        return status

    def _record(self, status, body_bytes):
        line = json.dumps({"method": self.command, "target": self.path, "headers": self._lower_headers(),
                           "status": status, "body_bytes": body_bytes})
        with self.record_lock, open(self.record_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def _handle(self):
        headers, query = self._lower_headers(), self._query()
        path = urllib.parse.urlsplit(self.path).path
        has_key = len(path.lstrip("/").split("/", 1)) == 2 and path.lstrip("/").split("/", 1)[1] != ""
        if refuses_acl(self.command, query, headers):
            expecting = headers.get("expect", "").lower() == "100-continue"
            n = 0
            if not expecting:  # the body is on its way: read it so the answer is not a reset
                n, _ = self._read_body()
            self._record(400, n)
            return self._answer(400, ACL_NOT_SUPPORTED, close=expecting)
        if self.command == "PUT":
            n, md5 = self._read_body()
            if "x-amz-copy-source" in headers:
                body = ('<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult>'
                        f'<LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"{md5}"</ETag>'
                        "</CopyObjectResult>")
                self._record(200, n)
                return self._answer(200, body)
            self._record(200, n)
            return self._answer(200, extra={"ETag": f'"{md5}"'})
        if self.command == "POST" and "uploads" in query:
            n, _ = self._read_body()
            bucket, _, key = path.lstrip("/").partition("/")
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>'
                    f"<Bucket>{bucket}</Bucket><Key>{key}</Key><UploadId>{uuid.uuid4().hex}</UploadId>"
                    "</InitiateMultipartUploadResult>")
            self._record(200, n)
            return self._answer(200, body)
        if self.command == "POST" and "uploadId" in query:
            n, _ = self._read_body()
            bucket, _, key = path.lstrip("/").partition("/")
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>'
                    f"<Bucket>{bucket}</Bucket><Key>{key}</Key><ETag>\"{uuid.uuid4().hex}-1\"</ETag>"
                    "</CompleteMultipartUploadResult>")
            self._record(200, n)
            return self._answer(200, body)
        if self.command in ("GET", "HEAD"):
            if has_key:
                self._record(404, 0)
                return self._answer(404, NO_SUCH_KEY)
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult><Buckets/>'
                    "</ListAllMyBucketsResult>") if path in ("", "/") else ""
            self._record(200, 0)
            return self._answer(200, body)
        n, _ = self._read_body()
        self._record(501, n)
        return self._answer(501, NOT_IMPLEMENTED)

    do_PUT = do_POST = do_GET = do_HEAD = do_DELETE = _handle


def main():
    parser = argparse.ArgumentParser(description="FAKE S3 upstream with ACLs disabled (tests only)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", required=True, help="file to append one JSON line per request to")
    args = parser.parse_args()
    Handler.record_path = args.record
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
