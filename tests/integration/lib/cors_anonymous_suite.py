"""Suite "cors_anonymous": browser preflights and anonymous requests pass through as if the
proxy were not there, and the proxy never lends its identity to either.

Each scenario runs with real clients straight against the RGW and through a proxy, and
must give the same status, S3 error code, Access-Control-* headers and stored bytes both
ways: curl for raw preflights and anonymous requests, boto3 for the bucket's CORS
configuration and ACLs (set directly on the RGW, or through the proxy where that is the
point). Proxies (all [acl] mode strip):
  fwd     in front of the RGW, [server] anonymous = "forward"
  refuse  in front of the RGW, anonymous left at its default "refuse"
  fake    anonymous = "forward", in front of fakes/fake_recording_upstream.py, which
          records every header it receives: a real S3 server answers an OPTIONS or a public
          GET alike with or without credentials, so only the recording shows that the proxy
          sent no Authorization of its own.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, CA_FWD_ENDPOINT, CA_FWD_ADMIN,
CA_FWD_LOG, CA_REFUSE_ENDPOINT, CA_REFUSE_LOG, CA_FAKE_ENDPOINT, CA_FAKE_LOG,
CA_FAKE_RECORD, CA_CLIENT_KEY, CA_CLIENT_SECRET. Run with Debian's /usr/bin/python3.
"""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402
from suite import (AuditLog, Failed, Results, expect, expect_absent, expect_acl, expect_bytes,  # noqa: E402
                   expect_fields, main_guard, rgw, s3_client)

RUN = f"{int(time.time()) % 100000:05d}"
ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
CORS_RULES = {"CORSRules": [
    {"AllowedOrigins": [ORIGIN], "AllowedMethods": ["GET", "PUT", "HEAD"], "AllowedHeaders": ["*"],
     "ExposeHeaders": ["ETag", "x-amz-request-id"], "MaxAgeSeconds": 600}]}
# Every request here is small and local; this only bounds a hung server.
CURL_TIMEOUT_S = 30
# The proxies' [server] max_header_bytes (the default): a header section beyond it is refused.
MAX_HEADER_BYTES = 16384
# What a client acts on in an answer to a preflight or a cross-origin request.
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials",
                "vary")


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
        self.code = m.group(1).decode() if m else None

    def header(self, name):
        return self.headers.get(name.lower())

    def view(self):
        """What must be equal both ways: status, S3 code, the CORS headers, the body (ids and
        the bucket name, which differ by nature, replaced)."""
        cors = tuple((k, self.headers[k]) for k in CORS_HEADERS if k in self.headers)
        body = re.sub(rb"<(RequestId|HostId)>[^<]*</\1>", rb"<\1>X</\1>", self.body or b"")
        body = re.sub(rb"<BucketName>[^<]*</BucketName>", b"<BucketName>B</BucketName>", body)
        return self.status, self.code, cors, hashlib.sha256(body).hexdigest()[:16]

    def __repr__(self):
        return f"{self.status} {self.code or ''}".strip()


def curl(method, url, headers=(), data=None):
    """One request with curl: (status, headers lower-cased, body). data=bytes for a body."""
    with tempfile.TemporaryDirectory() as tmp:
        head, body = os.path.join(tmp, "head"), os.path.join(tmp, "body")
        cmd = ["curl", "-s", "-S", "--max-time", str(CURL_TIMEOUT_S), "-X", method, "-D", head, "-o", body,
               "-H", "Expect:"]
        if method == "HEAD":
            cmd[cmd.index("-X"):cmd.index("-X") + 2] = ["-I"]
        for name, value in headers:
            # curl drops a header given as "Name:"; "Name;" sends it with an empty value.
            cmd += ["-H", f"{name}: {value}" if value else f"{name};"]
        if data is not None:
            cmd += ["--data-binary", "@-"]
        cmd.append(url)
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=CURL_TIMEOUT_S + 5, check=False)
        if done.returncode != 0:
            raise Failed(f"curl {method} {url}: exit {done.returncode}: {done.stderr.decode().strip()}")
        with open(head, "rb") as f:
            blocks = [b for b in f.read().split(b"\r\n\r\n") if b.strip()]
        with open(body, "rb") as f:
            payload = f.read() if method != "HEAD" else b""  # curl -I writes the head there
    lines = blocks[-1].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers_out = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers_out[name.strip().lower()] = value.strip()
    return Answer(status, headers_out, payload)


def raw_exchange(endpoint, raw):
    """Sends raw bytes as a request; returns the status line's code and the whole answer."""
    parts = urllib.parse.urlsplit(endpoint)
    with socket.create_connection((parts.hostname, parts.port), timeout=CURL_TIMEOUT_S) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return (int(m.group(1)) if m else None), data


class Env:
    def __init__(self):
        e = os.environ
        self.rgw = e["RGW_ENDPOINT"]
        self.fwd, self.refuse, self.fake = e["CA_FWD_ENDPOINT"], e["CA_REFUSE_ENDPOINT"], e["CA_FAKE_ENDPOINT"]
        self.fwd_admin = e["CA_FWD_ADMIN"]
        self.fwd_log, self.refuse_log = AuditLog(e["CA_FWD_LOG"]), AuditLog(e["CA_REFUSE_LOG"])
        self.fake_log = AuditLog(e["CA_FAKE_LOG"])
        self.tag, self.tag_log = e["CA_TAG_ENDPOINT"], AuditLog(e["CA_TAG_LOG"])
        self.fake_record = e["CA_FAKE_RECORD"]
        self.client = (e["CA_CLIENT_KEY"], e["CA_CLIENT_SECRET"])
        self.rgw_key = (e["RGW_ACCESS_KEY"], e["RGW_SECRET_KEY"])
        self.cors = f"ca-cors-{RUN}"      # CORS configured; objects pub (public-read) and priv
        self.nocors = f"ca-nocors-{RUN}"  # no CORS configuration; object pub (public-read)
        self.drop = f"ca-drop-{RUN}"      # its policy lets anyone PutObject

    def url(self, endpoint, bucket, key="", query=""):
        path = f"/{bucket}" + (f"/{urllib.parse.quote(key)}" if key else "")
        return f"{endpoint}{path}" + (f"?{query}" if query else "")

    def recorded(self, needle):
        """The fake upstream's records whose target contains needle."""
        try:
            with open(self.fake_record, encoding="utf-8") as f:
                return [r for r in map(json.loads, f) if needle in r["target"]]
        except FileNotFoundError:
            return []

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.fwd_admin}/metrics", timeout=5) as resp:
            return resp.read().decode()


def same_both_ways(direct, through, what):
    expect(direct.view() == through.view(), f"{what}: directly {direct.view()} != through the proxy {through.view()}")


def expect_unsigned(env, needle, want_requests=1):
    """The fake upstream got want_requests requests for needle, none with credentials."""
    deadline = time.monotonic() + 5
    records = env.recorded(needle)
    while len(records) < want_requests and time.monotonic() < deadline:
        time.sleep(0.05)
        records = env.recorded(needle)
    expect(len(records) == want_requests, f"the upstream got {len(records)} requests for {needle}, "
                                          f"expected {want_requests}")
    for r in records:
        for name in ("authorization", "x-amz-date", "x-amz-security-token"):
            expect(name not in r["headers"], f"the upstream got {name}: {r['headers'].get(name)!r} for {needle}")
        expect("X-Amz-" not in r["target"], f"the upstream got credentials in the target {r['target']}")
    return records


def audit_line(log, bucket, key, **want):
    rec = log.one_line(bucket, key)
    expect_fields(rec, **want)
    return rec


# ---------------------------------------------------------------- set-up

def set_up(env):
    r = rgw()
    for b in (env.cors, env.nocors, env.drop):
        r.create_bucket(Bucket=b)
    r.put_object(Bucket=env.cors, Key="pub", Body=b"public bytes\n" * 7, ACL="public-read")
    r.put_object(Bucket=env.cors, Key="priv", Body=b"private bytes\n")
    r.put_object(Bucket=env.cors, Key="priv-anon", Body=b"private bytes, asked for anonymously\n")
    r.put_object(Bucket=env.nocors, Key="pub", Body=b"public, no cors\n", ACL="public-read")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": ["s3:PutObject"], "Resource": [f"arn:aws:s3:::{env.drop}/*"]}]}
    r.put_bucket_policy(Bucket=env.drop, Policy=json.dumps(policy))


# ---------------------------------------------------------------- CORS

def cors_configured_through_proxy(env):
    """PutBucketCors with boto3 through the proxy (a signed request like any other) lands."""
    s3_client(env.fwd, *env.client).put_bucket_cors(Bucket=env.cors, CORSConfiguration=CORS_RULES)
    got = rgw().get_bucket_cors(Bucket=env.cors)["CORSRules"]
    expect(len(got) == 1 and got[0]["AllowedOrigins"] == [ORIGIN], f"CORS on the RGW: {got}")


def preflight(env, endpoint, bucket, key, origin=ORIGIN, method="PUT", extra=()):
    headers = [("Origin", origin)] if origin else []
    if method:
        headers.append(("Access-Control-Request-Method", method))
    return curl("OPTIONS", env.url(endpoint, bucket, key), headers + list(extra))


def preflight_allowed(env):
    extra = [("Access-Control-Request-Headers", "content-type,x-amz-acl")]
    direct = preflight(env, env.rgw, env.cors, "pub", extra=extra)
    through = preflight(env, env.fwd, env.cors, "pub", extra=extra)
    expect(direct.status == 200 and direct.header("access-control-allow-origin") == ORIGIN,
           f"directly: {direct} {direct.headers}")
    same_both_ways(direct, through, "allowed preflight")
    audit_line(env.fwd_log, env.cors, "pub", op="PreflightRequest", access_key_id="anonymous", status=200,
               upstream_status=200, event="request")


def preflight_allowed_through_refusing_proxy(env):
    """anonymous = "refuse" concerns requests that could carry credentials; a preflight never does."""
    direct = preflight(env, env.rgw, env.cors, "priv", method="GET")
    through = preflight(env, env.refuse, env.cors, "priv", method="GET")
    expect(direct.status == 200, f"directly: {direct}")
    same_both_ways(direct, through, "preflight through the refusing proxy")


def preflight_origin_not_allowed(env):
    direct = preflight(env, env.rgw, env.cors, "priv", origin=OTHER_ORIGIN)
    through = preflight(env, env.fwd, env.cors, "priv", origin=OTHER_ORIGIN)
    expect(direct.status == 403, f"directly: {direct}")
    same_both_ways(direct, through, "preflight from an origin not allowed")


def preflight_bucket_without_cors(env):
    direct = preflight(env, env.rgw, env.nocors, "pub")
    through = preflight(env, env.fwd, env.nocors, "pub")
    expect(direct.status == 403 and direct.code == "AccessDenied", f"directly: {direct}")
    same_both_ways(direct, through, "preflight on a bucket without CORS")
    audit_line(env.fwd_log, env.nocors, "pub", op="PreflightRequest", access_key_id="anonymous", status=403,
               upstream_status=403, s3_code="AccessDenied")


def options_not_a_preflight(env):
    for label, origin, method, key in (("no Origin", None, "PUT", "np1"), ("no request method", ORIGIN, None, "np2"),
                                       ("neither", None, None, "np3")):
        direct = preflight(env, env.rgw, env.cors, key, origin=origin, method=method)
        through = preflight(env, env.fwd, env.cors, key, origin=origin, method=method)
        expect(direct.status == 400, f"{label}: directly {direct}")
        same_both_ways(direct, through, f"OPTIONS with {label}")


def cors_headers_on_ordinary_get(env):
    """A signed GET carrying Origin: the upstream's Access-Control-* headers reach the client."""
    answers = []
    for endpoint, key in ((env.rgw, env.rgw_key), (env.fwd, env.client)):
        url = env.url(endpoint, env.cors, "priv")
        signed, _ = s3raw.sign("GET", url, {"Host": s3raw.host_of(endpoint), "Origin": ORIGIN}, s3raw.EMPTY_SHA256,
                               *key)
        resp = s3raw.send(url, "GET", signed)
        answers.append(Answer(resp.status, {k.lower(): v for k, v in resp.headers}, resp.body))
    direct, through = answers
    expect(direct.status == 200 and direct.header("access-control-allow-origin") == ORIGIN,
           f"directly: {direct} {direct.headers}")
    same_both_ways(direct, through, "signed GET with Origin")


def cors_headers_on_anonymous_get(env):
    direct = curl("GET", env.url(env.rgw, env.cors, "pub"), [("Origin", ORIGIN)])
    through = curl("GET", env.url(env.fwd, env.cors, "pub"), [("Origin", ORIGIN)])
    expect(direct.status == 200 and direct.header("access-control-expose-headers"), f"directly: {direct.headers}")
    same_both_ways(direct, through, "anonymous GET with Origin")


def signed_options_relayed(env):
    """An OPTIONS that carries valid credentials is verified, then answered as the RGW answers it."""
    answers = []
    for endpoint, key in ((env.rgw, env.rgw_key), (env.fwd, env.client)):
        url = env.url(endpoint, env.cors, "signed-options")
        signed, _ = s3raw.sign("OPTIONS", url, {"Host": s3raw.host_of(endpoint), "Origin": ORIGIN,
                                                "Access-Control-Request-Method": "GET"}, s3raw.EMPTY_SHA256, *key)
        resp = s3raw.send(url, "OPTIONS", signed)
        answers.append(Answer(resp.status, {k.lower(): v for k, v in resp.headers}, resp.body))
    expect(answers[0].status == 200, f"directly: {answers[0]}")
    same_both_ways(*answers, "signed OPTIONS")
    audit_line(env.fwd_log, env.cors, "signed-options", op="PreflightRequest", access_key_id=env.client[0],
               status=200)


def options_never_signed_by_proxy(env):
    """Preflight, non-preflight OPTIONS and a signed OPTIONS reach the upstream without credentials."""
    a = preflight(env, env.fake, "ca-fake", "pre-flight")
    b = preflight(env, env.fake, "ca-fake", "not-pre-flight", origin=None, method=None)
    url = env.url(env.fake, "ca-fake", "signed-pre-flight")
    signed, _ = s3raw.sign("OPTIONS", url, {"Host": s3raw.host_of(env.fake), "Origin": ORIGIN,
                                            "Access-Control-Request-Method": "GET"}, s3raw.EMPTY_SHA256, *env.client)
    c = s3raw.send(url, "OPTIONS", signed)
    expect((a.status, b.status, c.status) == (200, 200, 200), f"answers {a}, {b}, {c.status}")
    expect(a.header("access-control-allow-origin") == ORIGIN, f"preflight answer lost its CORS header: {a.headers}")
    expect_unsigned(env, "/pre-flight")
    expect_unsigned(env, "/not-pre-flight")
    expect_unsigned(env, "/signed-pre-flight")


def options_with_bad_authorization(env):
    """An OPTIONS whose Authorization does not verify is refused, not forwarded as anonymous.
    Here the proxy is stricter than the RGW, which answers an OPTIONS signed with a known key
    and a wrong secret from the CORS configuration, as if unsigned (measured: 200)."""
    url = env.url(env.fwd, env.cors, "bad-auth-options")
    signed, _ = s3raw.sign("OPTIONS", url, {"Host": s3raw.host_of(env.fwd), "Origin": ORIGIN,
                                            "Access-Control-Request-Method": "GET"}, s3raw.EMPTY_SHA256,
                           env.client[0], "not-the-secret")
    through = s3raw.send(url, "OPTIONS", signed)
    direct_url = env.url(env.rgw, env.cors, "bad-auth-options")
    signed, _ = s3raw.sign("OPTIONS", direct_url, {"Host": s3raw.host_of(env.rgw), "Origin": ORIGIN,
                                                   "Access-Control-Request-Method": "GET"}, s3raw.EMPTY_SHA256,
                           env.rgw_key[0], "not-the-secret")
    direct = s3raw.send(direct_url, "OPTIONS", signed)
    Results.note(f"OPTIONS signed with a wrong secret: the RGW answers {direct}, the proxy {through}")
    expect(through.status == 403 and through.code == "SignatureDoesNotMatch", f"through the proxy {through}")
    audit_line(env.fwd_log, env.cors, "bad-auth-options", event="auth_failed", status=403, upstream_status=None)
    fake_url = env.url(env.fake, "ca-fake", "bad-auth-pre-flight")
    signed, _ = s3raw.sign("OPTIONS", fake_url, {"Host": s3raw.host_of(env.fake), "Origin": ORIGIN,
                                                 "Access-Control-Request-Method": "GET"}, s3raw.EMPTY_SHA256,
                           env.client[0], "not-the-secret")
    expect(s3raw.send(fake_url, "OPTIONS", signed).status == 403, "refused through the fake's proxy")
    expect_unsigned(env, "/bad-auth-pre-flight", want_requests=0)


def preflight_large_header(env):
    """Access-Control-Request-Headers of 12 KiB: within the limit, answered as the RGW answers."""
    names = ",".join(f"x-amz-meta-h{i:04d}" for i in range(700))[:12 * 1024].rstrip(",")
    extra = [("Access-Control-Request-Headers", names)]
    direct = preflight(env, env.rgw, env.cors, "big", extra=extra)
    through = preflight(env, env.fwd, env.cors, "big", extra=extra)
    same_both_ways(direct, through, "preflight with a 12 KiB header")


def preflight_header_over_limit(env):
    extra = [("Access-Control-Request-Headers", "x" * (MAX_HEADER_BYTES + 1024))]
    through = preflight(env, env.fake, "ca-fake", "too-big-pre-flight", extra=extra)
    expect(through.status == 400 and through.code == "RequestHeaderSectionTooLarge", f"through the proxy {through}")
    expect_unsigned(env, "/too-big-pre-flight", want_requests=0)
    after = preflight(env, env.fake, "ca-fake", "after-too-big")
    expect(after.status == 200, f"the proxy no longer serves preflights: {after}")


def preflight_line_break_injection(env):
    """A bare CR or LF inside a preflight header is refused; nothing of it reaches the upstream."""
    host = s3raw.host_of(env.fake).encode()
    for n, evil in enumerate((b"Origin: https://app.example\rX-Injected: yes\r\n",
                              b"Origin: https://app.example\nX-Injected: yes\r\n",
                              b"Origin: https://app.example\r\n X-Injected: folded\r\n")):
        raw = (b"OPTIONS /ca-fake/crlf-" + str(n).encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + evil +
               b"Access-Control-Request-Method: PUT\r\nConnection: close\r\n\r\n")
        status, answer = raw_exchange(env.fake, raw)
        expect(status == 400, f"case {n}: answered {status}: {answer[:120]!r}")
        expect_unsigned(env, f"/crlf-{n}", want_requests=0)
    # Percent-encoded line breaks in the target stay encoded upstream: no header is injected.
    answer = curl("OPTIONS", env.url(env.fake, "ca-fake", "crlf-encoded", "x=%0d%0aX-Injected:%20yes"),
                  [("Origin", ORIGIN), ("Access-Control-Request-Method", "PUT")])
    expect(answer.status == 200, f"encoded line breaks: {answer}")
    rec = expect_unsigned(env, "/crlf-encoded")[0]
    expect("x-injected" not in rec["headers"] and "\r" not in rec["target"] and "\n" not in rec["target"],
           f"the upstream got {rec}")


# ---------------------------------------------------------------- anonymous requests

def anonymous_get_public(env):
    direct = curl("GET", env.url(env.rgw, env.cors, "pub"))
    through = curl("GET", env.url(env.fwd, env.cors, "pub"))
    expect(direct.status == 200 and direct.body == b"public bytes\n" * 7, f"directly: {direct}")
    same_both_ways(direct, through, "anonymous GET of a public-read object")
    expect(through.body == direct.body, "bytes differ")
    head_direct = curl("HEAD", env.url(env.rgw, env.nocors, "pub"))
    head_through = curl("HEAD", env.url(env.fwd, env.nocors, "pub"))
    expect(head_direct.status == 200, f"HEAD directly: {head_direct}")
    same_both_ways(head_direct, head_through, "anonymous HEAD of a public-read object")


def anonymous_get_private(env):
    """Never the proxy's identity: a private object stays private through the proxy."""
    direct = curl("GET", env.url(env.rgw, env.cors, "priv-anon"))
    through = curl("GET", env.url(env.fwd, env.cors, "priv-anon"))
    expect(direct.status == 403 and direct.code == "AccessDenied", f"directly: {direct}")
    same_both_ways(direct, through, "anonymous GET of a private object")
    audit_line(env.fwd_log, env.cors, "priv-anon", op="GetObject", access_key_id="anonymous", status=403,
               upstream_status=403, s3_code="AccessDenied")
    for what, endpoint_key in (("list", ("", "")), ("head", ("priv", ""))):
        key, query = endpoint_key
        method = "HEAD" if what == "head" else "GET"
        d = curl(method, env.url(env.rgw, env.cors, key, query))
        t = curl(method, env.url(env.fwd, env.cors, key, query))
        expect(d.status == 403, f"{what} directly: {d}")
        same_both_ways(d, t, f"anonymous {what} of a private bucket/object")


def anonymous_get_reaches_upstream_unsigned(env):
    answer = curl("GET", env.url(env.fake, "ca-fake", "anon-get"), [("x-amz-meta-hint", "1")])
    expect(answer.status == 200 and answer.body == b"recorded\n", f"through the proxy: {answer}")
    expect_unsigned(env, "/anon-get")
    audit_line(env.fake_log, "ca-fake", "anon-get", op="GetObject", access_key_id="anonymous", status=200)


def anonymous_put_allowed_by_policy(env):
    body = b"anonymous upload " * 100
    headers = [("x-amz-acl", "public-read"), ("Content-Type", "text/plain")]
    direct = curl("PUT", env.url(env.rgw, env.drop, "direct/obj"), headers, body)
    through = curl("PUT", env.url(env.fwd, env.drop, "proxy/obj"), headers, body)
    expect(direct.status == 200, f"directly: {direct}")
    expect(direct.view()[:2] == through.view()[:2], f"directly {direct}, through the proxy {through}")
    expect(direct.header("etag") == through.header("etag"), f"ETags {direct.header('etag')} {through.header('etag')}")
    expect_bytes(env.drop, "direct/obj", body)
    expect_bytes(env.drop, "proxy/obj", body)
    expect_acl(env.drop, "direct/obj", public=True)
    expect_acl(env.drop, "proxy/obj", public=False)  # mode strip: the ACL never reached the RGW
    audit_line(env.fwd_log, env.drop, "proxy/obj", op="PutObject", access_key_id="anonymous", status=200,
               event="request", acl_action="stripped", acl_header_x_amz_acl="public-read")


def anonymous_put_not_allowed(env):
    body = b"not allowed"
    direct = curl("PUT", env.url(env.rgw, env.cors, "direct-denied"), [], body)
    through = curl("PUT", env.url(env.fwd, env.cors, "proxy-denied"), [], body)
    expect(direct.status == 403 and direct.code == "AccessDenied", f"directly: {direct}")
    expect(direct.view()[:2] == through.view()[:2], f"directly {direct}, through the proxy {through}")
    expect_absent(env.cors, "direct-denied")
    expect_absent(env.cors, "proxy-denied")
    audit_line(env.fwd_log, env.cors, "proxy-denied", op="PutObject", access_key_id="anonymous", status=403,
               event="write_denied", level="warn")


def anonymous_refused_by_default(env):
    """anonymous = "refuse": 403 AccessDenied from the proxy and nothing forwarded, even where
    the RGW would have let it through (a public object, a bucket open to anonymous writes)."""
    got = curl("GET", env.url(env.refuse, env.cors, "pub"))
    expect(got.status == 403 and got.code == "AccessDenied", f"GET of a public object: {got}")
    audit_line(env.refuse_log, env.cors, "pub", status=403, upstream_status=None, s3_code="AccessDenied")
    put = curl("PUT", env.url(env.refuse, env.drop, "refused/obj"), [], b"must not land")
    expect(put.status == 403 and put.code == "AccessDenied", f"PUT into an open bucket: {put}")
    expect_absent(env.drop, "refused/obj")
    audit_line(env.refuse_log, env.drop, "refused/obj", status=403, upstream_status=None, s3_code="AccessDenied")


def partial_authorization_is_not_anonymous(env):
    """Broken credentials are refused as broken, never forwarded as anonymous (a public object
    would answer 200 to an anonymous GET)."""
    cases = [("empty", [("Authorization", "")], ""),
             ("scheme only", [("Authorization", "AWS4-HMAC-SHA256")], ""),
             ("no signature", [("Authorization", f"AWS4-HMAC-SHA256 Credential={env.client[0]}/20260101/us-east-1/"
                                                 "s3/aws4_request, SignedHeaders=host")], ""),
             ("token only", [("x-amz-security-token", "FQoGZXIvYXdzEXAMPLE")], ""),
             ("presigned, no signature", [], "X-Amz-Algorithm=AWS4-HMAC-SHA256"),
             ("bad presigned signature", [], f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={env.client[0]}"
                                             "%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
                                             "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64)]
    for n, (label, headers, query) in enumerate(cases):
        got = curl("GET", env.url(env.fwd, env.cors, "pub", query), headers)
        expect(got.status in (400, 403) and got.code, f"{label}: {got}")
        fake = curl("GET", env.url(env.fake, "ca-fake", f"partial-{n}", query), headers)
        expect(fake.status in (400, 403), f"{label} (fake upstream): {fake}")
        expect_unsigned(env, f"/partial-{n}", want_requests=0)
        audit_line(env.fake_log, "ca-fake", f"partial-{n}", event="auth_failed", upstream_status=None)


def anonymous_signed_chunks_refused(env):
    got = curl("PUT", env.url(env.fwd, env.drop, "chunks/obj"),
               [("x-amz-content-sha256", s3raw.STREAMING_SIGNED), ("x-amz-decoded-content-length", "5")],
               b"5;chunk-signature=" + b"0" * 64 + b"\r\nhello\r\n")
    expect(got.status == 400 and got.code == "InvalidRequest", f"through the proxy: {got}")
    expect_absent(env.drop, "chunks/obj")


def preflight_metric(env):
    text = env.metrics()
    line = next((l for l in text.splitlines()
                 if l.startswith('s3_acl_proxy_requests_total{op="PreflightRequest",status="2xx"}')), None)
    expect(line is not None and float(line.split()[-1]) >= 1, f"no PreflightRequest 2xx count: {line}")


def anonymous_never_lent_identity_for_tags(env):
    """acl_requests = "tag" with anonymous = "forward": an anonymous PUT ?acl and an anonymous
    private copy would need the proxy to read or write tags with its storage identity; both
    are refused 403 AccessDenied and nothing at all reaches the upstream."""
    acl = curl("PUT", env.url(env.tag, env.drop, "tag-anon/acl", "acl"), [("x-amz-acl", "private")], b"")
    expect(acl.status == 403 and acl.code == "AccessDenied", f"anonymous PUT ?acl: {acl}")
    audit_line(env.tag_log, env.drop, "tag-anon/acl", access_key_id="anonymous", status=403, upstream_status=None,
               s3_code="AccessDenied")
    copy = curl("PUT", env.url(env.tag, env.drop, "tag-anon/copy"),
                [("x-amz-copy-source", f"/{env.drop}/tag-anon/source"), ("x-amz-acl", "private")], b"")
    expect(copy.status == 403 and copy.code == "AccessDenied", f"anonymous private copy: {copy}")
    audit_line(env.tag_log, env.drop, "tag-anon/copy", access_key_id="anonymous", status=403, upstream_status=None,
               s3_code="AccessDenied")
    expect(env.recorded("tag-anon/") == [], f"the upstream got {env.recorded('tag-anon/')}")


def main():
    env = Env()
    results = Results()
    set_up(env)
    checks = [
        ("cors_config_put_through_proxy", cors_configured_through_proxy),
        ("preflight_allowed_same_both_ways", preflight_allowed),
        ("preflight_through_refusing_proxy", preflight_allowed_through_refusing_proxy),
        ("preflight_origin_not_allowed_403_both_ways", preflight_origin_not_allowed),
        ("preflight_bucket_without_cors_403_relayed", preflight_bucket_without_cors),
        ("options_not_a_preflight_400_relayed", options_not_a_preflight),
        ("cors_headers_on_signed_get_pass_through", cors_headers_on_ordinary_get),
        ("cors_headers_on_anonymous_get_pass_through", cors_headers_on_anonymous_get),
        ("signed_options_same_both_ways", signed_options_relayed),
        ("options_never_signed_by_proxy", options_never_signed_by_proxy),
        ("options_with_bad_authorization_refused", options_with_bad_authorization),
        ("preflight_large_header_same_both_ways", preflight_large_header),
        ("preflight_header_over_limit_refused", preflight_header_over_limit),
        ("preflight_line_break_injection_refused", preflight_line_break_injection),
        ("anonymous_get_public_200_both_ways", anonymous_get_public),
        ("anonymous_get_private_403_both_ways", anonymous_get_private),
        ("anonymous_get_reaches_upstream_unsigned", anonymous_get_reaches_upstream_unsigned),
        ("anonymous_put_allowed_by_policy_lands_acl_stripped", anonymous_put_allowed_by_policy),
        ("anonymous_put_not_allowed_403_both_ways", anonymous_put_not_allowed),
        ("anonymous_refused_by_default_nothing_forwarded", anonymous_refused_by_default),
        ("partial_authorization_is_not_anonymous", partial_authorization_is_not_anonymous),
        ("anonymous_signed_chunks_refused", anonymous_signed_chunks_refused),
        ("preflight_counted_in_metrics", preflight_metric),
        ("anonymous_never_lent_identity_for_tags", anonymous_never_lent_identity_for_tags),
    ]
    for name, fn in checks:
        results.check(name, fn, env)


if __name__ == "__main__":
    main_guard(main)
