#!/usr/bin/python3
"""The checks of suites/post_policy.sh: browser-based uploads (POST Object, SigV4 POST policy).

Each scenario is run twice with a real client: straight against the RGW (signed with the
RGW's key) and through the proxy in strip mode (signed with the application's key, which
the RGW does not know: what lands was verified and signed anew by the proxy). Both must end
with the same status, S3 error code and stored bytes; only the ACL differs (an acl field is
stripped). Then what the proxy itself must answer, with the one audit line of each request.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_UID, PP_STRIP / PP_AUDIT (the proxies),
     PP_STRIP_AUDIT / PP_AUDIT_AUDIT (their audit logs), PP_CLIENT_KEY, PP_CLIENT_SECRET,
     PP_JS (clients/js/presigned_post.mjs), PP_WORK (scratch directory).
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import requests  # noqa: E402
from suite import (AuditLog, Failed, Results, expect, expect_fields, is_public, main_guard,  # noqa: E402
                   object_exists, rgw, s3_client)

SMALL = 70001                      # not a multiple of any piece size
LARGE = 16 * 1024 * 1024 + 12345   # many relay pieces: the file streams through
# Streamed from a generator, never held by the client either: the proxy's peak RSS may not
# grow by anything near it (a PutObject's bound: a few 64 KiB pieces).
STREAMED_MIB = 96
MAX_RSS_GROWTH_MIB = 24
MAX_PEAK_RSS_MIB = 64  # the transport suite's bound for a 1 GiB PUT
CURL_BYTES = 2 * 1024 * 1024 + 7   # curl sends Expect: 100-continue above 1 MiB
# A refused form whose rest is at most 1 MiB is read to its end before the answer, so the
# client sees the error rather than a connection reset.
DRAINED = 900 * 1024
LATE_SEND_S = 0.5
HTTP_TIMEOUT = 30
# A cut-off upload: how long the proxy may take to notice the client is gone and log it.
CUT_SETTLE_S = 2.0
REDIRECT = "http://app.example.test/uploaded"


def s3_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return m.group(1).decode() if m else None


def s3_message(body):
    m = re.search(rb"<Message>([^<]*)</Message>", body or b"")
    return m.group(1).decode() if m else None


class Answer:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers
        self.code = s3_code(body) if status >= 300 else None

    def __repr__(self):
        return f"{self.status} {self.code or ''} {self.body[:200]!r}"


class Side:
    """One way to the storage: the RGW itself or a proxy, with the key that side knows."""

    def __init__(self, name, endpoint, key_id, secret, bucket, audit=None):
        self.name, self.endpoint, self.key_id, self.secret = name, endpoint, key_id, secret
        self.bucket, self.audit = bucket, audit
        self.s3 = s3_client(endpoint, key_id, secret)

    def presign(self, key, fields=None, conditions=None, expires=600):
        p = self.s3.generate_presigned_post(self.bucket, key, Fields=dict(fields or {}),
                                            Conditions=list(conditions or []), ExpiresIn=expires)
        return p["url"], list(p["fields"].items())

    def post(self, url, fields, data, filename="upload.bin", content_type=None):
        file = (filename, data, content_type) if content_type else (filename, data)
        r = requests.post(url, data=fields, files={"file": file}, allow_redirects=False, timeout=HTTP_TIMEOUT)
        return Answer(r.status_code, r.content, r.headers)

    def stored(self, key):
        try:
            return rgw().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception:  # noqa: BLE001  (absent: None)
            return None


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def multipart(fields, data, boundary="ppBoundary7MA4YWxkTrZu0gW", filename="upload.bin", close=True,
              file_head_extra=b""):
    out = b""
    for name, value in fields:
        value = value if isinstance(value, bytes) else value.encode()
        out += (b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"" + name.encode() +
                b"\"\r\n\r\n" + value + b"\r\n")
    out += (b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            filename.encode() + b"\"\r\n" + file_head_extra + b"\r\n" + data)
    if close:
        out += b"\r\n--" + boundary.encode() + b"--\r\n"
    return out, boundary


def raw_post(url, body, boundary, chunked=False, cut_at=None):
    """POSTs a hand-made form; cut_at: send only that many body bytes, then close (no answer)."""
    u = urllib.parse.urlsplit(url)
    head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n")
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
    head += "Connection: close\r\n\r\n"
    with socket.create_connection((u.hostname, u.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(head.encode())
        if cut_at is not None:
            s.sendall(body[:cut_at])
            return None
        s.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
        raw = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            raw += got
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    status = int(head_bytes.split(b" ")[1])
    headers = {}
    for line in head_bytes.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode().strip().lower()] = v.decode().strip()
    return Answer(status, rest, headers)


class Suite:
    def __init__(self):
        pid = os.getpid()
        self.r = Results()
        self.client_key = os.environ["PP_CLIENT_KEY"]
        self.client_secret = os.environ["PP_CLIENT_SECRET"]
        self.strip_audit = AuditLog(os.environ["PP_STRIP_AUDIT"])
        self.audit_audit = AuditLog(os.environ["PP_AUDIT_AUDIT"])
        rgw_ep, rgw_key, rgw_secret = os.environ["RGW_ENDPOINT"], os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"]
        self.direct = Side("direct", rgw_ep, rgw_key, rgw_secret, f"pp-direct-{pid}")
        self.strip = Side("strip", os.environ["PP_STRIP"], self.client_key, self.client_secret,
                          f"pp-strip-{pid}", self.strip_audit)
        self.audit = Side("audit", os.environ["PP_AUDIT"], self.client_key, self.client_secret,
                          f"pp-audit-{pid}", self.audit_audit)
        self.deny_bucket = f"pp-deny-{pid}"
        self.work = os.environ["PP_WORK"]
        self.js = os.environ["PP_JS"]
        self.small = os.urandom(SMALL)

    def setup(self):
        s3 = rgw()
        for b in (self.direct.bucket, self.strip.bucket, self.audit.bucket, self.deny_bucket):
            s3.create_bucket(Bucket=b)
        uid = os.environ.get("RGW_UID", "tester")
        s3.put_bucket_policy(Bucket=self.deny_bucket, Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": [f"arn:aws:iam:::user/{uid}"]}, "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{self.deny_bucket}", f"arn:aws:s3:::{self.deny_bucket}/*"]},
                {"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": f"arn:aws:s3:::{self.deny_bucket}/*"}]}))
        return True

    # --- both ways -----------------------------------------------------------------------

    def both(self, key, data, fields=None, conditions=None, mutate=None, filename="upload.bin",
             content_type=None, stored_key=None):
        """The scenario directly and through the strip proxy: same status, code and bytes."""
        answers = {}
        for side in (self.direct, self.strip):
            url, f = side.presign(key, fields, conditions)
            if mutate:
                f = mutate(f)
            answers[side.name] = side.post(url, f, data, filename, content_type)
        d, s = answers["direct"], answers["strip"]
        expect(d.status == s.status and d.code == s.code, f"direct {d} but through the proxy {s}")
        stored_key = stored_key or key
        got_d, got_s = self.direct.stored(stored_key), self.strip.stored(stored_key)
        expect(got_d == got_s, f"stored {None if got_d is None else len(got_d)} bytes directly, "
                               f"{None if got_s is None else len(got_s)} through the proxy")
        return d, s

    def plain(self):
        d, s = self.both("plain", self.small)
        expect(s.status == 204, f"plain upload answered {s}")
        expect(self.strip.stored("plain") == self.small, "the stored bytes differ from those sent")
        rec = self.strip_audit.one_line(self.strip.bucket, "plain")
        expect_fields(rec, event="request", op="PostObject", method="POST", status=204, upstream_status=204,
                      bytes_in=SMALL, access_key_id=self.client_key, acl_action="none")

    def large_streams(self):
        data = os.urandom(LARGE)
        url, f = self.strip.presign("large")
        a = self.strip.post(url, f, data)
        expect(a.status == 204, f"answered {a}")
        expect(self.strip.stored("large") == data, "the stored bytes differ from those sent")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "large"), bytes_in=LARGE, status=204)

    def memory_bounded(self):
        """96 MiB streamed through: the proxy's peak RSS grows by far less than the file."""
        pid = os.environ["PP_STRIP_PID"]
        before = peak_rss_kib(pid)
        url, f = self.strip.presign("streamed")
        head, b = multipart(f, b"", close=False)
        tail = b"\r\n--" + b.encode() + b"--\r\n"
        block = os.urandom(1024 * 1024)
        total = len(head) + STREAMED_MIB * len(block) + len(tail)
        u = urllib.parse.urlsplit(url)
        md5 = hashlib.md5()
        with socket.create_connection((u.hostname, u.port), timeout=HTTP_TIMEOUT) as sock:
            sock.sendall((f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {total}\r\n"
                          f"Content-Type: multipart/form-data; boundary={b}\r\nConnection: close\r\n\r\n").encode())
            sock.sendall(head)
            for _ in range(STREAMED_MIB):
                sock.sendall(block)
                md5.update(block)
            sock.sendall(tail)
            raw = b""
            while True:
                got = sock.recv(65536)
                if not got:
                    break
                raw += got
        expect(raw.startswith(b"HTTP/1.1 204"), f"answered {raw[:200]!r}")
        h = rgw().head_object(Bucket=self.strip.bucket, Key="streamed")
        expect(h["ContentLength"] == STREAMED_MIB * len(block), f"stored {h['ContentLength']} bytes")
        expect(h["ETag"].strip('"') == md5.hexdigest(), "the stored object's MD5 differs from what was sent")
        peak = peak_rss_kib(pid) / 1024
        growth = peak - before / 1024
        self.r.note(f"peak RSS {peak:.1f} MiB, grown by {growth:.1f} MiB over a {STREAMED_MIB} MiB upload")
        expect(growth < MAX_RSS_GROWTH_MIB and peak < MAX_PEAK_RSS_MIB, f"peak RSS {peak:.1f} MiB, grew by {growth:.1f} MiB")

    def acl_stripped(self):
        fields, conds = {"acl": "public-read"}, [{"acl": "public-read"}]
        d, s = self.both("acl-public", self.small, fields, conds)
        expect(s.status == 204, f"answered {s}")
        expect(is_public(rgw(), self.direct.bucket, "acl-public"), "the direct upload is not public-read")
        expect(not is_public(rgw(), self.strip.bucket, "acl-public"), "public-read through the strip proxy")
        rec = self.strip_audit.one_line(self.strip.bucket, "acl-public")
        expect_fields(rec, acl_action="stripped", acl_header_x_amz_acl="public-read", status=204)

    def acl_kept_in_audit_mode(self):
        url, f = self.audit.presign("acl-kept", {"acl": "public-read"}, [{"acl": "public-read"}])
        a = self.audit.post(url, f, self.small)
        expect(a.status == 204, f"answered {a}")
        expect(is_public(rgw(), self.audit.bucket, "acl-kept"), "audit mode did not keep public-read")
        expect_fields(self.audit_audit.one_line(self.audit.bucket, "acl-kept"), acl_action="kept",
                      acl_header_x_amz_acl="public-read")

    def status_201(self):
        fields, conds = {"success_action_status": "201"}, [{"success_action_status": "201"}]
        d, s = self.both("st201", self.small, fields, conds)
        expect(s.status == 201, f"answered {s}")
        expect(b"<Key>st201</Key>" in s.body and f"<Bucket>{self.strip.bucket}</Bucket>".encode() in s.body,
               f"201 body {s.body[:300]!r}")
        expect(b"<ETag>" in d.body and b"<ETag>" in s.body, "no ETag in the 201 XML")

    def redirect(self):
        fields, conds = {"success_action_redirect": REDIRECT}, [{"success_action_redirect": REDIRECT}]
        d, s = self.both("redir", self.small, fields, conds)
        expect(s.status == 303, f"answered {s}")
        loc = s.headers.get("location") or s.headers.get("Location") or ""
        expect(loc.startswith(REDIRECT + "?") and f"key=redir" in loc and f"bucket={self.strip.bucket}" in loc,
               f"Location {loc!r}")

    def filename(self):
        d, s = self.both("up/${filename}", self.small, filename="photo one.jpg", stored_key="up/photo one.jpg")
        expect(s.status == 204, f"answered {s}")
        expect(self.strip.stored("up/photo one.jpg") == self.small, "not stored under the file's name")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "up/photo one.jpg"), status=204)

    def metadata(self):
        fields = {"x-amz-meta-color": "blue", "Content-Type": "image/png", "tagging":
                  "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"}
        conds = [{"x-amz-meta-color": "blue"}, ["starts-with", "$Content-Type", "image/"], {"tagging": fields["tagging"]}]
        d, s = self.both("meta", self.small, fields, conds)
        expect(s.status == 204, f"answered {s}")
        hd = rgw().head_object(Bucket=self.direct.bucket, Key="meta")
        hs = rgw().head_object(Bucket=self.strip.bucket, Key="meta")
        expect(hs["Metadata"] == hd["Metadata"] == {"color": "blue"}, f"metadata {hs['Metadata']} vs {hd['Metadata']}")
        expect(hs["ContentType"] == hd["ContentType"] == "image/png", f"type {hs['ContentType']}")
        td = rgw().get_object_tagging(Bucket=self.direct.bucket, Key="meta")["TagSet"]
        ts = rgw().get_object_tagging(Bucket=self.strip.bucket, Key="meta")["TagSet"]
        expect(td == ts, f"tags {ts} through the proxy, {td} directly")

    def file_content_type(self):
        d, s = self.both("ctype", self.small, content_type="image/png")
        expect(s.status == 204, f"answered {s}")
        td = rgw().head_object(Bucket=self.direct.bucket, Key="ctype")["ContentType"]
        ts = rgw().head_object(Bucket=self.strip.bucket, Key="ctype")["ContentType"]
        expect(td == ts, f"content type {ts} through the proxy, {td} directly")

    def length_range(self):
        d, s = self.both("clr", self.small, conditions=[["content-length-range", 1, 1000]])
        expect(s.status == 400 and s.code == "EntityTooLarge", f"answered {s}")
        expect(self.strip.stored("clr") is None, "an object landed")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "clr"), event="write_failed", status=400,
                      upstream_status=400, s3_code="EntityTooLarge", level="warn")

    def uncovered_field(self):
        d, s = self.both("extra", self.small, mutate=lambda f: f + [("x-amz-meta-extra", "1")])
        expect(s.status == 403 and s.code == "AccessDenied", f"answered {s}")
        expect(self.strip.stored("extra") is None, "an object landed")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "extra"), event="write_denied",
                      s3_code="AccessDenied", upstream_status=403)

    def upper_case_names(self):
        upper = lambda f: [(n.upper() if n.lower() != "policy" else "Policy", v) for n, v in f]  # noqa: E731
        d, s = self.both("upper", self.small, mutate=upper)
        expect(s.status == 204, f"answered {s}")

    def fields_after_file(self):
        """S3 ignores fields after the file: an acl there changes nothing either way."""
        for side in (self.direct, self.strip):
            url, f = side.presign("after", {"acl": "private"}, [{"acl": "private"}])
            body, b = multipart(f, self.small, close=False)
            body += (b"\r\n--" + b.encode() + b"\r\nContent-Disposition: form-data; name=\"acl\"\r\n\r\npublic-read"
                     b"\r\n--" + b.encode() + b"--\r\n")
            a = raw_post(url, body, b)
            expect(a.status == 204, f"{side.name} answered {a}")
            expect(side.stored("after") == self.small, f"{side.name}: stored bytes differ")
            expect(not is_public(rgw(), side.bucket, "after"), f"{side.name}: public-read")

    def chunked_refused(self):
        for side in (self.direct, self.strip):
            url, f = side.presign("chunked")
            body, b = multipart(f, self.small)
            a = raw_post(url, body, b, chunked=True)
            expect(a.status == 411 and a.code == "MissingContentLength", f"{side.name} answered {a}")
            expect(side.stored("chunked") is None, f"{side.name}: an object landed")

    def bucket_deny(self):
        side = Side("deny", self.strip.endpoint, self.client_key, self.client_secret, self.deny_bucket)
        url, f = side.presign("denied")
        a = side.post(url, f, self.small)
        expect(a.status == 403 and a.code == "AccessDenied", f"answered {a}")
        expect(not object_exists(rgw(), self.deny_bucket, "denied"), "an object landed")
        expect_fields(self.strip_audit.one_line(self.deny_bucket, "denied"), event="write_denied", level="warn",
                      op="PostObject", status=403, upstream_status=403, s3_code="AccessDenied")

    # --- other clients -------------------------------------------------------------------

    def curl_form(self):
        path = os.path.join(self.work, "curl.bin")
        data = os.urandom(CURL_BYTES)
        with open(path, "wb") as f:
            f.write(data)
        for side in (self.direct, self.strip):
            url, fields = side.presign("curl/${filename}", {"acl": "public-read"}, [{"acl": "public-read"}])
            args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(HTTP_TIMEOUT)]
            for n, v in fields:
                args += ["--form-string", f"{n}={v}"]
            args += ["-F", f"file=@{path};filename=clip.bin", url]
            out = subprocess.run(args, capture_output=True, text=True, timeout=HTTP_TIMEOUT + 5)
            expect(out.stdout == "204", f"{side.name}: curl got {out.stdout!r} {out.stderr.strip()}")
            expect(side.stored("curl/clip.bin") == data, f"{side.name}: stored bytes differ")
        expect(not is_public(rgw(), self.strip.bucket, "curl/clip.bin"), "public-read through the strip proxy")

    def js_presigned_post(self):
        if not os.path.isdir(os.path.join(os.path.dirname(self.js), "node_modules", "@aws-sdk", "s3-presigned-post")):
            raise RuntimeError("@aws-sdk/s3-presigned-post is not installed (npm ci in clients/js)")
        path = os.path.join(self.work, "js.bin")
        with open(path, "wb") as f:
            f.write(self.small)
        results = {}
        for side in (self.direct, self.strip):
            spec = {"endpoint": side.endpoint, "accessKeyId": side.key_id, "secretAccessKey": side.secret,
                    "bucket": side.bucket, "key": "js/${filename}", "file": path, "filename": "from-js.bin",
                    "fields": {"acl": "public-read", "success_action_status": "201"},
                    "conditions": [{"acl": "public-read"}, {"success_action_status": "201"},
                                   ["starts-with", "$key", "js/"]]}
            out = subprocess.run(["node", self.js, json.dumps(spec)], capture_output=True, text=True,
                                 timeout=HTTP_TIMEOUT + 10, env=dict(os.environ, NODE_NO_WARNINGS="1"))
            expect(out.returncode == 0, f"{side.name}: {out.stdout.strip()} {out.stderr.strip()[-300:]}")
            results[side.name] = json.loads(out.stdout.strip().splitlines()[-1])
            expect(side.stored("js/from-js.bin") == self.small, f"{side.name}: stored bytes differ")
        expect(results["direct"]["status"] == results["strip"]["status"] == 201, f"statuses {results}")
        expect("<Key>js/from-js.bin</Key>" in results["strip"]["body"], f"201 body {results['strip']['body']!r}")
        expect(is_public(rgw(), self.direct.bucket, "js/from-js.bin"), "the direct upload is not public-read")
        expect(not is_public(rgw(), self.strip.bucket, "js/from-js.bin"), "public-read through the strip proxy")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "js/from-js.bin"), acl_action="stripped",
                      status=201, bytes_in=SMALL)

    # --- what the proxy answers itself ---------------------------------------------------

    def expired(self):
        url, f = self.strip.presign("expired", expires=-5)
        a = self.strip.post(url, f, self.small)
        expect(a.status == 403 and a.code == "AccessDenied", f"answered {a}")
        expect(s3_message(a.body) == "Invalid according to Policy: Policy expired.", f"message {s3_message(a.body)!r}")
        d_url, d_f = self.direct.presign("expired", expires=-5)
        d = self.direct.post(d_url, d_f, self.small)
        expect(d.status == 403 and d.code == "AccessDenied", f"the RGW answered {d}")
        expect(self.strip.stored("expired") is None, "an object landed")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "expired"), event="write_failed", status=403,
                      upstream_status=None, s3_code="AccessDenied")

    def refusal_reaches_client(self):
        """A 900 KiB upload refused after its fields, its file still on the way: the client
        gets the S3 error once it has sent the rest, not a connection reset."""
        url, f = self.strip.presign("late-refusal", expires=-5)
        body, b = multipart(f, os.urandom(DRAINED))
        u = urllib.parse.urlsplit(url)
        head = (f"POST {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: multipart/form-data; boundary={b}\r\nConnection: close\r\n\r\n").encode()
        raw = b""
        try:
            with socket.create_connection((u.hostname, u.port), timeout=HTTP_TIMEOUT) as sock:
                sock.sendall(head + body[:64 * 1024])
                time.sleep(LATE_SEND_S)  # the proxy has refused by now; the rest is still to come
                sock.sendall(body[64 * 1024:])
                while True:
                    got = sock.recv(65536)
                    if not got:
                        break
                    raw += got
        except OSError as err:
            raise Failed(f"{type(err).__name__} after {len(raw)} bytes of the answer") from None
        expect(raw.startswith(b"HTTP/1.1 403") and b"<Code>AccessDenied</Code>" in raw, f"answered {raw[:200]!r}")
        expect(self.strip.stored("late-refusal") is None, "an object landed")

    def bad_signature(self):
        def tamper(f):
            return [(n, ("0" if v[0] != "0" else "1") + v[1:] if n == "x-amz-signature" else v) for n, v in f]
        answers = {}
        for side in (self.direct, self.strip):
            url, f = side.presign("badsig")
            answers[side.name] = side.post(url, tamper(f), self.small)
            expect(side.stored("badsig") is None, f"{side.name}: an object landed")
        d, s = answers["direct"], answers["strip"]
        expect(d.status == s.status == 403, f"direct {d}, proxy {s}")
        expect(s.code == "SignatureDoesNotMatch", f"the proxy answered {s}")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "badsig"), event="auth_failed", status=403,
                      s3_code="SignatureDoesNotMatch", upstream_status=None, access_key_id=self.client_key)

    def wrong_key(self):
        answers = {}
        for side in (self.direct, self.strip):
            other = Side(side.name, side.endpoint, "AKIANOSUCHKEY0000000", "x" * 40, side.bucket)
            url, f = other.presign("wrongkey")
            answers[side.name] = other.post(url, f, self.small)
            expect(side.stored("wrongkey") is None, f"{side.name}: an object landed")
        d, s = answers["direct"], answers["strip"]
        expect(d.status == s.status == 403, f"direct {d}, proxy {s}")
        expect(s.code == "InvalidAccessKeyId", f"the proxy answered {s}")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "wrongkey"), event="auth_failed",
                      s3_code="InvalidAccessKeyId", access_key_id="AKIANOSUCHKEY0000000")

    def oversized_fields(self):
        url, f = self.strip.presign("toolarge")
        f += [(f"x-amz-meta-pad{i}", "v" * 500) for i in range(45)]
        before = len(self.strip_audit.records())
        a = self.strip.post(url, f, self.small)
        expect(a.status == 400 and a.code == "MaxPostPreDataLengthExceededError", f"answered {a}")
        expect(self.strip.stored("toolarge") is None, "an object landed")
        self.expect_new_line(before, event="write_failed", s3_code="MaxPostPreDataLengthExceededError",
                             upstream_status=None, bucket=self.strip.bucket)

    def expect_new_line(self, before, **want):
        deadline = time.monotonic() + 5
        while True:
            new = self.strip_audit.records()[before:]
            if new or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        expect(len(new) == 1, f"{len(new)} new audit lines, expected one")
        expect_fields(new[0], **want)

    def refused_form(self, key, build, code, status=400):
        """A hand-made form the proxy refuses: the S3 error, nothing stored, one write_failed line."""
        url, f = self.strip.presign(key)
        body, b = build(f)
        before = len(self.strip_audit.records())
        a = raw_post(url, body, b)
        expect(a.status == status and a.code == code, f"answered {a}")
        expect(self.strip.stored(key) is None, "an object landed")
        self.expect_new_line(before, event="write_failed", s3_code=code, upstream_status=None)

    def missing_final_boundary(self):
        self.refused_form("noclose", lambda f: multipart(f, self.small, close=False), "MalformedPOSTRequest")

    def boundary_in_content(self):
        b = "ppBoundary7MA4YWxkTrZu0gW"
        data = self.small[:1000] + b"\r\n--" + b.encode() + b"X" + self.small[1000:2000]
        self.refused_form("inside", lambda f: multipart(f, data, boundary=b), "MalformedPOSTRequest")

    def crlf_in_field(self):
        def build(f):
            return multipart(f + [("x-amz-meta-a", "x\r\nx-amz-acl: public-read")], self.small)
        self.refused_form("crlf", build, "InvalidArgument")

    def duplicate_fields(self):
        self.refused_form("dup", lambda f: multipart(f + [("KEY", "dup-other")], self.small), "InvalidArgument")

    def cut_mid_file(self):
        url, f = self.strip.presign("cut")
        data = os.urandom(LARGE)
        body, b = multipart(f, data)
        raw_post(url, body, b, cut_at=len(body) // 2)
        time.sleep(CUT_SETTLE_S)
        expect(self.strip.stored("cut") is None, "an object landed")
        rec = self.strip_audit.one_line(self.strip.bucket, "cut")
        expect_fields(rec, event="write_failed", s3_code="IncompleteBody")

    def cut_before_closing_boundary(self):
        """The whole file arrived, its end did not: nothing may land either."""
        url, f = self.strip.presign("cut-end")
        body, b = multipart(f, self.small)
        raw_post(url, body, b, cut_at=len(body) - 3)
        time.sleep(CUT_SETTLE_S)
        expect(self.strip.stored("cut-end") is None, "an object landed")
        expect_fields(self.strip_audit.one_line(self.strip.bucket, "cut-end"), event="write_failed")

    def no_secret_in_audit(self):
        text = self.strip_audit.text() + self.audit_audit.text()
        for secret in (self.client_secret, os.environ["RGW_SECRET_KEY"]):
            expect(secret not in text, "a secret is in the audit log")
        expect("x-amz-signature" not in text.lower() and "policy\":" not in text, "form credentials in the audit log")

    def run(self):
        r = self.r
        if not r.check("setup", self.setup):
            return
        for name in ("plain", "large_streams", "memory_bounded", "acl_stripped", "acl_kept_in_audit_mode", "status_201", "redirect",
                     "filename", "metadata", "file_content_type", "length_range", "uncovered_field",
                     "upper_case_names", "fields_after_file", "chunked_refused", "bucket_deny", "curl_form",
                     "js_presigned_post", "expired", "refusal_reaches_client", "bad_signature", "wrong_key", "oversized_fields",
                     "missing_final_boundary", "boundary_in_content", "crlf_in_field", "duplicate_fields",
                     "cut_mid_file", "cut_before_closing_boundary", "no_secret_in_audit"):
            r.check(name, getattr(self, name))


if __name__ == "__main__":
    main_guard(lambda: Suite().run())
