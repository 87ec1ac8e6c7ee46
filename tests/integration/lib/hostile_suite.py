#!/usr/bin/python3
"""The checks of suites/hostile.sh: crafted requests a hostile or broken client may send, each
one row of a table, sent byte for byte over a raw socket to a proxy (strip mode,
acl_requests = "reject") in front of the real RGW.

A row names the case, builds its bytes, and says what the proxy must answer (HTTP status and
S3 error code) and whether the request is a write. For every row the suite checks:
  - the answer: exactly that status and, in the XML body, that <Code> (HEAD: the status);
  - one request, one answer: no second response on the connection, and for framing errors the
    proxy closes the connection after answering;
  - the audit log: exactly one new line, with that status and s3_code (and the event the
    contract names, where it names one); a refused write is never logged at info;
  - nothing landed, judged on the RGW with its own key: the bucket's listing, its multipart
    uploads and the list of buckets are unchanged, the victim object (the target of every
    smuggled DELETE) still exists with the same ETag, no injected key exists, and the objects
    an ACL request aimed at are still private;
  - the proxy still serves: a normal signed GET on a new connection returns the victim.

Many bodies carry a complete second request (a PUT of an injected key with x-amz-acl
public-read and a DELETE of the victim), signed with the client's key, so that if the proxy
ever read the body as requests they would be accepted and their effects would show on the RGW.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, HOSTILE_ENDPOINT (the path-style proxy),
     HOSTILE_AUDIT (its audit log), HOSTILE_VHOST_ENDPOINT / HOSTILE_VHOST_AUDIT (the proxy
     with server.domains = ["s3.local"] and upstream.addressing = "virtual"; optional),
     HOSTILE_CLIENT_KEY, HOSTILE_CLIENT_SECRET; HOSTILE_ONLY (a regular expression: run only
     the rows whose name it matches, when working on one).
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import re
import socket
import sys
import time
import typing
import urllib.parse
import zlib

# The shared modules sit beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402
import suite  # noqa: E402
from suite import ALL_USERS, Failed, Results, main_guard, object_exists  # noqa: E402

_RGW = None


def rgw():
    """The RGW with its own key (one client for the run)."""
    global _RGW
    if _RGW is None:
        _RGW = suite.rgw()
    return _RGW


CRLF = b"\r\n"
GIB = 1024 ** 3
# S3's largest single PUT; the contract refuses any declared length above it.
MAX_PUT = 5 * GIB
U64 = 2 ** 64
# aws-chunked framing as the proxy writes it upstream (proxy/chunked.cpp encoded_length):
# "<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n", in 64 KiB chunks, then the empty chunk.
UPSTREAM_CHUNK = 65536
SIG_NAME = len("chunk-signature")
SIG_HEX = 64
# Limits the contract sets for the request head.
HEAD_LIMIT = 16 * 1024
MAX_FIELDS = 100
# An access key id in the audit log is cut to 128 characters and "...".
AUDIT_KEY_MAX = 131
# Waiting for an answer: the proxy answers a refusal at once; a request it wrongly waits on
# (a body that never comes) is a failure after this long.
ANSWER_TIMEOUT_S = 3.0
# After the answer, how long to watch the connection for a second answer (a request smuggled
# in the body) or for the close a framing error must bring.
AFTER_ANSWER_S = 0.2
# A body sent in parts (Part rows) pauses this long between them: time enough for the proxy to
# forward what it has and for the upstream to act on it, before the rest decides the request.
PART_PAUSE_S = 0.5
# The audit line of a request appears within milliseconds (asynchronous queue): bounded waits.
AUDIT_WAIT_S = 2.0
AUDIT_SETTLE_S = 0.1
AUDIT_POLL_S = 0.02


# ---------------------------------------------------------------------------------------------
# The wire: raw bytes out, one HTTP/1.1 response in.

@dataclasses.dataclass
class Answer:
    status: int = 0
    reason: str = ""
    headers: list = dataclasses.field(default_factory=list)
    body: bytes = b""
    code: typing.Optional[str] = None
    extra: bytes = b""        # bytes after the first response: a second answer
    closed: bool = False      # the proxy closed the connection after answering
    error: str = ""           # no answer at all, and why

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def __str__(self):
        if self.error:
            return f"no answer ({self.error})"
        return f"{self.status} {self.code or ''}".strip()


class _Reader:
    def __init__(self, sock):
        self.sock, self.buf, self.eof = sock, b"", False

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def until(self, marker):
        while marker not in self.buf:
            if not self.fill():
                raise EOFError(f"connection closed after {len(self.buf)} bytes")
        head, self.buf = self.buf.split(marker, 1)
        return head

    def take(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError("connection closed inside the body")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _read_response(reader, head_only):
    while True:
        head = reader.until(CRLF + CRLF).decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
        if status != 100:
            break
    ans = Answer(status=status, reason=parts[2] if len(parts) > 2 else "", headers=headers)
    te = (ans.header("transfer-encoding") or "").lower()
    if head_only or status in (204, 304):
        pass
    elif "chunked" in te:
        body = b""
        while True:
            size = int(reader.until(CRLF).split(b";")[0], 16)
            if size == 0:
                if reader.buf.startswith(CRLF):
                    reader.take(2)          # no trailer
                else:
                    reader.until(CRLF + CRLF)
                break
            body += reader.take(size)
            reader.take(2)
        ans.body = body
    elif ans.header("content-length") is not None:
        ans.body = reader.take(int(ans.header("content-length")))
    else:
        while reader.fill():
            pass
        ans.body, reader.buf = reader.buf, b""
    m = re.search(rb"<Code>([^<]*)</Code>", ans.body)
    ans.code = m.group(1).decode() if m else None
    return ans


class Parts(list):
    """Request bytes sent in these parts, PART_PAUSE_S apart."""


def in_pieces(raw, size):
    return Parts(raw[i:i + size] for i in range(0, len(raw), size))


def exchange(host, port, raw, head_only):
    """Sends raw (in one piece, or Parts) on a new connection, reads one response, then watches
    the connection for AFTER_ANSWER_S: anything more is a second answer; EOF means closed."""
    sock = socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for n, part in enumerate(raw if isinstance(raw, Parts) else [raw]):
                if n:
                    time.sleep(PART_PAUSE_S)
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy may answer and close before it read everything; read its answer
        reader = _Reader(sock)
        try:
            ans = _read_response(reader, head_only)
        except socket.timeout:
            return Answer(error=f"nothing within {ANSWER_TIMEOUT_S} s")
        except (EOFError, ConnectionResetError) as err:
            return Answer(error=f"{type(err).__name__}: {err}")
        except (ValueError, IndexError) as err:
            return Answer(error=f"unparsable response {reader.buf[:80]!r}: {err}")
        sock.settimeout(AFTER_ANSWER_S)
        try:
            while reader.fill():
                pass
            ans.closed = True
        except socket.timeout:
            pass
        except ConnectionResetError:
            ans.closed = True
        ans.extra = reader.buf
        return ans
    finally:
        sock.close()


# ---------------------------------------------------------------------------------------------
# Building requests.

def _b(x):
    return x if isinstance(x, bytes) else str(x).encode("latin-1")


def request_bytes(method, target, headers, body=b"", version="HTTP/1.1", eol=CRLF):
    """method target version, the headers in order exactly as given, a blank line, the body."""
    lines = [_b(method) + b" " + _b(target) + b" " + _b(version)]
    lines += [_b(n) + b": " + _b(v) for n, v in headers]
    return eol.join(lines) + eol + eol + body


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Ctx:
    """What every row's builder needs: the proxies, the keys, the bucket and its fixtures."""

    def __init__(self):
        self.key_id = os.environ["HOSTILE_CLIENT_KEY"]
        self.secret = os.environ["HOSTILE_CLIENT_SECRET"]
        main = urllib.parse.urlsplit(os.environ["HOSTILE_ENDPOINT"])
        self.main = (main.hostname, main.port)
        vhost = os.environ.get("HOSTILE_VHOST_ENDPOINT", "")
        self.vhost = None
        if vhost:
            v = urllib.parse.urlsplit(vhost)
            self.vhost = (v.hostname, v.port)
        up = urllib.parse.urlsplit(os.environ["RGW_ENDPOINT"])
        self.rgw_addr = (up.hostname, up.port)
        self.bucket = f"hostile-{os.getpid()}"
        self.victim = "victim.bin"
        self.victim_body = b"the victim: every smuggled DELETE aims at this object\n"
        self.acl_target = "acl-target.bin"
        self.case = ""                  # the row being built (names its injected key)

    @property
    def host(self):
        return f"{self.main[0]}:{self.main[1]}"

    def vhost_host(self, bucket):
        return f"{bucket}.s3.local:{self.vhost[1]}"

    @property
    def injected(self):
        return f"injected/{self.case}"

    def path(self, key=""):
        return f"/{self.bucket}/{key}" if key else f"/{self.bucket}"

    # --- signing (botocore's SigV4 through lib/s3raw.py; the path and query as sent)
    def signed(self, method, target, body=b"", payload="hex", extra=None, host=None,
               key_id=None, secret=None, when=None, content_length=True):
        """Headers of a SigV4-signed request (Host, X-Amz-Date, X-Amz-Content-SHA256,
        Authorization and the extra headers, all signed); Content-Length appended unsigned."""
        host = host or self.host
        hdrs = {"Host": host}
        hdrs.update(extra or {})
        payload_hash = sha(body) if payload == "hex" else payload
        signed, _ = s3raw.sign(method, f"http://{host}{target}", hdrs, payload_hash,
                               key_id or self.key_id, secret or self.secret, when)
        if content_length:
            signed.append(("Content-Length", str(len(body))))
        return signed

    def signed_request(self, method, target, body=b"", **kw):
        return request_bytes(method, target, self.signed(method, target, body, **kw), body)

    def presigned_target(self, method, target, expires=300, when=None, host=None):
        url, _ = s3raw.presign(method, f"http://{host or self.host}{target}", self.key_id, self.secret,
                               expires, when)
        parts = urllib.parse.urlsplit(url)
        return parts.path + "?" + parts.query

    # --- the smuggled requests
    def smuggled(self, host=None, key_id=None, secret=None):
        """Two complete, validly signed requests: a PUT of the injected key with x-amz-acl
        public-read, and a DELETE of the victim. Accepted by anyone who parses them."""
        body = f"injected by {self.case}\n".encode()
        put = self.signed_request("PUT", self.path(self.injected), body, host=host, key_id=key_id, secret=secret,
                                  extra={"x-amz-acl": "public-read"})
        delete = self.signed_request("DELETE", self.path(self.victim), host=host, key_id=key_id, secret=secret)
        return put + delete

    # --- aws-chunked bodies
    def chunked_put(self, key, data, decoded_length=None, frames=None, extra=None, chunk=8192):
        """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT of data in chunks of `chunk` bytes, declaring
        decoded_length. frames(chain) may build the body instead: it gets the ChunkSigner
        (signatures chained from the seed) and returns the body bytes."""
        when = s3raw.utcnow()
        target = self.path(key)
        decoded = len(data) if decoded_length is None else decoded_length
        hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(decoded)}
        hdrs.update(extra or {})
        # The seed signature does not depend on Content-Length (sent unsigned).
        headers = self.signed("PUT", target, payload=s3raw.STREAMING_SIGNED, extra=hdrs, when=when,
                              content_length=False)
        seed = dict(headers)["Authorization"].rsplit("Signature=", 1)[1]
        key_bytes = s3raw.signing_key(self.secret, when)
        chain = ChunkSigner(seed, key_bytes, s3raw.amz_date(when), s3raw.scope(when))
        if frames is None:
            body = b"".join(chain.frame(p) for p in pieces(data, chunk)) + chain.frame(b"")
        else:
            body = frames(chain)
        headers.append(("Content-Length", str(len(body))))
        return request_bytes("PUT", target, headers, body)

    def trailer_put(self, key, data, body, trailer_header):
        """A STREAMING-UNSIGNED-PAYLOAD-TRAILER PUT with the body given."""
        hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data))}
        if trailer_header:
            hdrs["x-amz-trailer"] = trailer_header
        headers = self.signed("PUT", self.path(key), payload=s3raw.STREAMING_UNSIGNED_TRAILER, extra=hdrs,
                              content_length=False)
        headers.append(("Content-Length", str(len(body))))
        return request_bytes("PUT", self.path(key), headers, body)


def pieces(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


class ChunkSigner:
    """Signs aws-chunked chunks in order (AWS "Transferring Payload in Multiple Chunks")."""

    def __init__(self, seed, key, date, chunk_scope):
        self.previous, self.key, self.date, self.scope = seed, key, date, chunk_scope

    def sign(self, data):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", self.date, self.scope, self.previous,
                             s3raw.EMPTY_SHA256, sha(data)])
        self.previous = hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()
        return self.previous

    def frame(self, data, declared=None):
        size = len(data) if declared is None else declared
        return f"{size:x};chunk-signature={self.sign(data)}\r\n".encode() + data + CRLF


def crc32_b64(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


# ---------------------------------------------------------------------------------------------
# The length that wraps: x-amz-decoded-content-length close to 2^64 whose upstream
# aws-chunked length, computed in 64-bit arithmetic, comes out small.

def framed(n):
    """One upstream chunk of n data bytes: hex size, ";", name, "=", signature, CRLF, data, CRLF."""
    return len(f"{n:x}") + 1 + SIG_NAME + 1 + SIG_HEX + 2 + n + 2


def upstream_encoded_length(decoded):
    """proxy/chunked.cpp SignedChunkEncoder::encoded_length, modulo 2^64 as C++ computes it."""
    if decoded == 0:
        return framed(0) % U64
    full, rest = divmod(decoded, UPSTREAM_CHUNK)
    return (full * framed(UPSTREAM_CHUNK) + (framed(rest) if rest else 0) + framed(0)) % U64


def wrapping_decoded_length(target):
    """A decoded length d > 5 GiB with upstream_encoded_length(d) == target (mod 2^64)."""
    per_chunk = framed(UPSTREAM_CHUNK)
    base = U64 + target - framed(0)    # full * per_chunk + framed(rest) must equal this
    f0 = base // per_chunk
    for full in range(f0 - 2, f0 + 1):
        remainder = base - full * per_chunk
        for hex_digits in range(1, 5):
            rest = remainder - framed(0) - hex_digits + 1   # framed(rest) = framed(0) - 1 + digits + rest
            if 0 < rest < UPSTREAM_CHUNK and len(f"{rest:x}") == hex_digits:
                d = full * UPSTREAM_CHUNK + rest
                if MAX_PUT < d < U64 and upstream_encoded_length(d) == target:
                    return d
    raise RuntimeError(f"no wrapping decoded length for {target}")


# The proxy's first upstream chunk header, "10000;chunk-signature=<64 hex>\r\n".
FIRST_UPSTREAM_CHUNK_HEADER = framed(UPSTREAM_CHUNK) - UPSTREAM_CHUNK - 2


# ---------------------------------------------------------------------------------------------
# The table.

@dataclasses.dataclass
class Case:
    name: str
    build: typing.Callable          # Ctx -> the bytes sent
    status: int                     # the HTTP status the client must get
    code: typing.Any                # the S3 <Code> (a tuple: any of these); None for a success
    write: bool                     # PUT/POST/DELETE: a refusal is never logged at info
    event: typing.Optional[str] = None  # the audit event, where the contract names one
    closes: bool = False            # a framing error: the connection must be closed after the answer
    proxy: str = "main"             # "vhost": the proxy with server.domains
    lands: typing.Optional[tuple] = None  # (key, body): the one object that must land, private
    acl_targets: tuple = ()         # "object" / "bucket": must still be private afterwards
    key_bound: bool = False         # the audit line's access_key_id is at most AUDIT_KEY_MAX bytes


AUTH = "auth_failed"
ACL_REJECTED = "acl_rejected"
WRITE_FAILED = "write_failed"
INVALID = "InvalidRequest"
TOO_LARGE_HEAD = "RequestHeaderSectionTooLarge"
MALFORMED_TRAILER = "MalformedTrailerError"


def framing(name, build, code=INVALID, write=True, status=400):
    return Case(name, build, status, code, write, event=WRITE_FAILED if write else None, closes=True)


def rows_framing():
    # A PUT whose declared body is the two smuggled requests.
    def put_with(c, mutate, key="framing.bin", payload="UNSIGNED-PAYLOAD", body_of=None, version="HTTP/1.1",
                 eol=CRLF, method="PUT"):
        body = body_of(c) if body_of else c.smuggled()
        headers = c.signed(method, c.path(key), body, payload=payload, content_length=False)
        headers = mutate(headers, body)
        return request_bytes(method, c.path(key), headers, body, version=version, eol=eol)

    def add(*extra):
        return lambda h, body: h + [(n, v if v is not None else str(len(body))) for n, v in extra]

    def te_body(c):
        # Chunked framing ends at once; the smuggled requests follow as if pipelined.
        return b"0\r\n\r\n" + c.smuggled()

    def drop(name):
        return lambda h, body: [(n, v) for n, v in h if n.lower() != name] + [("Content-Length", str(len(body)))]

    def cl_then(*extra):
        return lambda h, body: h + [("Content-Length", str(len(body)))] + list(extra)

    def header_line(raw_line):
        """Inserts a raw header line (bytes) before the blank line of an otherwise signed PUT."""
        def build(c):
            raw = put_with(c, add(("Content-Length", None)))
            head, body = raw.split(CRLF + CRLF, 1)
            return head + CRLF + raw_line + CRLF + CRLF + body
        return build

    def absolute_form(c):
        body = c.smuggled()
        return request_bytes("PUT", f"http://{c.host}{c.path('abs.bin')}", c.signed("PUT", c.path("abs.bin"), body),
                             body)

    def head_get(c, extra_headers):
        """A signed GET of the victim with extra headers (unsigned) after the signed ones."""
        return request_bytes("GET", c.path(c.victim),
                             c.signed("GET", c.path(c.victim), content_length=False) + extra_headers)

    rows = [
        framing("cl_and_te_chunked", lambda c: put_with(c, add(("Content-Length", None),
                                                                ("Transfer-Encoding", "chunked")), body_of=te_body)),
        framing("te_chunked_then_cl", lambda c: put_with(c, add(("Transfer-Encoding", "chunked"),
                                                                ("Content-Length", None)), body_of=te_body)),
        framing("te_gzip", lambda c: put_with(c, add(("Transfer-Encoding", "gzip")))),
        framing("te_chunked_gzip", lambda c: put_with(c, add(("Transfer-Encoding", "chunked, gzip")),
                                                      body_of=te_body)),
        framing("te_identity", lambda c: put_with(c, add(("Transfer-Encoding", "identity")))),
        framing("te_identity_and_cl", lambda c: put_with(c, add(("Transfer-Encoding", "identity"),
                                                                ("Content-Length", None)))),
        framing("cl_twice_different", lambda c: put_with(c, add(("Content-Length", "5"), ("Content-Length", None)))),
        framing("cl_list_different", lambda c: put_with(c, lambda h, body: h + [("Content-Length",
                                                                                  f"5, {len(body)}")])),
        framing("cl_not_a_number", lambda c: put_with(c, add(("Content-Length", "12abc")))),
        framing("cl_overflows_u64", lambda c: put_with(c, add(("Content-Length", "99999999999999999999")))),
        framing("host_missing_put", lambda c: put_with(c, drop("host"))),
        framing("host_missing_get", lambda c: request_bytes(
            "GET", c.path(c.victim), [(n, v) for n, v in c.signed("GET", c.path(c.victim)) if n.lower() != "host"]),
            write=False),
        framing("host_twice_same", lambda c: put_with(c, cl_then(("Host", c.host)))),
        framing("host_twice_other", lambda c: put_with(c, cl_then(("Host", "evil.example:80")))),
        framing("bare_lf_line_endings", lambda c: put_with(c, add(("Content-Length", None)), eol=b"\n")),
        framing("bare_lf_one_header", header_line(b"x-note: a\nx-amz-acl: public-read")),
        framing("obs_fold_continuation", header_line(b"x-note: a\r\n public-read")),
        framing("space_before_colon", header_line(b"x-amz-acl : public-read")),
        # RGW reads '_' in a name as '-': this would be an unsigned x-amz-acl nobody strips.
        framing("underscore_in_name", header_line(b"x_amz_acl: public-read")),
        # One payload mode for verification, the size limit and the framing.
        framing("payload_hash_twice", header_line(b"x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER")),
        framing("control_char_in_value", header_line(b"x-note: a\x01b")),
        framing("raw_cr_in_value", header_line(b"x-note: a\rx-amz-acl: public-read")),
        framing("nul_in_value", header_line(b"x-note: a\x00b")),
        framing("request_line_over_16k", lambda c: request_bytes(
            "GET", c.path("k" * (HEAD_LIMIT + 1024)), c.signed("GET", c.path("k" * (HEAD_LIMIT + 1024)))),
            code=TOO_LARGE_HEAD, write=False),
        framing("one_header_over_16k", lambda c: head_get(c, [("x-note", "v" * (HEAD_LIMIT + 1024))]),
                code=TOO_LARGE_HEAD, write=False),
        framing("header_section_over_16k", lambda c: head_get(
            c, [(f"x-note-{i}", "v" * 300) for i in range(60)]), code=TOO_LARGE_HEAD, write=False),
        # The same head in 3 KiB pieces: the limit is on the whole head, not on each read.
        framing("header_section_over_16k_in_pieces", lambda c: in_pieces(head_get(
            c, [(f"x-note-{i}", "v" * 300) for i in range(60)]), 3 * 1024), code=TOO_LARGE_HEAD, write=False),
        framing("over_100_header_fields", lambda c: head_get(
            c, [(f"x-note-{i}", "v") for i in range(MAX_FIELDS + 1)]), code=TOO_LARGE_HEAD, write=False),
        framing("over_100_header_fields_put", lambda c: put_with(
            c, cl_then(*[(f"x-note-{i}", "v") for i in range(MAX_FIELDS + 1)])), code=TOO_LARGE_HEAD),
        framing("unparsable_method", lambda c: put_with(c, add(("Content-Length", None)), method="PU(T"),
                write=False),
        framing("no_http_version", lambda c: f"GET {c.path(c.victim)}\r\nHost: {c.host}\r\n\r\n".encode(),
                write=False),
        framing("target_absolute_form", absolute_form),
        framing("target_asterisk", lambda c: request_bytes("OPTIONS", "*", [("Host", c.host)]), write=False),
        framing("target_authority_form", lambda c: request_bytes(
            "GET", "evil.example:443", c.signed("GET", "/")), write=False),
        framing("cl_over_5gib_put", lambda c: put_with(c, add(("Content-Length", str(MAX_PUT + 1)))),
                code="EntityTooLarge"),
        framing("cl_over_5gib_get", lambda c: head_get(c, [("Content-Length", str(MAX_PUT + 1))]),
                code="EntityTooLarge", write=False),
        framing("cl_u64_max", lambda c: put_with(c, add(("Content-Length", str(U64 - 1)))), code="EntityTooLarge"),
    ]
    # HTTP chunk-size lines the parser must refuse, inside an otherwise valid trailer upload.
    for name, size_line in (("chunk_size_17_hex_digits", b"1" + b"0" * 16),
                            ("chunk_size_not_hex", b"zz"),
                            ("chunk_size_negative", b"-1")):
        def build(c, size_line=size_line):
            data = b"d" * 100
            inner = s3raw.unsigned_trailer_body(data, 8192, "x-amz-checksum-crc32", crc32_b64(data))
            body = size_line + CRLF + inner + CRLF + c.smuggled() + b"0\r\n\r\n"
            hdrs = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                    "x-amz-trailer": "x-amz-checksum-crc32"}
            headers = c.signed("PUT", c.path("chunksize.bin"), payload=s3raw.STREAMING_UNSIGNED_TRAILER,
                               extra=hdrs, content_length=False)
            return request_bytes("PUT", c.path("chunksize.bin"),
                                 headers + [("Transfer-Encoding", "chunked")], body)
        rows.append(framing(name, build, code=("IncompleteBody", INVALID)))
    # Methods outside GET HEAD PUT POST DELETE OPTIONS; the body is the smuggled requests.
    for method in ("PATCH", "TRACE", "CONNECT", "PROPFIND", "FOO"):
        def build(c, method=method):
            body = c.smuggled()
            return request_bytes(method, c.path("m.bin"), c.signed(method, c.path("m.bin"), body), body)
        rows.append(Case(f"method_{method.lower()}", build, 405, "MethodNotAllowed", False))
    return rows


def rows_lengths():
    """x-amz-decoded-content-length: above 5 GiB, wrapping, not a number."""
    rows = []
    data = b"x" * 1000
    for name, value in (("dcl_over_5gib", MAX_PUT + 1),
                        ("dcl_u64_max", U64 - 1),
                        ("dcl_u64_minus_64k", U64 - UPSTREAM_CHUNK)):
        rows.append(Case(name, lambda c, v=value: c.chunked_put("dcl.bin", data, decoded_length=v),
                         400, "EntityTooLarge", True, event=WRITE_FAILED))

    def wrap(c):
        # The upstream length would wrap to exactly the proxy's first chunk header: the RGW
        # would take that as the whole body and read what follows -- the client's first data
        # bytes -- as its next requests. Those bytes are requests signed with the RGW's key.
        d = wrapping_decoded_length(FIRST_UPSTREAM_CHUNK_HEADER)
        rgw_host = f"{c.rgw_addr[0]}:{c.rgw_addr[1]}"
        injected = c.smuggled(host=rgw_host, key_id=os.environ["RGW_ACCESS_KEY"],
                              secret=os.environ["RGW_SECRET_KEY"])
        payload = injected + b"z" * (3 * UPSTREAM_CHUNK - len(injected))
        raw = c.chunked_put("wrap.bin", payload, decoded_length=d, chunk=UPSTREAM_CHUNK)
        # The final chunk (which shows the length was a lie) comes after a pause, so that a
        # proxy that forwards first has sent the first chunks before it finds out.
        final = len(f"0;chunk-signature={'0' * SIG_HEX}\r\n\r\n")
        return Parts([raw[:-final], raw[-final:]])

    rows.append(Case("dcl_wraps_upstream_length", wrap, 400, "EntityTooLarge", True, event=WRITE_FAILED))
    for name, value in (("dcl_not_a_number", "12abc"), ("dcl_negative", "-1"), ("dcl_hex", "0x10"),
                        ("dcl_empty", ""), ("dcl_exponent", "1e3"), ("dcl_plus_sign", "+1000")):
        rows.append(Case(name, lambda c, v=value: c.chunked_put("dcl.bin", data, extra={
            "x-amz-decoded-content-length": v}), 400, "InvalidArgument", True, event=WRITE_FAILED))
    return rows


def rows_names():
    rows = []

    def get(target):
        return lambda c: request_bytes("GET", target(c), c.signed("GET", target(c)))

    def head(target):
        return lambda c: request_bytes("HEAD", target(c), c.signed("HEAD", target(c)))

    def put(target):
        def build(c):
            body = c.smuggled()
            return request_bytes("PUT", target(c), c.signed("PUT", target(c), body), body)
        return build

    def delete(target):
        return lambda c: request_bytes("DELETE", target(c), c.signed("DELETE", target(c)))

    rows += [
        Case("uri_bad_escape_in_key", get(lambda c: c.path("a%zzb")), 400, "InvalidURI", False),
        Case("uri_trailing_percent_in_key", get(lambda c: c.path("a%4")), 400, "InvalidURI", False),
        Case("uri_bad_escape_in_key_put", put(lambda c: c.path("a%zzb")), 400, "InvalidURI", True, event=WRITE_FAILED),
        Case("uri_bad_escape_delete_victim", delete(lambda c: c.path(c.victim) + "%zz"), 400, "InvalidURI", True,
             event=WRITE_FAILED),
        Case("uri_bad_escape_in_query", get(lambda c: c.path() + "?prefix=%zz"), 400, "InvalidURI", False),
        Case("uri_trailing_percent_in_query", get(lambda c: c.path() + "?prefix=a%4"), 400, "InvalidURI", False),
        Case("uri_bad_escape_in_bucket", get(lambda c: "/hos%zztile/k"), 400, "InvalidURI", False),
        Case("empty_bucket_segment_get", get(lambda c: "//" + c.victim), 400, "InvalidBucketName", False),
        Case("empty_bucket_segment_put", put(lambda c: "//k.bin"), 400, "InvalidBucketName", True,
             event=WRITE_FAILED),
        Case("bucket_name_too_short_create", lambda c: c.signed_request("PUT", "/ab"), 400, "InvalidBucketName",
             True, event=WRITE_FAILED),
        Case("bucket_name_dotdot_head", head(lambda c: "/bucket..x/k"), 400, "InvalidBucketName", False),
    ]
    bad = [("too_short", "ab", "get"), ("too_long", "b" * 64, "get"), ("underscore", "my_bucket", "put"),
           ("uppercase", "MyBucket", "put"), ("leading_dash", "-bucket", "get"), ("trailing_dash", "bucket-", "get"),
           ("dotdot", "bucket..x", "get"), ("ip_address", "192.168.1.1", "get"), ("xn_prefix", "xn--abc", "get"),
           ("s3alias_suffix", "bucket-s3alias", "get"), ("crlf", "media%0D%0Ahost", "put"),
           ("encoded_slash", "media%2Fx", "put"), ("nul", "media%00", "get"), ("space", "a%20b", "get")]
    for label, name, kind in bad:
        if kind == "get":
            rows.append(Case(f"bucket_name_{label}", get(lambda c, n=name: f"/{n}"), 400, "InvalidBucketName", False))
        else:
            rows.append(Case(f"bucket_name_{label}_put", put(lambda c, n=name: f"/{n}/k.bin"), 400,
                             "InvalidBucketName", True, event=WRITE_FAILED))

    # Keys may hold anything S3 allows: a percent-encoded CR LF is part of the key.
    crlf_key = "crlf\r\nx-amz-acl: public-read"
    crlf_body = b"a key with CR LF in it\n"

    def crlf_put(c):
        target = c.path(urllib.parse.quote(crlf_key, safe=""))
        return request_bytes("PUT", target, c.signed("PUT", target, crlf_body), crlf_body)
    rows.append(Case("key_with_encoded_crlf_lands_as_is", crlf_put, 200, None, True, event="request",
                     lands=(crlf_key, crlf_body)))
    return rows


def rows_vhost():
    def get(bucket):
        return lambda c: request_bytes("GET", "/", c.signed("GET", "/", host=c.vhost_host(bucket)))

    def put(bucket):
        def build(c):
            body = c.smuggled()
            return request_bytes("PUT", "/k.bin", c.signed("PUT", "/k.bin", body, host=c.vhost_host(bucket)), body)
        return build

    control_body = b"virtual-hosted control\n"

    def control(c):
        return request_bytes("PUT", "/vhost-control.bin", c.signed("PUT", "/vhost-control.bin", control_body,
                                                                   host=c.vhost_host(c.bucket)), control_body)
    rows = [Case("vhost_control_put_lands", control, 200, None, True, event="request", proxy="vhost",
                 lands=("vhost-control.bin", control_body))]
    for label, name, build in (("underscore", "Bad_Bucket", get), ("underscore_put", "Bad_Bucket", put),
                               ("too_short", "ab", get), ("leading_dash", "-bucket", get),
                               ("ip_address", "192.168.1.1", get), ("xn_prefix", "xn--abc", put)):
        write = build is put
        rows.append(Case(f"vhost_bucket_{label}", build(name), 400, "InvalidBucketName", write,
                         event=WRITE_FAILED if write else None, proxy="vhost"))
    return rows


def rows_auth():
    """SigV4, one field wrong at a time. Header form: 400 AuthorizationHeaderMalformed."""
    rows = []
    malformed = "AuthorizationHeaderMalformed"

    def mutate_auth(fn, method="PUT", key="auth.bin", when=None, extra_after=None):
        def build(c):
            body = c.smuggled() if method == "PUT" else b""
            headers = c.signed(method, c.path(key), body, when=when)
            headers = [(n, fn(v, c) if n == "Authorization" else v) for n, v in headers]
            headers += (extra_after or [])
            return request_bytes(method, c.path(key), headers, body)
        return build

    def sub(pattern, repl):
        return lambda v, c: re.sub(pattern, repl, v, count=1)

    def mutate_header(name, value, method="GET"):
        def build(c):
            target = c.path(c.victim)
            headers = [(n, value(v) if n.lower() == name else v) for n, v in c.signed(method, target)]
            return request_bytes(method, target, headers)
        return build

    cases = [
        ("credential_4_parts", sub(r"/aws4_request", "")),
        ("credential_bad_date", sub(r"Credential=([^/]*)/\d{8}/", r"Credential=\1/20261345/")),
        ("credential_wrong_service", sub(r"/s3/aws4_request", "/ec2/aws4_request")),
        ("credential_wrong_terminator", sub(r"/aws4_request", "/aws4_reques")),
        ("signed_headers_empty_entry", sub(r"SignedHeaders=host;", "SignedHeaders=host;;")),
        ("signed_headers_without_host", sub(r"SignedHeaders=host;", "SignedHeaders=")),
        ("signature_missing", sub(r", ?Signature=[0-9a-f]+", "")),
        ("signature_empty", sub(r"Signature=[0-9a-f]+", "Signature=")),
        ("signature_not_hex", sub(r"Signature=[0-9a-f]+", "Signature=" + "z" * 64)),
        ("signature_short", sub(r"Signature=([0-9a-f]+)[0-9a-f]", r"Signature=\1")),
        ("component_twice", lambda v, c: v + ", Signature=" + "0" * 64),
        ("unknown_component", lambda v, c: v + ", Foo=bar"),
    ]
    for label, fn in cases:
        rows.append(Case(f"auth_header_{label}", mutate_auth(fn), 400, malformed, True, event=AUTH))
    rows += [
        Case("auth_header_amz_date_malformed", mutate_header("x-amz-date", lambda v: v[:8] + "-" + v[9:]),
             400, malformed, False, event=AUTH),
        Case("auth_header_amz_date_other_day", mutate_header(
            "x-amz-date", lambda v: ("20000101" if v[:8] != "20000101" else "20000102") + v[8:]),
             400, malformed, False, event=AUTH),
        Case("auth_header_algorithm_unknown", mutate_auth(sub(r"^AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
                                                         method="GET", key="victim.bin"),
             400, malformed, False, event=AUTH),
        Case("auth_header_wrong_signature", mutate_auth(sub(r"Signature=([0-9a-f])", lambda m: "Signature=" + (
            "1" if m.group(1) == "0" else "0"))), 403, "SignatureDoesNotMatch", True, event=AUTH),
        Case("auth_header_unknown_key", mutate_auth(sub(r"Credential=[^/]*/", "Credential=AKIANOSUCHKEYEXAMPLE/")),
             403, "InvalidAccessKeyId", True, event=AUTH),
        Case("auth_header_unsigned_amz_header", mutate_auth(lambda v, c: v,
                                                           extra_after=[("x-amz-acl", "public-read")]),
             403, "AccessDenied", True, event=AUTH),
        Case("auth_header_key_10000_chars", mutate_auth(sub(r"Credential=[^/]*/", "Credential=" + "K" * 10000 + "/")),
             403, "InvalidAccessKeyId", True, event=AUTH, key_bound=True),
    ]

    # Presigned: 400 AuthorizationQueryParametersError.
    qerr = "AuthorizationQueryParametersError"

    def presigned(fn, method="GET", key=None):
        def build(c):
            k = key or c.victim
            target = fn(c.presigned_target(method, c.path(k)), c)
            body = c.smuggled() if method == "PUT" else b""
            headers = [("Host", c.host)] + ([("Content-Length", str(len(body)))] if method == "PUT" else [])
            return request_bytes(method, target, headers, body)
        return build

    def qsub(pattern, repl):
        return lambda t, c: re.sub(pattern, repl, t, count=1)

    qcases = [
        ("credential_4_parts", qsub(r"%2Faws4_request", ""), "GET"),
        ("credential_wrong_service", qsub(r"%2Fs3%2Faws4_request", "%2Fec2%2Faws4_request"), "PUT"),
        ("signature_missing", qsub(r"&?X-Amz-Signature=[0-9a-f]+", ""), "PUT"),
        ("signed_headers_without_host", qsub(r"X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders="), "GET"),
        ("amz_date_malformed", qsub(r"X-Amz-Date=(\d{8})T", r"X-Amz-Date=\1-"), "GET"),
        ("amz_date_other_day", qsub(r"X-Amz-Date=\d{8}", "X-Amz-Date=20000101"), "GET"),
        ("expires_604801", qsub(r"X-Amz-Expires=\d+", "X-Amz-Expires=604801"), "PUT"),
        ("expires_negative", qsub(r"X-Amz-Expires=\d+", "X-Amz-Expires=-1"), "GET"),
        ("expires_huge", qsub(r"X-Amz-Expires=\d+", "X-Amz-Expires=99999999999"), "GET"),
        ("expires_not_a_number", qsub(r"X-Amz-Expires=\d+", "X-Amz-Expires=abc"), "PUT"),
        ("algorithm_unknown", qsub(r"X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA512"), "GET"),
        ("signature_given_twice", lambda t, c: t + "&X-Amz-Signature=" + "0" * 64, "GET"),
    ]
    for label, fn, method in qcases:
        key = "presigned.bin" if method == "PUT" else None
        rows.append(Case(f"auth_presigned_{label}", presigned(fn, method, key), 400, qerr, method == "PUT",
                         event=AUTH))

    def date_in_credential_and_param(day_time):
        def fn(t, c):
            t = re.sub(r"X-Amz-Date=\d{8}T\d{6}Z", f"X-Amz-Date={day_time}", t, count=1)
            return re.sub(r"(X-Amz-Credential=[^&]*?%2F)\d{8}%2F", rf"\g<1>{day_time[:8]}%2F", t, count=1)
        return fn
    rows += [
        # Outside what the clock can hold (1970-2199): malformed, never wrapped round to "now".
        Case("auth_presigned_date_year_9999", presigned(date_in_credential_and_param("99991231T000000Z")),
             400, qerr, False, event=AUTH),
        Case("auth_presigned_date_month_13", presigned(date_in_credential_and_param("20261301T000000Z")),
             400, qerr, False, event=AUTH),
        Case("auth_presigned_key_10000_chars", presigned(qsub(r"X-Amz-Credential=[^%]*%2F",
                                                              "X-Amz-Credential=" + "K" * 10000 + "%2F")),
             403, "InvalidAccessKeyId", False, event=AUTH, key_bound=True),
        Case("auth_presigned_and_header", lambda c: request_bytes(
            "GET", c.presigned_target("GET", c.path(c.victim)), c.signed("GET", c.path(c.victim))),
             400, "InvalidArgument", False, event=AUTH),
    ]
    return rows


def rows_aws_chunked():
    """Signed aws-chunked (valid chunk signatures, lying framing) and the unsigned trailer."""
    data = bytes(range(256)) * 100          # 25600 bytes: several 8 KiB chunks
    piece = 8192
    rows = []

    def frames(fn):
        return lambda c: c.chunked_put("chunked.bin", data, frames=fn)

    def sizes_lie(delta):
        def fn(chain):
            ps = pieces(data, piece)
            out = [chain.frame(ps[0], declared=len(ps[0]) + delta)]
            out += [chain.frame(p) for p in ps[1:]]
            return b"".join(out) + chain.frame(b"")
        return fn

    def missing_final(chain):
        return b"".join(chain.frame(p) for p in pieces(data, piece))

    def two_finals(chain):
        return b"".join(chain.frame(p) for p in pieces(data, piece)) + chain.frame(b"") + chain.frame(b"")

    def bytes_after_final(c):
        def fn(chain):
            return b"".join(chain.frame(p) for p in pieces(data, piece)) + chain.frame(b"") + c.smuggled()
        return c.chunked_put("chunked.bin", data, frames=fn)

    def no_signature_ext(chain):
        ps = pieces(data, piece)
        chain.sign(ps[0])
        out = [f"{len(ps[0]):x}\r\n".encode() + ps[0] + CRLF]
        return b"".join(out + [chain.frame(p) for p in ps[1:]]) + chain.frame(b"")

    rows += [
        # The data read under a wrong size is not the data signed.
        Case("chunk_size_bigger_than_data", frames(sizes_lie(+16)), 403, "SignatureDoesNotMatch", True, event=AUTH),
        Case("chunk_size_smaller_than_data", frames(sizes_lie(-16)), 403, "SignatureDoesNotMatch", True,
             event=AUTH),
        Case("chunk_final_missing", frames(missing_final), 400, "IncompleteBody", True, event=WRITE_FAILED),
        Case("chunk_final_twice", frames(two_finals), 400, INVALID, True, event=WRITE_FAILED),
        Case("chunk_bytes_after_final", bytes_after_final, 400, INVALID, True, event=WRITE_FAILED),
        Case("chunk_signature_extension_missing", frames(no_signature_ext), 403, "SignatureDoesNotMatch", True,
             event=AUTH),
        Case("chunk_decoded_length_bigger", lambda c: c.chunked_put("chunked.bin", data, decoded_length=len(data) + 1),
             400, "IncompleteBody", True, event=WRITE_FAILED),
        Case("chunk_decoded_length_smaller", lambda c: c.chunked_put("chunked.bin", data,
                                                                     decoded_length=len(data) - 1),
             400, "IncompleteBody", True, event=WRITE_FAILED),
    ]

    crc = crc32_b64(data)

    def trailer(header, body_of):
        return lambda c: c.trailer_put("trailer.bin", data, body_of(), header)

    def plain():
        return b"".join(f"{len(p):x}\r\n".encode() + p + CRLF for p in pieces(data, piece))

    declared = "x-amz-checksum-crc32"
    crc_trailer = f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    sha1_trailer = f"0\r\nx-amz-checksum-sha1:{crc}\r\n\r\n".encode()
    rows += [
        # The contract leaves these codes open; MalformedTrailerError is the proxy's trailer error.
        Case("trailer_not_declared", trailer(None, lambda: plain() + crc_trailer),
             400, MALFORMED_TRAILER, True, event=WRITE_FAILED),
        Case("trailer_declared_missing", trailer(declared, lambda: plain() + b"0\r\n\r\n"),
             400, MALFORMED_TRAILER, True, event=WRITE_FAILED),
        Case("trailer_other_than_declared", trailer(declared, lambda: plain() + sha1_trailer),
             400, MALFORMED_TRAILER, True, event=WRITE_FAILED),
    ]
    return rows


def rows_acl():
    rows = []

    def acl_put(query, key=True, body=b""):
        def build(c):
            target = (c.path(c.acl_target) if key else c.path()) + "?" + query
            return request_bytes("PUT", target, c.signed("PUT", target, body, extra={"x-amz-acl": "public-read"}),
                                 body)
        return build

    for label, query, on_key in (("acl_versions", "acl&versions", True), ("acl_uploads_bucket", "acl&uploads", False),
                                 ("acl_tagging", "acl&tagging", True), ("acl_value_part_number", "acl=x&partNumber=1",
                                                                        True)):
        rows.append(Case(f"put_{label}", acl_put(query, on_key), 501, "NotImplemented", True, event=ACL_REJECTED,
                         acl_targets=("object", "bucket")))

    def on_victim(method, body=b""):
        def build(c):
            target = c.path(c.victim) + "?acl"
            return request_bytes(method, target, c.signed(method, target, body), body)
        return build

    grant = (b'<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/'
             b'XMLSchema-instance" xsi:type="Group"><URI>' + ALL_USERS.encode() + b'</URI></Grantee><Permission>'
             b'READ</Permission></Grant></AccessControlList></AccessControlPolicy>')
    rows += [
        # A refused ACL change is audited as such (acl_rejected, warn), like PUT ?acl.
        Case("delete_acl_victim_untouched", on_victim("DELETE"), 400, INVALID, True, event=ACL_REJECTED),
        Case("post_acl_victim_untouched", on_victim("POST", grant), 400, INVALID, True, event=ACL_REJECTED),
    ]

    part_body = b"part one\n"

    def part_no_upload(key, with_acl):
        def build(c):
            target = c.path(key) + "?partNumber=1"
            extra = {"x-amz-acl": "public-read"} if with_acl else {}
            return request_bytes("PUT", target, c.signed("PUT", target, part_body, extra=extra), part_body)
        return build
    rows.append(Case("part_number_without_upload_id_with_acl", part_no_upload("part-acl.bin", True), 400, INVALID,
                     True, event=ACL_REJECTED))
    # Without an ACL the proxy forwards it and the RGW decides: it stores an object (private).
    rows.append(Case("part_number_without_upload_id_forwarded", part_no_upload("part.bin", False), 200, None, True,
                     event="request", lands=("part.bin", part_body)))

    body = b"presigned with x-amz-acl in the query\n"

    def presigned_query_acl(c):
        target = c.presigned_target("PUT", c.path("presigned-acl.bin") + "?x-amz-acl=public-read")
        return request_bytes("PUT", target, [("Host", c.host), ("Content-Length", str(len(body)))], body)
    rows.append(Case("presigned_query_acl_lands_private", presigned_query_acl, 200, None, True, event="request",
                     lands=("presigned-acl.bin", body)))
    rows.append(Case("put_acl_grant_header", lambda c: request_bytes(
        "PUT", c.path(c.acl_target) + "?acl", c.signed("PUT", c.path(c.acl_target) + "?acl", extra={
            "x-amz-grant-read": f'uri="{ALL_USERS}"'})), 501, "NotImplemented", True, event=ACL_REJECTED,
        acl_targets=("object",)))
    return rows


def rows_smuggle():
    """Bodies that are requests, on requests that may or may not take a body."""
    rows = []
    data_body_key = "body-is-requests.bin"

    def put_requests_as_data(c):
        body = c.smuggled()
        return request_bytes("PUT", c.path(data_body_key), c.signed("PUT", c.path(data_body_key), body), body)

    def with_body(method, key_of):
        def build(c):
            body = c.smuggled()
            target = c.path(key_of(c))
            return request_bytes(method, target, c.signed(method, target, body), body)
        return build

    # The body of this PUT is two requests; it must land as those bytes, and nothing else happen.
    rows.append(Case("put_body_holding_requests_lands_as_data", put_requests_as_data, 200, None, True,
                     event="request", lands=(data_body_key, None)))
    rows.append(Case("get_with_body", with_body("GET", lambda c: c.victim), 200, None, False))
    rows.append(Case("head_with_body", with_body("HEAD", lambda c: c.victim), 200, None, False))
    # The RGW refuses a DELETE with a body (501); the proxy relays that, having read the body as data.
    rows.append(Case("delete_missing_key_with_body", with_body("DELETE", lambda c: "no-such-key.bin"), 501,
                     "NotImplemented", True, event=WRITE_FAILED))
    return rows


def all_rows():
    return (rows_framing() + rows_lengths() + rows_names() + rows_auth() + rows_aws_chunked() + rows_acl()
            + rows_smuggle() + rows_vhost())


# ---------------------------------------------------------------------------------------------
# Judging one row.

class Audit:
    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                out.append({"unparsable": line[:200]})
                continue
            if isinstance(rec, dict) and rec.get("event") not in ("start", "shutdown", "stopped"):
                out.append(rec)
        return out

    def new_since(self, count, settle=True):
        """Waits (bounded) for lines beyond the first count, then (settle) a moment for any more."""
        deadline = time.monotonic() + AUDIT_WAIT_S
        while len(self.lines()) <= count and time.monotonic() < deadline:
            time.sleep(AUDIT_POLL_S)
        if settle:
            time.sleep(AUDIT_SETTLE_S)
        return self.lines()[count:]


def snapshot(c):
    s3 = rgw()
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=c.bucket):
        for o in page.get("Contents", []):
            objects[o["Key"]] = (o["ETag"], o["Size"])
    uploads = sorted((u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=c.bucket).get("Uploads", []))
    buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    return objects, uploads, buckets


def is_private(kind, c, key=None):
    """kind "object" (key, by default the ACL target) or "bucket": no grant to everyone."""
    s3 = rgw()
    grants = (s3.get_object_acl(Bucket=c.bucket, Key=key or c.acl_target) if kind == "object"
              else s3.get_bucket_acl(Bucket=c.bucket))["Grants"]
    return not any(g["Grantee"].get("URI") == ALL_USERS for g in grants)


def describe(rec):
    return f"{rec.get('event')}/{rec.get('level')} {rec.get('status')} {rec.get('s3_code')}"


class Runner:
    def __init__(self, ctx):
        self.c = ctx
        self.audits = {"main": Audit(os.environ["HOSTILE_AUDIT"])}
        if ctx.vhost:
            self.audits["vhost"] = Audit(os.environ["HOSTILE_VHOST_AUDIT"])

    def addr(self, case):
        return self.c.vhost if case.proxy == "vhost" else self.c.main

    def follow_up(self, case):
        """A normal signed GET of the victim on a new connection."""
        c = self.c
        if case.proxy == "vhost":
            host, target = c.vhost_host(c.bucket), "/" + c.victim
        else:
            host, target = c.host, c.path(c.victim)
        raw = request_bytes("GET", target, c.signed("GET", target, host=host) + [("Connection", "close")])
        before = len(self.audits[case.proxy].lines())
        ans = exchange(*self.addr(case), raw, head_only=False)
        self.audits[case.proxy].new_since(before, settle=False)  # the next row counts from its line
        return ans

    def run(self, case):
        c = self.c
        c.case = case.name
        audit = self.audits[case.proxy]
        raw = case.build(c)
        head_only = (raw[0] if isinstance(raw, Parts) else raw).split(b" ", 1)[0] == b"HEAD"
        before = snapshot(c)
        count = len(audit.lines())
        ans = exchange(*self.addr(case), raw, head_only)
        problems = []

        # The answer.
        if ans.error:
            problems.append(str(ans))
        else:
            want_codes = case.code if isinstance(case.code, tuple) else (case.code,)
            got_code_ok = head_only or ans.code in want_codes
            if ans.status != case.status or not got_code_ok:
                want = f"{case.status}" + ("" if head_only or case.code is None else f" {'/'.join(want_codes)}")
                problems.append(f"client got {ans}, expected {want}")
            if ans.extra:
                problems.append(f"a second answer on the connection: {ans.extra[:60]!r}")
            if case.closes and not ans.closed:
                problems.append("connection left open after a framing error")

        # The audit line.
        new = audit.new_since(count)
        if len(new) != 1:
            problems.append(f"{len(new)} new audit lines ({'; '.join(describe(r) for r in new)}), expected one")
        else:
            rec = new[0]
            want_code = None if case.code is None else (case.code if isinstance(case.code, tuple) else (case.code,))
            if rec.get("status") != case.status or (want_code and rec.get("s3_code") not in want_code) or \
                    (want_code is None and rec.get("s3_code") is not None):
                problems.append(f"audit line says {describe(rec)}")
            elif case.event and rec.get("event") != case.event:
                problems.append(f"audit event {rec.get('event')!r}, expected {case.event!r} ({describe(rec)})")
            if case.write and case.status >= 400 and rec.get("level") not in ("warn", "error"):
                problems.append(f"a refused write logged at {rec.get('level')!r}")
            if case.key_bound and len(str(rec.get("access_key_id", "")).encode()) > AUDIT_KEY_MAX:
                problems.append(f"audit access_key_id is {len(str(rec.get('access_key_id')).encode())} bytes")
            if case.lands and rec.get("key") != case.lands[0]:
                problems.append(f"audit key {rec.get('key')!r}, expected {case.lands[0]!r}")

        # Nothing landed (but what must).
        after = snapshot(c)
        objects_before, objects_after = dict(before[0]), dict(after[0])
        if case.lands and case.status == ans.status:
            key, body = case.lands
            if key not in objects_after:
                problems.append(f"{key!r} did not land on the RGW")
            else:
                got = rgw().get_object(Bucket=c.bucket, Key=key)["Body"].read()
                want_body = body if body is not None else _last_put_body(raw)
                if got != want_body:
                    problems.append(f"{key!r} holds {len(got)} bytes on the RGW, not the {len(want_body)} sent")
                elif not is_private("object", c, key):
                    problems.append(f"{key!r} landed public-read")
            objects_after.pop(key, None)
            objects_before.pop(key, None)
        if object_exists(rgw(), c.bucket, c.injected):
            problems.append(f"the injected key {c.injected!r} exists on the RGW")
        if c.victim not in objects_after:
            problems.append("the victim was deleted on the RGW")
        elif objects_after.get(c.victim) != before[0].get(c.victim):
            problems.append("the victim changed on the RGW")
        if objects_after != objects_before:
            added = sorted(set(objects_after) - set(objects_before))
            gone = sorted(set(objects_before) - set(objects_after))
            changed = sorted(k for k in objects_before if k in objects_after and objects_before[k] != objects_after[k])
            problems.append(f"the bucket changed on the RGW: new {added[:3]}, gone {gone[:3]}, changed {changed[:3]}")
        if after[1] != before[1]:
            problems.append(f"multipart uploads appeared on the RGW: {after[1][:2]}")
        if after[2] != before[2]:
            problems.append(f"buckets changed on the RGW: {sorted(set(after[2]) ^ set(before[2]))}")
        for kind in case.acl_targets:
            if not is_private(kind, c):
                problems.append(f"the {kind} ACL changed to public on the RGW")

        # The proxy still serves (the fixtures put back first if the row damaged them).
        if problems:
            self.repair()
        follow = self.follow_up(case)
        if follow.status != 200 or follow.body != c.victim_body:
            problems.append(f"a normal GET afterwards got {follow}")
        if problems:
            raise Failed("; ".join(problems))

    def repair(self):
        """Puts the fixtures back so that one row's damage does not fail the next."""
        c, s3 = self.c, rgw()
        if not object_exists(s3, c.bucket, c.victim):
            s3.put_object(Bucket=c.bucket, Key=c.victim, Body=c.victim_body)
        if object_exists(s3, c.bucket, c.injected):
            s3.delete_object(Bucket=c.bucket, Key=c.injected)
        for kind in ("object", "bucket"):
            if not is_private(kind, c):
                if kind == "object":
                    s3.put_object_acl(Bucket=c.bucket, Key=c.acl_target, ACL="private")
                else:
                    s3.put_bucket_acl(Bucket=c.bucket, ACL="private")


def _last_put_body(raw):
    """The body of the request in raw (everything after the head)."""
    return b"".join(raw).split(CRLF + CRLF, 1)[1] if isinstance(raw, Parts) else raw.split(CRLF + CRLF, 1)[1]


def main():
    r = Results()
    c = Ctx()
    s3 = rgw()

    def setup():
        s3.create_bucket(Bucket=c.bucket)
        s3.put_object(Bucket=c.bucket, Key=c.victim, Body=c.victim_body)
        s3.put_object(Bucket=c.bucket, Key=c.acl_target, Body=b"acl target\n")
        return True
    if not r.check("setup/bucket_and_fixtures", setup):
        return
    rows = all_rows()
    names = [row.name for row in rows]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        r.fail("table", f"duplicate row names {sorted(dupes)}")
        return
    only = os.environ.get("HOSTILE_ONLY")
    if only:
        rows = [row for row in rows if re.search(only, row.name)]
    runner = Runner(c)
    t0 = time.monotonic()
    for row in rows:
        if row.proxy == "vhost" and not c.vhost:
            r.skip(row.name, "no virtual-hosted proxy")
            continue
        r.check(row.name, runner.run, row)
    r.note(f"{len(rows)} hostile requests in {time.monotonic() - t0:.1f} s")
    if r.failed:
        r.note(f"audit logs: {', '.join(a.path for a in runner.audits.values())}")


if __name__ == "__main__":
    main_guard(main)
