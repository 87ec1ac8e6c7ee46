"""Raw S3 requests for the integration suites, where a test must control every byte.

Requests are signed with botocore's own SigV4 code (Debian's botocore 1.29) at a time the
test chooses, then sent with http.client exactly as built, so a test can change a header or
the body after signing, add an unsigned header, or cut the body short.

    headers, sig = sign("PUT", url, {...}, payload_hash, key_id, secret, when=...)
    url, sig = presign("PUT", url, key_id, secret, expires=60, when=...)
    resp = send(url, "PUT", headers, body)        # resp.status, resp.code, resp.body
    body = signed_chunked_body(data, 8192, sig, signing_key(...), amz_date, scope)
    body = unsigned_trailer_body(data, 8192, "x-amz-checksum-crc32", value)
"""
import datetime
import hashlib
import hmac
import http.client
import re
import socket
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials

REGION = "us-east-1"
SERVICE = "s3"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
# Every request here is small and local; this only bounds a hung server.
SOCKET_TIMEOUT = 30


def amz_date(when):
    return when.strftime(botocore.auth.SIGV4_TIMESTAMP)


def utcnow():
    return datetime.datetime.utcnow()


class _AtTime:
    """Mixin: botocore's add_auth, but at a given time instead of utcnow()."""

    def __init__(self, credentials, region, when, **kwargs):
        super().__init__(credentials, SERVICE, region, **kwargs)
        self._when = when
        self.last_signature = None

    def add_auth(self, request):
        request.context["timestamp"] = amz_date(self._when)
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        self.last_signature = self.signature(self.string_to_sign(request, canonical), request)
        self._inject_signature_to_request(request, self.last_signature)

    def _normalize_url_path(self, path):
        # S3 signs the path as sent, never normalised.
        return path


class _HeaderSigner(_AtTime, botocore.auth.SigV4Auth):
    pass


class _QuerySigner(_AtTime, botocore.auth.S3SigV4QueryAuth):
    pass


def sign(method, url, headers, payload_hash, key_id, secret, when=None, region=REGION):
    """Signs a request in the Authorization header. headers should hold Host; every header
    given is signed. Returns (headers as a list of (name, value) in order, signature)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, headers=dict(headers))
    req.headers["X-Amz-Content-SHA256"] = payload_hash
    signer = _HeaderSigner(botocore.credentials.Credentials(key_id, secret), region, when or utcnow())
    signer.add_auth(req)
    return list(req.headers.items()), signer.last_signature


def presign(method, url, key_id, secret, expires, when=None, headers=None, region=REGION):
    """A presigned URL (query-string SigV4) for method on url. Returns (url, signature)."""
    req = botocore.awsrequest.AWSRequest(method=method, url=url, headers=dict(headers or {}))
    signer = _QuerySigner(botocore.credentials.Credentials(key_id, secret), region, when or utcnow(),
                          expires=expires)
    signer.add_auth(req)
    return req.url, signer.last_signature


def signing_key(secret, when, region=REGION):
    k = hmac.new(("AWS4" + secret).encode(), when.strftime("%Y%m%d").encode(), hashlib.sha256).digest()
    for part in (region, SERVICE, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def scope(when, region=REGION):
    return f"{when.strftime('%Y%m%d')}/{region}/{SERVICE}/aws4_request"


def _pieces(data, chunk_size):
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def signed_chunked_body(data, chunk_size, seed_signature, key, date, chunk_scope, corrupt_chunk=None):
    """The aws-chunked body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload (AWS's "Transferring
    Payload in Multiple Chunks"). corrupt_chunk=N replaces chunk N's signature with a wrong one
    (the signature chain continues from the correct value, as a tampering sender would not)."""
    out, previous = [], seed_signature
    chunks = _pieces(data, chunk_size) + [b""]
    for n, chunk in enumerate(chunks):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", date, chunk_scope, previous, EMPTY_SHA256,
                             hashlib.sha256(chunk).hexdigest()])
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = sig
        if n == corrupt_chunk:
            sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        out.append(f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n")
    return b"".join(out)


def chunk_signatures(body):
    return re.findall(rb"chunk-signature=([0-9a-f]{64})", body)


def unsigned_trailer_body(data, chunk_size, trailer_name, trailer_value):
    """The aws-chunked body of a STREAMING-UNSIGNED-PAYLOAD-TRAILER upload: plain chunk sizes,
    a final empty chunk, then the trailer line."""
    out = [f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in _pieces(data, chunk_size)]
    out.append(f"0\r\n{trailer_name}:{trailer_value}\r\n\r\n".encode())
    return b"".join(out)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
        self.code = m.group(1).decode() if m else None

    def __repr__(self):
        return f"{self.status} {self.code or ''}".strip()


def _target(url):
    parts = urllib.parse.urlsplit(url)
    return parts, parts.path + ("?" + parts.query if parts.query else "")


def send(url, method, headers, body=b""):
    """Sends the request exactly as given (no Host, Accept-Encoding or Content-Length added)."""
    parts, target = _target(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=SOCKET_TIMEOUT)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a server may answer (a refusal) and close before the whole body is sent
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def send_cut(url, method, headers, body, sent_bytes):
    """Sends the header and only the first sent_bytes of body, then closes the connection, as
    a client that dies mid-upload does."""
    parts, target = _target(url)
    head = [f"{method} {target} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body[:sent_bytes]
    with socket.create_connection((parts.hostname, parts.port), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(raw)


def host_of(url):
    return urllib.parse.urlsplit(url).netloc
