"""Suite "conformance": S3 clients must not be able to tell the proxy is there.

Every scenario runs twice with the same client code: straight against the RGW (the RGW's
key, bucket D) and through a proxy (the application's key, bucket A behind an `audit`
proxy; bucket S behind a `strip` proxy for the scenarios that must not depend on the mode).
Each step records what a client sees -- HTTP status, S3 error code, the response headers
that carry meaning, a digest of the body -- and the two records must be equal; then what
the scenario stored is read on the RGW with the RGW's key and must be equal too (keys,
bytes, metadata). Where the RGW does not support a feature (SSE-KMS without a key backend,
object lock on a bucket without it, ...) the comparison still holds: the proxy must give
whatever the RGW gives.

Families (issue 8, items 4-6): conditional requests and writes; headers with meaning
(SSE-C, SSE-KMS, tagging, storage class, website redirect, object lock, expected bucket
owner, request payer, checksums, Content-MD5, content headers, response-* overrides,
partNumber, versionId); the proxy's own error answers (status, Code, Message, Resource,
RequestId, x-amz-request-id, x-amz-id-2, compared with the RGW's answer to the same fault).

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_DIR, CONF_AUDIT_ENDPOINT,
CONF_STRIP_ENDPOINT, CONF_AUDIT_ADMIN, CONF_AUDIT_LOG, CONF_STRIP_LOG, CONF_CLIENT_KEY,
CONF_CLIENT_SECRET. Run with Debian's /usr/bin/python3 (boto3 1.26).
"""
import base64
import datetime
import hashlib
import http.client
import os
import re
import sys
import time
import urllib.parse
import urllib.request

import botocore.exceptions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402
from suite import AuditLog, Failed, Results, expect, main_guard, rgw, s3_client  # noqa: E402

RUN = f"{int(time.time()) % 100000:05d}"
# Response headers whose value a client acts on; compared exactly.
EXACT_HEADERS = (
    "content-type", "content-length", "content-range", "cache-control", "content-disposition",
    "content-encoding", "content-language", "expires", "etag", "accept-ranges",
    "x-amz-server-side-encryption", "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key-md5", "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-website-redirect-location", "x-amz-storage-class", "x-amz-tagging-count",
    "x-amz-mp-parts-count", "x-amz-delete-marker", "x-amz-request-charged", "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold", "x-amz-restore",
    "x-amz-copy-source-version-id",
)
# Headers whose value differs by nature between two buckets (ids, times): compared for presence.
PRESENT_HEADERS = ("x-amz-version-id", "last-modified", "x-amz-request-id")
# A part other than the last must be 5 MiB at least.
PART = 5 * 1024 * 1024


def projection(headers):
    h = {k.lower(): v for k, v in headers.items()}
    out = {k: h[k] for k in EXACT_HEADERS if k in h}
    out.update({k: "<present>" for k in PRESENT_HEADERS if k in h})
    out.update({k: v for k, v in h.items() if k.startswith("x-amz-meta-") or k.startswith("x-amz-checksum-")})
    return out


class Side:
    """One way to the RGW: straight (the RGW's key) or through a proxy (the client's key)."""

    def __init__(self, name, endpoint, key_id, secret, bucket):
        self.name, self.endpoint, self.key_id, self.secret, self.bucket = name, endpoint, key_id, secret, bucket
        self.s3 = s3_client(endpoint, key_id, secret)
        self.host = s3raw.host_of(endpoint)
        self.steps = []

    def url(self, key="", query="", bucket=None):
        path = f"/{bucket or self.bucket}" + (f"/{urllib.parse.quote(key)}" if key else "")
        return f"{self.endpoint}{path}" + (f"?{query}" if query else "")

    def signed(self, method, key="", headers=None, body=b"", query="", bucket=None):
        url = self.url(key, query, bucket)
        h = {"Host": self.host}
        if body or method in ("PUT", "POST"):
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        signed, _ = s3raw.sign(method, url, h, hashlib.sha256(body).hexdigest(), self.key_id, self.secret)
        return url, signed

    def raw(self, label, method, key="", headers=None, body=b"", query="", bucket=None):
        url, signed = self.signed(method, key, headers, body, query, bucket)
        resp = s3raw.send(url, method, signed, body)
        self.record(label, resp.status, resp.code, dict(resp.headers), resp.body if method != "HEAD" else b"")
        return resp

    def call(self, label, op, body_of=None, **kwargs):
        """A boto3 call, recorded; returns the response dict (or the error response)."""
        try:
            resp = getattr(self.s3, op)(**kwargs)
            status, code = resp["ResponseMetadata"]["HTTPStatusCode"], None
            body = resp["Body"].read() if "Body" in resp else b""
            if body_of:
                body = repr(body_of(resp)).encode()
        except botocore.exceptions.ClientError as err:
            resp = err.response
            status, code, body = resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"].get("Code"), b""
        resp["_body"] = body
        self.record(label, status, code, resp["ResponseMetadata"].get("HTTPHeaders", {}), body)
        return resp

    def record(self, label, status, code, headers, body):
        seen = projection(headers)
        if body:
            # Framing: a body's length is compared as the body itself (the RGW sends some
            # answers chunked, the proxy sends the confirmed ones with a Content-Length).
            seen.pop("content-length", None)
        body = self.normalized(body or b"")
        self.steps.append((label, status, code, seen, hashlib.sha256(body).hexdigest()[:16], len(body)))

    def normalized(self, body):
        """The body with what differs by nature between two buckets replaced: the bucket's
        name, request and host ids, times, version and upload ids."""
        body = body.replace(self.bucket.encode(), b"BUCKET")
        return re.sub(rb"<(RequestId|HostId|LastModified|VersionId|UploadId)>[^<]*</\1>", rb"<\1>X</\1>", body)


def differences(a, b):
    out = []
    if len(a.steps) != len(b.steps):
        out.append(f"{len(a.steps)} steps {a.name}, {len(b.steps)} {b.name}")
    for x, y in zip(a.steps, b.steps):
        if x != y:
            out.append(f"{x[0]}: {a.name} {x[1:]} != {b.name} {y[1:]}")
    return out


def stored(bucket, prefix, sse_key=None):
    """What the RGW holds under prefix: per key (and version), bytes digest and metadata."""
    r = rgw()
    out = []
    versions = r.list_object_versions(Bucket=bucket, Prefix=prefix)
    entries = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in versions.get("Versions", [])]
    entries += [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in versions.get("DeleteMarkers", [])]
    entries.sort(key=lambda e: (e[0], e[3], e[2]))
    for key, vid, latest, marker in entries:
        rel = key[len(prefix):]
        if marker:
            out.append((rel, "delete-marker", latest))
            continue
        extra = {"VersionId": vid} if vid and vid != "null" else {}
        try:
            obj = r.get_object(Bucket=bucket, Key=key, **extra)
        except botocore.exceptions.ClientError as err:
            if sse_key is None:
                out.append((rel, latest, "error", err.response["Error"].get("Code")))
                continue
            obj = r.get_object(Bucket=bucket, Key=key, SSECustomerAlgorithm="AES256", SSECustomerKey=sse_key,
                               **extra)
        data = obj["Body"].read()
        out.append((rel, latest, hashlib.sha256(data).hexdigest()[:16], len(data), projection(
            obj["ResponseMetadata"]["HTTPHeaders"])))
    return sorted(out, key=repr)


class Env:
    def __init__(self):
        e = os.environ
        self.audit_log = AuditLog(e["CONF_AUDIT_LOG"])
        self.strip_log = AuditLog(e["CONF_STRIP_LOG"])
        self.admin = e["CONF_AUDIT_ADMIN"]
        self.client = (e["CONF_CLIENT_KEY"], e["CONF_CLIENT_SECRET"])
        self.rgw_key = (e["RGW_ACCESS_KEY"], e["RGW_SECRET_KEY"])
        self.ep = {"D": e["RGW_ENDPOINT"], "A": e["CONF_AUDIT_ENDPOINT"], "S": e["CONF_STRIP_ENDPOINT"]}
        self.buckets = {}

    def bucket(self, kind, which, versioned=False):
        name = f"conf-{kind}-{which.lower()}-{RUN}"
        if name not in self.buckets:
            rgw().create_bucket(Bucket=name)
            if versioned:
                rgw().put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            self.buckets[name] = True
        return name

    def side(self, which, kind="plain", versioned=False):
        key = self.rgw_key if which == "D" else self.client
        return Side({"D": "direct", "A": "audit proxy", "S": "strip proxy"}[which], self.ep[which], *key,
                    self.bucket(kind, which, versioned))

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=5) as resp:
            return resp.read().decode()


def metric_value(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    return 0.0


def compare(env, scenario, prefix, which=("A",), kind="plain", versioned=False, sse_key=None):
    """Runs scenario on the RGW directly and through each proxy named; compares."""
    direct = env.side("D", kind, versioned)
    scenario(direct, prefix)
    for w in which:
        through = env.side(w, kind, versioned)
        scenario(through, prefix)
        diff = differences(direct, through)
        expect(not diff, "; ".join(diff[:4]))
        got, want = stored(through.bucket, prefix, sse_key), stored(direct.bucket, prefix, sse_key)
        expect(got == want, f"stored through the {through.name}: {got} != directly: {want}")
    return direct


# ---------------------------------------------------------------- conditional requests

def http_date(dt):
    return dt.strftime("%a, %d %b %Y %H:%M:%S GMT")


def conditional_get_head(side, p):
    key = p + "obj"
    side.call("put", "put_object", Bucket=side.bucket, Key=key, Body=b"conditional body\n" * 10)
    head = side.s3.head_object(Bucket=side.bucket, Key=key)
    etag, lm = head["ETag"], head["LastModified"]
    day = datetime.timedelta(days=1)
    for method in ("GET", "HEAD"):
        for label, headers in [("if-match", {"If-Match": etag}), ("if-match-wrong", {"If-Match": '"0000"'}),
                               ("if-none-match", {"If-None-Match": etag}),
                               ("if-none-match-other", {"If-None-Match": '"0000"'}),
                               ("if-none-match-star", {"If-None-Match": "*"}),
                               ("if-modified-since", {"If-Modified-Since": http_date(lm)}),
                               ("if-modified-since-before", {"If-Modified-Since": http_date(lm - day)}),
                               ("if-unmodified-since-before", {"If-Unmodified-Since": http_date(lm - day)}),
                               ("if-unmodified-since-after", {"If-Unmodified-Since": http_date(lm + day)}),
                               ("if-match-and-modified-since", {"If-Match": etag,
                                                                "If-Modified-Since": http_date(lm + day)})]:
            side.raw(f"{method} {label}", method, key, headers)
    # boto3 as an application uses it: the 304 and 412 become ClientErrors with these codes.
    side.call("boto3 get if-none-match", "get_object", Bucket=side.bucket, Key=key, IfNoneMatch=etag)
    side.call("boto3 head if-match-wrong", "head_object", Bucket=side.bucket, Key=key, IfMatch='"0000"')
    side.call("boto3 get if-unmodified-since", "get_object", Bucket=side.bucket, Key=key,
              IfUnmodifiedSince=lm - day)


def conditional_keepalive(side, p):
    """Body-less conditional answers (304, a HEAD's 412) and a GET's 412 on one keep-alive
    connection: each must end where it ends, and the next request on the connection works."""
    key = p + "ka"
    body = b"keep-alive body" * 100
    side.call("put", "put_object", Bucket=side.bucket, Key=key, Body=body)
    etag = side.s3.head_object(Bucket=side.bucket, Key=key)["ETag"]
    parts = urllib.parse.urlsplit(side.endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for label, method, headers in [("head 412", "HEAD", {"If-Match": '"0000"'}),
                                       ("get 304", "GET", {"If-None-Match": etag}),
                                       ("head 304", "HEAD", {"If-None-Match": etag}),
                                       ("get 412", "GET", {"If-Match": '"0000"'}),
                                       ("get 200", "GET", {})]:
            url, signed = side.signed(method, key, headers)
            conn.putrequest(method, urllib.parse.urlsplit(url).path, skip_host=True, skip_accept_encoding=True)
            for n, v in signed:
                conn.putheader(n, v)
            conn.endheaders()
            resp = conn.getresponse()
            data = resp.read()
            code = re.search(rb"<Code>([^<]*)</Code>", data)
            side.record(f"keep-alive {label}", resp.status, code.group(1).decode() if code else None,
                        dict(resp.getheaders()), data)
            if resp.will_close:
                side.record(f"keep-alive {label} closed", 0, None, {}, b"")
                conn.close()
    finally:
        conn.close()


def conditional_put(side, p):
    key = p + "put"
    side.raw("put if-none-match * new", "PUT", key, {"If-None-Match": "*"}, b"first")
    side.raw("put if-none-match * exists", "PUT", key, {"If-None-Match": "*"}, b"second")
    etag = side.s3.head_object(Bucket=side.bucket, Key=key)["ETag"]
    side.raw("put if-match wrong", "PUT", key, {"If-Match": '"0000"'}, b"third")
    side.raw("put if-match right", "PUT", key, {"If-Match": etag}, b"fourth")
    side.call("boto3 get", "get_object", Bucket=side.bucket, Key=key)


def conditional_complete(side, p):
    key = p + "mpu"
    side.call("put existing", "put_object", Bucket=side.bucket, Key=key, Body=b"existing")
    for label, cond in [("complete if-none-match * exists", {"If-None-Match": "*"}),
                        ("complete if-match wrong", {"If-Match": '"0000"'})]:
        up = side.s3.create_multipart_upload(Bucket=side.bucket, Key=key)["UploadId"]
        part = side.s3.upload_part(Bucket=side.bucket, Key=key, UploadId=up, PartNumber=1, Body=b"part one")
        xml = (f'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part["ETag"]}</ETag></Part>'
               f'</CompleteMultipartUpload>').encode()
        side.raw(label, "POST", key, {"Content-Type": "application/xml", **cond}, xml,
                 query=f"uploadId={urllib.parse.quote(up)}")
        side.call(f"abort after {label}", "abort_multipart_upload", Bucket=side.bucket, Key=key, UploadId=up)
    side.call("get", "get_object", Bucket=side.bucket, Key=key)


def conditional_copy(side, p):
    src, dst = p + "src", p + "dst"
    side.call("put src", "put_object", Bucket=side.bucket, Key=src, Body=b"copy source")
    head = side.s3.head_object(Bucket=side.bucket, Key=src)
    etag, lm = head["ETag"], head["LastModified"]
    day = datetime.timedelta(days=1)
    source = {"Bucket": side.bucket, "Key": src}
    for label, kw in [("copy if-match wrong", {"CopySourceIfMatch": '"0000"'}),
                      ("copy if-match right", {"CopySourceIfMatch": etag}),
                      ("copy if-none-match etag", {"CopySourceIfNoneMatch": etag}),
                      ("copy if-none-match other", {"CopySourceIfNoneMatch": '"0000"'}),
                      ("copy if-modified-since after", {"CopySourceIfModifiedSince": lm + day}),
                      ("copy if-unmodified-since before", {"CopySourceIfUnmodifiedSince": lm - day}),
                      ("copy if-unmodified-since after", {"CopySourceIfUnmodifiedSince": lm + day})]:
        side.call(label, "copy_object", body_of=lambda r: sorted(r.get("CopyObjectResult", {}).keys()),
                  Bucket=side.bucket, Key=dst + label.replace(" ", "-"), CopySource=source, **kw)
    # The destination conditions of CopyObject (If-None-Match on the target), raw.
    url_src = f"/{side.bucket}/{urllib.parse.quote(src)}"
    side.raw("copy dest if-none-match * exists", "PUT", src, {"x-amz-copy-source": url_src, "If-None-Match": "*"})


# ---------------------------------------------------------------- headers with meaning

SSE_C_KEY = os.urandom(32)
SSE_C_KEY_B64 = base64.b64encode(SSE_C_KEY).decode()
SSE_C_MD5_B64 = base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode()
SSE_C_OTHER = os.urandom(32)


def sse_c(side, p):
    key = p + "ssec"
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": SSE_C_KEY}
    side.call("put sse-c", "put_object", Bucket=side.bucket, Key=key, Body=b"secret bytes" * 50, **ssec)
    side.call("head sse-c", "head_object", Bucket=side.bucket, Key=key, **ssec)
    side.call("get sse-c", "get_object", Bucket=side.bucket, Key=key, **ssec)
    side.call("get sse-c range", "get_object", Bucket=side.bucket, Key=key, Range="bytes=5-20", **ssec)
    side.call("get without key", "get_object", Bucket=side.bucket, Key=key)
    side.call("get wrong key", "get_object", Bucket=side.bucket, Key=key, SSECustomerAlgorithm="AES256",
              SSECustomerKey=SSE_C_OTHER)
    side.call("copy sse-c to sse-c", "copy_object", body_of=lambda r: sorted(r.get("CopyObjectResult", {})),
              Bucket=side.bucket, Key=key + "-copy", CopySource={"Bucket": side.bucket, "Key": key},
              CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=SSE_C_KEY, **ssec)
    side.call("get copy", "get_object", Bucket=side.bucket, Key=key + "-copy", **ssec)
    # A key-MD5 that does not match the key.
    side.raw("put sse-c bad md5", "PUT", key + "-bad", {
        "x-amz-server-side-encryption-customer-algorithm": "AES256",
        "x-amz-server-side-encryption-customer-key": SSE_C_KEY_B64,
        "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(b"0" * 16).decode()}, b"x")


def sse_kms(side, p):
    side.call("put sse-kms", "put_object", Bucket=side.bucket, Key=p + "kms", Body=b"kms",
              ServerSideEncryption="aws:kms", SSEKMSKeyId="testkey-1")
    side.call("put sse-kms no key id", "put_object", Bucket=side.bucket, Key=p + "kms2", Body=b"kms",
              ServerSideEncryption="aws:kms")
    side.call("put sse-s3", "put_object", Bucket=side.bucket, Key=p + "sse-s3", Body=b"aes", ServerSideEncryption="AES256")
    side.call("head sse-s3", "head_object", Bucket=side.bucket, Key=p + "sse-s3")


def tagging(side, p):
    key = p + "tagged"
    side.call("put tagging", "put_object", Bucket=side.bucket, Key=key, Body=b"t", Tagging="a=1&b=two%20words")
    side.call("head", "head_object", Bucket=side.bucket, Key=key)
    side.call("get tagging", "get_object_tagging", body_of=lambda r: r["TagSet"], Bucket=side.bucket, Key=key)
    side.call("put object tagging", "put_object_tagging", Bucket=side.bucket, Key=key,
              Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    side.call("get tagging again", "get_object_tagging", body_of=lambda r: r["TagSet"], Bucket=side.bucket, Key=key)
    side.call("copy replace tagging", "copy_object", body_of=lambda r: sorted(r.get("CopyObjectResult", {})),
              Bucket=side.bucket, Key=key + "-copy", CopySource={"Bucket": side.bucket, "Key": key},
              TaggingDirective="REPLACE", Tagging="d=4")
    side.call("get copy tagging", "get_object_tagging", body_of=lambda r: r["TagSet"], Bucket=side.bucket,
              Key=key + "-copy")


def storage_and_redirect(side, p):
    for cls in ("STANDARD", "REDUCED_REDUNDANCY", "GLACIER", "NOSUCHCLASS"):
        side.raw(f"put storage-class {cls}", "PUT", p + "sc-" + cls, {"x-amz-storage-class": cls}, b"sc")
        side.call(f"head storage-class {cls}", "head_object", Bucket=side.bucket, Key=p + "sc-" + cls)
    side.call("put redirect", "put_object", Bucket=side.bucket, Key=p + "redir", Body=b"r",
              WebsiteRedirectLocation="/elsewhere/page.html")
    side.call("head redirect", "head_object", Bucket=side.bucket, Key=p + "redir")


def lock_owner_payer(side, p):
    until = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    side.call("put object-lock on unlocked bucket", "put_object", Bucket=side.bucket, Key=p + "lock", Body=b"l",
              ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
    side.call("put legal hold on unlocked bucket", "put_object", Bucket=side.bucket, Key=p + "hold", Body=b"h",
              ObjectLockLegalHoldStatus="ON")
    side.call("get object retention", "get_object_retention", Bucket=side.bucket, Key=p + "lock")
    side.call("put expected owner wrong", "put_object", Bucket=side.bucket, Key=p + "owner", Body=b"o",
              ExpectedBucketOwner="111122223333")
    side.call("get expected owner wrong", "get_object", Bucket=side.bucket, Key=p + "owner",
              ExpectedBucketOwner="111122223333")
    side.call("put request payer", "put_object", Bucket=side.bucket, Key=p + "payer", Body=b"p",
              RequestPayer="requester")
    side.call("get request payer", "get_object", Bucket=side.bucket, Key=p + "payer", RequestPayer="requester")


def checksums_and_md5(side, p):
    body = b"checksummed body\n" * 64
    for algo in ("SHA256", "CRC32", "SHA1", "CRC32C"):
        side.call(f"put checksum {algo}", "put_object", Bucket=side.bucket, Key=p + "ck-" + algo, Body=body,
                  ChecksumAlgorithm=algo)
        side.call(f"get checksum-mode {algo}", "get_object", Bucket=side.bucket, Key=p + "ck-" + algo,
                  ChecksumMode="ENABLED")
        side.call(f"head checksum-mode {algo}", "head_object", Bucket=side.bucket, Key=p + "ck-" + algo,
                  ChecksumMode="ENABLED")
    wrong_crc = base64.b64encode(b"\0\0\0\0").decode()
    side.raw("put wrong x-amz-checksum-crc32", "PUT", p + "ck-wrong", {"x-amz-checksum-crc32": wrong_crc}, body)
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    side.raw("put content-md5 right", "PUT", p + "md5-right", {"Content-MD5": md5}, body)
    side.raw("put content-md5 wrong", "PUT", p + "md5-wrong", {"Content-MD5": base64.b64encode(b"1" * 16).decode()},
             body)
    side.raw("put content-md5 malformed", "PUT", p + "md5-bad", {"Content-MD5": "not-base64!"}, body)


def content_headers(side, p):
    key = p + "content"
    side.call("put content headers", "put_object", Bucket=side.bucket, Key=key, Body=b"<html>hi</html>",
              ContentType="text/html; charset=utf-8", CacheControl="public, max-age=315576000, immutable",
              ContentDisposition='attachment; filename="hi.html"', ContentLanguage="en-GB",
              ContentEncoding="identity", Expires=datetime.datetime(2031, 5, 6, 7, 8, 9),
              Metadata={"origin": "conformance", "mixed-case": "Value With Spaces"})
    side.call("head", "head_object", Bucket=side.bucket, Key=key)
    side.call("get", "get_object", Bucket=side.bucket, Key=key)
    side.call("get response overrides", "get_object", Bucket=side.bucket, Key=key,
              ResponseContentType="application/octet-stream", ResponseContentDisposition="inline",
              ResponseCacheControl="no-store", ResponseContentLanguage="fr",
              ResponseExpires=datetime.datetime(2032, 1, 2, 3, 4, 5), ResponseContentEncoding="identity")
    side.raw("get response override raw", "GET", key,
             query="response-content-type=image%2Fpng&response-content-disposition=attachment%3B%20filename%3Dx.png")
    side.call("get range", "get_object", Bucket=side.bucket, Key=key, Range="bytes=2-5")
    side.call("copy metadata replace", "copy_object", body_of=lambda r: sorted(r.get("CopyObjectResult", {})),
              Bucket=side.bucket, Key=key + "-copy", CopySource={"Bucket": side.bucket, "Key": key},
              MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"copied": "yes"},
              CacheControl="no-cache")
    side.call("head copy", "head_object", Bucket=side.bucket, Key=key + "-copy")


def part_numbers(side, p):
    key = p + "parts"
    up = side.s3.create_multipart_upload(Bucket=side.bucket, Key=key, ContentType="application/x-parts")["UploadId"]
    parts = []
    for n, data in ((1, b"A" * PART), (2, b"B" * 1024)):
        r = side.s3.upload_part(Bucket=side.bucket, Key=key, UploadId=up, PartNumber=n, Body=data)
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    side.call("list parts", "list_parts", body_of=lambda r: [(x["PartNumber"], x["ETag"], x["Size"])
                                                             for x in r["Parts"]],
              Bucket=side.bucket, Key=key, UploadId=up)
    side.call("complete", "complete_multipart_upload", body_of=lambda r: r["Key"], Bucket=side.bucket, Key=key,
              UploadId=up, MultipartUpload={"Parts": parts})
    for n in (1, 2, 3):
        side.call(f"get partNumber={n}", "get_object", Bucket=side.bucket, Key=key, PartNumber=n)
        side.call(f"head partNumber={n}", "head_object", Bucket=side.bucket, Key=key, PartNumber=n)


def version_ids(side, p):
    key = p + "versioned"
    ids = []
    for body in (b"version one", b"version two", b"version three"):
        ids.append(side.call(f"put {body.decode()}", "put_object", Bucket=side.bucket, Key=key, Body=body)
                   .get("VersionId"))
    side.call("get v1", "get_object", Bucket=side.bucket, Key=key, VersionId=ids[0])
    side.call("head v2", "head_object", Bucket=side.bucket, Key=key, VersionId=ids[1])
    side.call("get no such version", "get_object", Bucket=side.bucket, Key=key,
              VersionId="nosuchversionnosuchversion12345")
    side.call("tag v1", "put_object_tagging", Bucket=side.bucket, Key=key, VersionId=ids[0],
              Tagging={"TagSet": [{"Key": "v", "Value": "1"}]})
    side.call("get tagging v1", "get_object_tagging", body_of=lambda r: r["TagSet"], Bucket=side.bucket, Key=key,
              VersionId=ids[0])
    side.call("get acl v1", "get_object_acl", body_of=lambda r: len(r["Grants"]), Bucket=side.bucket, Key=key,
              VersionId=ids[0])
    side.call("copy from v1", "copy_object", body_of=lambda r: sorted(r.get("CopyObjectResult", {})),
              Bucket=side.bucket, Key=key + "-copy", CopySource={"Bucket": side.bucket, "Key": key,
                                                                  "VersionId": ids[0]})
    side.call("get copy", "get_object", Bucket=side.bucket, Key=key + "-copy")
    side.call("delete v3", "delete_object", Bucket=side.bucket, Key=key, VersionId=ids[2])
    side.call("get latest after deleting v3", "get_object", Bucket=side.bucket, Key=key)
    side.call("delete (marker)", "delete_object", Bucket=side.bucket, Key=key)
    side.call("get after marker", "get_object", Bucket=side.bucket, Key=key)
    side.call("head after marker", "head_object", Bucket=side.bucket, Key=key)
    side.call("get v2 after marker", "get_object", Bucket=side.bucket, Key=key, VersionId=ids[1])
    side.call("list versions", "list_object_versions",
              body_of=lambda r: ([(v["Key"][len(p):], v["Size"], v["IsLatest"]) for v in r.get("Versions", [])],
                                 [(m["Key"][len(p):], m["IsLatest"]) for m in r.get("DeleteMarkers", [])]),
              Bucket=side.bucket, Prefix=p)


# ---------------------------------------------------------------- the proxy's own answers

def own_errors(env, results):
    """A fault the proxy answers itself and the RGW answers for the same request sent to it
    directly: the status and Code must match, and the proxy's answer must look like S3's."""
    direct, proxy = env.side("D"), env.side("A")
    now = s3raw.utcnow()

    def faults(side, key_id, secret):
        out = {}
        url = side.url("own-errors/obj")
        base = {"Host": side.host}
        signed, _ = s3raw.sign("GET", url, base, s3raw.EMPTY_SHA256, key_id, secret + "x")
        out["wrong secret"] = ("GET", url, signed)
        signed, _ = s3raw.sign("GET", url, base, s3raw.EMPTY_SHA256, "AKIANOSUCHKEYEXAMPLE", secret)
        out["unknown key"] = ("GET", url, signed)
        signed, _ = s3raw.sign("GET", url, base, s3raw.EMPTY_SHA256, key_id, secret,
                               when=now - datetime.timedelta(minutes=20))
        out["clock skew"] = ("GET", url, signed)
        purl, _ = s3raw.presign("GET", url, key_id, secret, 60, when=now - datetime.timedelta(minutes=5))
        out["expired presigned"] = ("GET", purl, [("Host", side.host)])
        signed, _ = s3raw.sign("HEAD", url, base, s3raw.EMPTY_SHA256, key_id, secret + "x")
        out["HEAD wrong secret"] = ("HEAD", url, signed)
        signed, _ = s3raw.sign("PUT", url, {**base, "Content-Length": "1"}, hashlib.sha256(b"x").hexdigest(),
                               key_id, secret)
        out["body not matching its hash"] = ("PUT", url, signed, b"y")
        return out

    d_faults = faults(direct, *env.rgw_key)
    p_faults = faults(proxy, *env.client)
    for name in d_faults:
        def one(name=name):
            dm, durl, dh, *dbody = d_faults[name]
            pm, purl, ph, *pbody = p_faults[name]
            d = s3raw.send(durl, dm, dh, dbody[0] if dbody else b"")
            p = s3raw.send(purl, pm, ph, pbody[0] if pbody else b"")
            expect((p.status, p.code) == (d.status, d.code),
                   f"through the proxy {p.status} {p.code}, directly {d.status} {d.code}")
            hdr = {k.lower(): v for k, v in p.headers}
            rid = hdr.get("x-amz-request-id", "")
            expect(re.fullmatch(r"[0-9A-F]{16}", rid), f"x-amz-request-id {rid!r} is not 16 hex digits")
            expect(hdr.get("x-amz-id-2"), "no x-amz-id-2 header")
            if pm == "HEAD":
                expect(p.body == b"", f"a HEAD error carries a body of {len(p.body)} bytes")
            else:
                body = p.body.decode()
                expect(f"<RequestId>{rid}</RequestId>" in body, f"body's RequestId differs from the header: {body}")
                expect(f"<Resource>/{proxy.bucket}/own-errors/obj</Resource>" in body, f"Resource wrong: {body}")
                expect(re.search(r"<Message>[^<]+</Message>", body), f"no Message: {body}")
            deadline = time.monotonic() + 5  # the audit writer flushes within milliseconds
            while True:
                lines = [r for r in env.audit_log.records() if r.get("request_id") == rid]
                if lines or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            expect(len(lines) == 1, f"{len(lines)} audit lines carry request_id {rid}")
            expect(lines[0].get("status") == p.status and (pm == "HEAD" or lines[0].get("s3_code") == p.code),
                   f"audit line {lines[0].get('status')} {lines[0].get('s3_code')} for answer {p!r}")
        results.check(f"own_error_{name.replace(' ', '_')}", one)

    def no_auth():
        d = s3raw.send(direct.url("own-errors/obj"), "GET", [("Host", direct.host)])
        p = s3raw.send(proxy.url("own-errors/obj"), "GET", [("Host", proxy.host)])
        # The RGW serves anonymous requests by ACL (403 AccessDenied on a private object), as AWS does.
        expect((p.status, p.code) == (d.status, d.code), f"proxy {p!r}, direct {d!r}")
        hdr = {k.lower(): v for k, v in p.headers}
        expect(re.fullmatch(r"[0-9A-F]{16}", hdr.get("x-amz-request-id", "")), "no x-amz-request-id")
    results.check("own_error_no_credentials", no_auth)

    def bucket_resource():
        url = proxy.url()
        signed, _ = s3raw.sign("GET", url, {"Host": proxy.host}, s3raw.EMPTY_SHA256, env.client[0], "wrong")
        p = s3raw.send(url, "GET", signed)
        expect(f"<Resource>/{proxy.bucket}</Resource>" in p.body.decode(), f"bucket Resource: {p.body!r}")
    results.check("own_error_bucket_resource", bucket_resource)


# ---------------------------------------------------------------- main

def main():
    env = Env()
    results = Results()
    prefix = f"r{RUN}/"

    def scenario(name, fn, which=("A", "S"), **kw):
        results.check(name, lambda: compare(env, fn, prefix + name + "/", which, **kw))

    before = env.metrics()
    scenario("conditional_get_head", conditional_get_head)
    scenario("conditional_keepalive", conditional_keepalive)
    scenario("conditional_put", conditional_put)
    scenario("conditional_complete", conditional_complete)
    scenario("conditional_copy", conditional_copy)

    def conditional_audit():
        log = env.audit_log
        key = prefix + "conditional_put/put"
        bucket = env.bucket("plain", "A")
        lines = [r for r in log.records() if r.get("bucket") == bucket and r.get("key") == key
                 and r.get("method") == "PUT"]
        failed = [r for r in lines if r.get("status") == 412]
        expect(failed, f"no 412 PutObject line among {[(r.get('status'), r.get('event')) for r in lines]}")
        for r in failed:
            expect((r.get("event"), r.get("level"), r.get("s3_code"), r.get("upstream_status")) ==
                   ("write_failed", "warn", "PreconditionFailed", 412), f"412 PutObject audited as {r}")
        gets = [r for r in log.records() if r.get("bucket") == bucket
                and r.get("key") == prefix + "conditional_get_head/obj"]
        by_status = {}
        for r in gets:
            by_status.setdefault((r.get("method"), r.get("status")), []).append(r)
        for (method, status), want in [(("GET", 304), ("request", "info", "NotModified")),
                                       (("HEAD", 304), ("request", "info", "NotModified")),
                                       (("GET", 412), ("request", "info", "PreconditionFailed")),
                                       (("HEAD", 412), ("request", "info", "PreconditionFailed"))]:
            got = by_status.get((method, status), [])
            expect(got, f"no {method} {status} line")
            for r in got:
                expect((r.get("event"), r.get("level"), r.get("s3_code")) == want,
                       f"{method} {status} audited as {(r.get('event'), r.get('level'), r.get('s3_code'))}")
    results.check("conditional_audited_with_s3_code", conditional_audit)

    def conditional_metrics():
        after = env.metrics()
        name = "s3_acl_proxy_conditional_requests_total"
        for op, outcome, at_least in [("GetObject", "not_modified", 3), ("HeadObject", "not_modified", 2),
                                      ("GetObject", "precondition_failed", 3),
                                      ("HeadObject", "precondition_failed", 3),
                                      ("PutObject", "precondition_failed", 1)]:
            # (Ceph RGW 16 reads the copy conditions from x-amz-copy-if-*, not S3's
            # x-amz-copy-source-if-*: its CopyObject never answers 412 here, directly or not.)
            series = f'{name}{{op="{op}",outcome="{outcome}"}}'
            grew = metric_value(after, series) - metric_value(before, series)
            expect(grew >= at_least, f"{series} rose by {grew}, expected at least {at_least}")
        # A refused precondition is not an upstream outage: it is also an upstream error, but
        # the write failure it causes is labelled with its code.
        series = 's3_acl_proxy_write_failures_total{op="PutObject",event="write_failed",s3_code="PreconditionFailed"}'
        expect(metric_value(after, series) >= 1, f"{series} not counted")
    results.check("conditional_metric_label", conditional_metrics)

    # SSE-C needs TLS on the RGW unless told otherwise; this run's RGW is told so (admin socket).
    scenario("sse_c", sse_c, sse_key=SSE_C_KEY)

    def sse_c_secret_never_logged():
        texts = {"audit proxy audit log": env.audit_log.text(), "strip proxy audit log": env.strip_log.text(),
                 "metrics": env.metrics()}
        for log in (os.environ.get("CONF_AUDIT_PROXY_LOG"), os.environ.get("CONF_STRIP_PROXY_LOG")):
            if log and os.path.exists(log):
                texts[log] = open(log, encoding="utf-8", errors="replace").read()
        for where, text in texts.items():
            for name, secret in [("key", SSE_C_KEY_B64), ("key MD5", SSE_C_MD5_B64),
                                 ("key as hex", SSE_C_KEY.hex()), ("other key", base64.b64encode(SSE_C_OTHER).decode())]:
                expect(secret not in text, f"the SSE-C {name} appears in the {where}")
        expect(any("sse_c" in r.get("key", "") for r in env.audit_log.records()),
               "no audit line for the SSE-C requests: the grep proved nothing")
    results.check("sse_c_key_never_in_logs_or_metrics", sse_c_secret_never_logged)

    scenario("sse_kms", sse_kms)
    scenario("tagging", tagging)
    scenario("storage_class_and_redirect", storage_and_redirect)
    scenario("object_lock_owner_payer", lock_owner_payer)
    scenario("checksums_and_content_md5", checksums_and_md5)
    scenario("content_headers_and_response_overrides", content_headers)
    scenario("part_number_gets", part_numbers, which=("A",))
    scenario("version_ids", version_ids, which=("A",), kind="versioned", versioned=True)

    own_errors(env, results)
    if results.failed == 0:
        results.note("every scenario gave the same status, code, headers and stored bytes both ways")


if __name__ == "__main__":
    main_guard(main)
