#!/usr/bin/python3
"""The soak of suites/soak.sh (and scripts/soak.sh): SOAK_CLIENTS concurrent clients push a
mixed load through one proxy into the RGW for SOAK_SECONDS, then the run is audited.

The load, per client (a thread with its own keep-alive connection; requests are signed
with botocore's SigV4 and sent byte for byte, lib/s3raw.py, so 200 clients cost no more
than their requests): PutObject with a hex SHA-256, as signed aws-chunked and as an
unsigned-trailer upload; GetObject of fixtures written beforehand; multipart uploads (one
small part, and now and then 5 MiB + a tail); and deliberate failures: a wrong signature,
a body that does not match its hash, a client that vanishes mid-upload. Every request
but the GETs gets a key of its own, the marker its audit line is found by.

Then:
  - every acknowledged object is on the RGW with the bytes sent (sha256, read with the
    RGW's key while the load runs, and deleted there so the RGW's memory stays bounded);
  - every refused or abandoned write left nothing on the RGW;
  - every request has exactly one audit line (lines per (key, op) = requests sent), and
    every deliberate failure's line names its event and S3 code;
  - no answer was other than expected (no 5xx, no dropped connection);
  - the proxy's RSS and open descriptors come back near their baseline, taken after a
    warm-up of SOAK_WARMUP_S at full concurrency (the first burst sets the allocator's
    high-water mark; the cold figures are printed too): both measured with the proxy's
    upstream pools drained the same way (idle connections aged past the pool's limit, then
    a few requests on fresh connections), with SOAK_RSS_SLACK_MIB and SOAK_FD_SLACK of slack.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_CONF (for the RGW's garbage
collection at the end); SOAK_ENDPOINT (the proxy), SOAK_PID, SOAK_AUDIT, SOAK_CLIENT_KEY,
SOAK_CLIENT_SECRET; SOAK_SECONDS (60), SOAK_CLIENTS (200), SOAK_WARMUP_S (10),
SOAK_RSS_SLACK_MIB (16), SOAK_FD_SLACK (8).
"""
import base64
import collections
import hashlib
import http.client
import os
import multiprocessing
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc_stats  # noqa: E402
import s3raw  # noqa: E402
from suite import AuditLog, Results, expect, main_guard  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "200"))
RSS_SLACK_KIB = int(os.environ.get("SOAK_RSS_SLACK_MIB", "16")) * 1024
FD_SLACK = int(os.environ.get("SOAK_FD_SLACK", "8"))
# The baseline is taken after a warm-up at full concurrency: the first burst sets the
# allocator's high-water mark (glibc keeps freed heap for reuse rather than returning it), so
# a cold baseline would measure that, not a leak. The cold figures are printed too.
WARMUP_S = float(os.environ.get("SOAK_WARMUP_S", "10"))
CHUNK = 65536
# Object sizes: the edges of the proxy's 64 KiB pieces and chunks, empty, and a spread.
SIZES = (0, 1, 1000, 65535, 65536, 65537, 100_000, 150_001, 200_000, 262_144)
# Failures use small bodies: the proxy answers them without reading the body, and a body
# that fits in the socket buffers is sent whole before the answer is read.
FAILURE_SIZES = (1000, 20_000, 32_768)
# Weights of the operations in the mix (parts of 100).
MIX = (("put_hex", 24), ("put_chunked", 12), ("put_trailer", 6), ("get", 30), ("multipart", 6),
       ("wrong_signature", 8), ("bad_hash", 8), ("abort", 6))
# A 5 MiB-part multipart upload at most this often (all clients together): the RGW keeps
# deleted multipart data until its garbage collection, and its memstore holds 2 GiB.
BIG_MULTIPART_EVERY_S = 10
PART_BYTES = 5 * 1024 * 1024      # the RGW's minimum for all parts but the last
FIXTURES = 16
RANDOM_POOL = 8 * 1024 * 1024     # request bodies are slices of this (urandom per request costs CPU)
VERIFIERS = 3
# upstream.cpp drops idle pooled connections older than 15 s (kMaxIdleAge) on the next
# acquire; waiting a little longer and then sending requests empties every pool.
POOL_AGE_S = 16.5
POKES = 16                        # fresh connections: each worker thread's pool gets some
SAMPLE_S = 0.5
AUDIT_QUIET_S = 2.0               # the audit log stopped growing for this long: all written
AUDIT_WAIT_MAX_S = 30.0
TIMEOUT_S = 60                    # one request, under load on a shared 2-core machine
ABORT_SETTLE_S = 2.0
# Acknowledged objects not yet verified (and deleted) on the RGW: about 100 KiB each, so
# this bounds what the load keeps in the RGW's 2 GiB memstore; clients wait above it.
MAX_UNVERIFIED = 2000
BACKPRESSURE_POLL_S = 0.05
VERIFY_TAIL_MAX_S = 300


class Conn:
    """A keep-alive HTTP connection sending requests exactly as given."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.c = None

    def request(self, method, target, headers, body=b""):
        if self.c is None:
            self.c = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        try:
            self.c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                self.c.putheader(name, value)
            self.c.endheaders(body if body else None)
            resp = self.c.getresponse()
            data = resp.read()
            if resp.will_close:
                self.close()
            return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def code_of(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return m.group(1).decode() if m else None


class Ledger:
    """What was sent and what must be true of it afterwards."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = collections.Counter()          # (key, op) -> requests
        self.kinds = collections.Counter()         # operation kind -> count
        self.refused = {}                          # key -> (op, event, code or None): must be absent
        self.unexpected = []                       # descriptions
        self.acked = 0

    def count(self, key, op, kind=None):
        with self.lock:
            self.sent[(key, op)] += 1
            if kind:
                self.kinds[kind] += 1

    def refuse(self, key, op, event, code):
        with self.lock:
            self.refused[key] = (op, event, code)

    def oops(self, text):
        with self.lock:
            self.unexpected.append(text)


class Soak:
    def __init__(self):
        self.endpoint = os.environ["SOAK_ENDPOINT"].rstrip("/")
        parts = urllib.parse.urlsplit(self.endpoint)
        self.host, self.port = parts.hostname, parts.port
        self.hostport = s3raw.host_of(self.endpoint)
        self.rgw_endpoint = os.environ["RGW_ENDPOINT"].rstrip("/")
        rparts = urllib.parse.urlsplit(self.rgw_endpoint)
        self.rgw_host, self.rgw_port = rparts.hostname, rparts.port
        self.key_id, self.secret = os.environ["SOAK_CLIENT_KEY"], os.environ["SOAK_CLIENT_SECRET"]
        self.pid = int(os.environ["SOAK_PID"])
        self.audit = AuditLog(os.environ["SOAK_AUDIT"])
        self.bucket = f"soak-{os.getpid()}"
        self.pool = os.urandom(RANDOM_POOL)
        self.ledger = Ledger()
        # Verification runs in processes of its own: beside 200 client threads, threads
        # here would get too little of the interpreter to keep up.
        self.mp = multiprocessing.get_context("fork")
        self.verify_q = self.mp.Queue()
        self.verify_results = self.mp.Queue()
        self.verified = 0
        self.verify_bad = []
        self.verify_lock = threading.Lock()
        self.fixtures = {}
        self.stop = threading.Event()
        self.big_lock = threading.Lock()
        self.next_big = 0.0

    # --- signing
    def sign(self, method, target, headers, payload_hash, secret=None):
        url = self.endpoint + target
        signed, _ = s3raw.sign(method, url, headers, payload_hash, self.key_id, secret or self.secret)
        return signed

    def rgw_sign(self, method, target, headers, payload_hash):
        signed, _ = s3raw.sign(method, self.rgw_endpoint + target, headers, payload_hash,
                               os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"])
        return signed

    def target(self, key, query=""):
        return f"/{self.bucket}/{urllib.parse.quote(key)}" + (f"?{query}" if query else "")

    def body(self, rnd, size):
        start = rnd.randrange(0, RANDOM_POOL - size + 1)
        return self.pool[start:start + size]

    # --- requests through the proxy
    def put_hex(self, conn, key, data, secret=None, send=None):
        t = self.target(key)
        h = self.sign("PUT", t, {"Host": self.hostport, "Content-Length": str(len(data))},
                      hashlib.sha256(data).hexdigest(), secret)
        return conn.request("PUT", t, h, data if send is None else send)

    def put_chunked(self, key, data):
        """Headers and wire body of a signed aws-chunked PutObject of data."""
        t = self.target(key)
        when = s3raw.utcnow()
        encoded_len = len(s3raw.signed_chunked_body(data, CHUNK, "0" * 64, b"k", "d", "s"))
        h, seed = s3raw.sign("PUT", self.endpoint + t, {"Host": self.hostport, "Content-Length": str(encoded_len),
                                                       "Content-Encoding": "aws-chunked",
                                                       "x-amz-decoded-content-length": str(len(data))},
                             s3raw.STREAMING_SIGNED, self.key_id, self.secret, when)
        wire = s3raw.signed_chunked_body(data, CHUNK, seed, s3raw.signing_key(self.secret, when),
                                         s3raw.amz_date(when), s3raw.scope(when))
        return h, wire

    def trailer(self, key, data):
        t = self.target(key)
        crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
        wire = s3raw.unsigned_trailer_body(data, CHUNK, "x-amz-checksum-crc32", crc)
        h = self.sign("PUT", t, {"Host": self.hostport, "Content-Length": str(len(wire)),
                                 "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
                                 "x-amz-trailer": "x-amz-checksum-crc32"}, s3raw.STREAMING_UNSIGNED_TRAILER)
        return h, wire

    def acked(self, key, data):
        with self.ledger.lock:
            self.ledger.acked += 1
        self.verify_q.put((key, hashlib.sha256(data).hexdigest(), len(data)))
        # Backpressure: objects wait on the RGW until verified and deleted; bound them.
        while self.verify_q.qsize() > MAX_UNVERIFIED and not self.stop.is_set():
            time.sleep(BACKPRESSURE_POLL_S)

    # --- one client
    def client(self, phase, n, deadline):
        rnd = random.Random(n * 7919 + os.getpid())
        conn = Conn(self.host, self.port)
        kinds = [k for k, w in MIX for _ in range(w)]
        seq = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            seq += 1
            kind = rnd.choice(kinds)
            key = f"p{phase}/c{n}/{seq}-{kind}"
            try:
                getattr(self, "op_" + kind)(conn, rnd, key)
            except (OSError, http.client.HTTPException) as err:
                self.ledger.oops(f"{kind} {key}: {type(err).__name__}: {err}")
        conn.close()

    def expect_answer(self, kind, key, got, status, code=None):
        st, _, body = got
        if st != status or (code and code_of(body) != code):
            self.ledger.oops(f"{kind} {key}: got {st} {code_of(body)}, expected {status} {code or ''}")
            return False
        return True

    def op_put_hex(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(SIZES))
        self.ledger.count(key, "PutObject", "put_hex")
        if self.expect_answer("put_hex", key, self.put_hex(conn, key, data), 200):
            self.acked(key, data)

    def op_put_chunked(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(SIZES))
        h, wire = self.put_chunked(key, data)
        self.ledger.count(key, "PutObject", "put_chunked")
        if self.expect_answer("put_chunked", key, conn.request("PUT", self.target(key), h, wire), 200):
            self.acked(key, data)

    def op_put_trailer(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(SIZES))
        h, wire = self.trailer(key, data)
        self.ledger.count(key, "PutObject", "put_trailer")
        if self.expect_answer("put_trailer", key, conn.request("PUT", self.target(key), h, wire), 200):
            self.acked(key, data)

    def op_get(self, conn, rnd, key):
        fkey = rnd.choice(sorted(self.fixtures))
        t = self.target(fkey)
        h = self.sign("GET", t, {"Host": self.hostport}, s3raw.EMPTY_SHA256)
        self.ledger.count(fkey, "GetObject", "get")
        st, _, body = conn.request("GET", t, h)
        if st != 200 or hashlib.sha256(body).hexdigest() != self.fixtures[fkey]:
            self.ledger.oops(f"get {fkey}: got {st} {code_of(body)} with {len(body)} bytes that "
                             f"{'match' if hashlib.sha256(body).hexdigest() == self.fixtures[fkey] else 'differ'}")

    def op_multipart(self, conn, rnd, key):
        big = False
        now = time.monotonic()
        with self.big_lock:
            if now >= self.next_big:
                self.next_big = now + BIG_MULTIPART_EVERY_S
                big = True
        parts = [self.body(rnd, PART_BYTES), self.body(rnd, rnd.choice(SIZES[1:]))] if big \
            else [self.body(rnd, rnd.choice(SIZES[1:]))]
        kind = "multipart_big" if big else "multipart"
        t = self.target(key, "uploads")
        h = self.sign("POST", t, {"Host": self.hostport, "Content-Length": "0"}, s3raw.EMPTY_SHA256)
        self.ledger.count(key, "CreateMultipartUpload", kind)
        got = conn.request("POST", t, h)
        if not self.expect_answer(kind, key, got, 200):
            return
        m = re.search(rb"<UploadId>([^<]+)</UploadId>", got[2])
        upload = urllib.parse.quote(m.group(1).decode(), safe="")
        etags = []
        for i, part in enumerate(parts, 1):
            t = self.target(key, f"partNumber={i}&uploadId={upload}")
            h = self.sign("PUT", t, {"Host": self.hostport, "Content-Length": str(len(part))},
                          hashlib.sha256(part).hexdigest())
            self.ledger.count(key, "UploadPart")
            got = conn.request("PUT", t, h, part)
            if not self.expect_answer(kind, key, got, 200):
                return
            etags.append(got[1].get("etag", ""))
        xml = ("<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{i}</PartNumber><ETag>{e}</ETag></Part>" for i, e in enumerate(etags, 1))
            + "</CompleteMultipartUpload>").encode()
        t = self.target(key, f"uploadId={upload}")
        h = self.sign("POST", t, {"Host": self.hostport, "Content-Length": str(len(xml))},
                      hashlib.sha256(xml).hexdigest())
        self.ledger.count(key, "CompleteMultipartUpload")
        got = conn.request("POST", t, h, xml)
        if self.expect_answer(kind, key, got, 200) and b"<Error>" not in got[2]:
            self.acked(key, b"".join(parts))

    def op_wrong_signature(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(FAILURE_SIZES))
        self.ledger.count(key, "PutObject", "wrong_signature")
        self.ledger.refuse(key, "PutObject", "auth_failed", "SignatureDoesNotMatch")
        got = self.put_hex(conn, key, data, secret=self.secret[::-1] + "x")
        self.expect_answer("wrong_signature", key, got, 403, "SignatureDoesNotMatch")

    def op_bad_hash(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(FAILURE_SIZES))
        bad = data[:-1] + bytes([data[-1] ^ 0xFF])
        self.ledger.count(key, "PutObject", "bad_hash")
        self.ledger.refuse(key, "PutObject", "write_failed", "XAmzContentSHA256Mismatch")
        got = self.put_hex(conn, key, data, send=bad)
        self.expect_answer("bad_hash", key, got, 400, "XAmzContentSHA256Mismatch")

    def op_abort(self, conn, rnd, key):
        data = self.body(rnd, rnd.choice(SIZES[4:]))
        t = self.target(key)
        if rnd.random() < 0.5:
            h = self.sign("PUT", t, {"Host": self.hostport, "Content-Length": str(len(data))},
                          hashlib.sha256(data).hexdigest())
            wire = data
        else:
            h, wire = self.put_chunked(key, data)
        self.ledger.count(key, "PutObject", "abort")
        self.ledger.refuse(key, "PutObject", "write_failed", None)
        s3raw.send_cut(self.endpoint + t, "PUT", h, wire, len(wire) // 2)

    # --- the RGW side
    def verifier(self):
        """The body of a verifier process: reads acknowledged objects from the RGW, compares
        them, deletes them; reports (verified, [problems]) on verify_results at the end."""
        verified, bad = 0, []
        conn = Conn(self.rgw_host, self.rgw_port)
        host = s3raw.host_of(self.rgw_endpoint)
        while True:
            item = self.verify_q.get()
            if item is None:
                break
            key, want, size = item
            t = self.target(key)
            try:
                st, _, body = conn.request("GET", t, self.rgw_sign("GET", t, {"Host": host}, s3raw.EMPTY_SHA256))
                ok = st == 200 and hashlib.sha256(body).hexdigest() == want
                if ok:
                    conn.request("DELETE", t, self.rgw_sign("DELETE", t, {"Host": host}, s3raw.EMPTY_SHA256))
            except (OSError, http.client.HTTPException) as err:
                ok, st, body = False, f"{type(err).__name__}: {err}", b""
            if ok:
                verified += 1
            else:
                bad.append(f"{key}: RGW answered {st} with {len(body)} bytes, {size} acknowledged")
        conn.close()
        self.verify_results.put((verified, bad))

    def collect_verifiers(self, procs):
        for _ in procs:
            self.verify_q.put(None)
        for _ in procs:
            verified, bad = self.verify_results.get(timeout=VERIFY_TAIL_MAX_S)
            self.verified += verified
            self.verify_bad += bad
        for p in procs:
            p.join(TIMEOUT_S)

    def rgw_status(self, conn, method, key):
        t = self.target(key)
        host = s3raw.host_of(self.rgw_endpoint)
        return conn.request(method, t, self.rgw_sign(method, t, {"Host": host}, s3raw.EMPTY_SHA256))[0]

    def setup(self):
        conn = Conn(self.rgw_host, self.rgw_port)
        host = s3raw.host_of(self.rgw_endpoint)
        t = f"/{self.bucket}"
        st, _, body = conn.request("PUT", t, self.rgw_sign("PUT", t, {"Host": host, "Content-Length": "0"},
                                                           s3raw.EMPTY_SHA256))
        expect(st == 200, f"creating bucket {self.bucket} on the RGW: {st} {code_of(body)}")
        rnd = random.Random(1)
        for i in range(FIXTURES):
            data = self.body(rnd, SIZES[i % len(SIZES)])
            key = f"fixture/{i}"
            t = self.target(key)
            st, _, body = conn.request("PUT", t, self.rgw_sign("PUT", t, {"Host": host, "Content-Length": str(len(data))},
                                                               hashlib.sha256(data).hexdigest()), data)
            expect(st == 200, f"writing fixture {key} on the RGW: {st} {code_of(body)}")
            self.fixtures[key] = hashlib.sha256(data).hexdigest()
        conn.close()

    # --- the proxy's resources
    def drained_figures(self, age=True, idle_since=None):
        """RSS (KiB) and fds with the proxy's upstream pools emptied of aged connections
        (age=False: at start, when the pools are empty anyway). idle_since: when the proxy
        last had traffic, if checks ran in between."""
        if age:
            time.sleep(max(0.0, POOL_AGE_S - (time.monotonic() - (idle_since or time.monotonic()))))
        t = self.target(sorted(self.fixtures)[0])
        for _ in range(POKES):
            conn = Conn(self.host, self.port)  # a new connection each: spread over the worker threads
            h = self.sign("GET", t, {"Host": self.hostport}, s3raw.EMPTY_SHA256)
            self.ledger.count(sorted(self.fixtures)[0], "GetObject")
            conn.request("GET", t, h)
            conn.close()
        time.sleep(SAMPLE_S)
        return proc_stats.rss_kib(self.pid), proc_stats.fd_count(self.pid)

    def wait_audit_quiet(self):
        deadline = time.monotonic() + AUDIT_WAIT_MAX_S
        size, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = os.path.getsize(self.audit.path) if os.path.exists(self.audit.path) else 0
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= AUDIT_QUIET_S:
                return
            time.sleep(0.2)


def load(soak, phase, seconds):
    """CLIENTS clients for seconds; returns (elapsed, clients that did not finish)."""
    t0 = time.monotonic()
    clients = [threading.Thread(target=soak.client, args=(phase, n, t0 + seconds), daemon=True)
               for n in range(CLIENTS)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(seconds + TIMEOUT_S * 2)
    return time.monotonic() - t0, sum(c.is_alive() for c in clients)


def main():
    r = Results()
    soak = Soak()
    r.check("setup", soak.setup)
    if len(soak.fixtures) != FIXTURES:
        return
    cold_rss, cold_fds = soak.drained_figures(age=False)
    peak = {"rss": cold_rss, "fds": cold_fds}

    def sampler():
        while not soak.stop.wait(SAMPLE_S):
            try:
                peak["rss"] = max(peak["rss"], proc_stats.rss_kib(soak.pid))
                peak["fds"] = max(peak["fds"], proc_stats.fd_count(soak.pid))
            except OSError:
                return

    # Forked before any thread of this process starts.
    verifiers = [soak.mp.Process(target=soak.verifier, daemon=True) for _ in range(VERIFIERS)]
    for v in verifiers:
        v.start()
    sample = threading.Thread(target=sampler, daemon=True)
    sample.start()
    t0 = time.monotonic()
    stuck = 0
    if WARMUP_S > 0:
        _, stuck = load(soak, 0, WARMUP_S)
        base_rss, base_fds = soak.drained_figures()
    else:
        base_rss, base_fds = cold_rss, cold_fds
    warm_requests = sum(soak.ledger.sent.values())
    Results.note(f"{CLIENTS} clients for {SECONDS:.0f} s (after {WARMUP_S:.0f} s of warm-up) through pid {soak.pid}; "
                 f"proxy RSS cold {cold_rss / 1024:.1f} MiB, baseline {base_rss / 1024:.1f} MiB; fds cold {cold_fds}, "
                 f"baseline {base_fds}")
    load_s, stuck_now = load(soak, 1, SECONDS)
    load_end = time.monotonic()
    stuck += stuck_now
    soak.stop.set()
    soak.collect_verifiers(verifiers)
    verify_tail = time.monotonic() - load_end
    time.sleep(ABORT_SETTLE_S)

    led = soak.ledger
    requests = sum(led.sent.values()) - warm_requests
    Results.note(f"{requests} requests in {load_s:.1f} s ({requests / load_s:.0f}/s; {warm_requests} more in the "
                 "warm-up), all phases: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(led.kinds.items())))
    Results.note(f"{len(led.refused)} deliberate failures, {led.acked} objects acknowledged, "
                 f"{soak.verified} verified on the RGW, {len(led.unexpected)} unexpected answers")

    def no_unexpected():
        expect(not stuck, f"{stuck} clients still running {TIMEOUT_S * 2} s after the end")
        expect(not led.unexpected, f"{len(led.unexpected)} unexpected answers, e.g. {led.unexpected[:3]}")

    def acked_on_rgw():
        expect(led.acked > 0, "nothing was acknowledged")
        expect(not soak.verify_bad, f"{len(soak.verify_bad)} acknowledged objects not on the RGW as sent, "
                                    f"e.g. {soak.verify_bad[:3]}")
        expect(soak.verified == led.acked, f"{soak.verified} of {led.acked} acknowledged objects verified")

    def refused_absent():
        keys = sorted(led.refused)
        present = []

        def look(part):
            conn = Conn(soak.rgw_host, soak.rgw_port)
            found = [k for k in part if soak.rgw_status(conn, "HEAD", k) != 404]
            conn.close()
            with soak.verify_lock:
                present.extend(found)
        lookers = [threading.Thread(target=look, args=(keys[i::VERIFIERS],)) for i in range(VERIFIERS)]
        for t in lookers:
            t.start()
        for t in lookers:
            t.join()
        expect(not present, f"{len(present)} of {len(led.refused)} refused or abandoned writes exist on the RGW, "
                            f"e.g. {present[:3]}")

    t_checks = time.monotonic()
    soak.wait_audit_quiet()
    records = [x for x in soak.audit.records() if x.get("bucket") == soak.bucket]

    def one_line_each():
        got = collections.Counter((x.get("key"), x.get("op")) for x in records)
        missing = [(k, op, n, got.get((k, op), 0)) for (k, op), n in led.sent.items() if got.get((k, op), 0) < n]
        extra = [(k, op, n, led.sent.get((k, op), 0)) for (k, op), n in got.items() if n > led.sent.get((k, op), 0)]
        expect(not missing and not extra,
               f"{len(missing)} (key, op) with fewer audit lines than requests, e.g. {missing[:3]} "
               f"(key, op, sent, lines); {len(extra)} with more, e.g. {extra[:3]} (key, op, lines, sent)")

    def failures_audited():
        by_key = collections.defaultdict(list)
        for x in records:
            if x.get("key") in led.refused:
                by_key[x.get("key")].append(x)
        wrong = []
        for key, (op, event, code) in led.refused.items():
            lines = [x for x in by_key.get(key, []) if x.get("op") == op]
            if len(lines) != 1 or lines[0].get("event") != event or (code and lines[0].get("s3_code") != code) \
                    or lines[0].get("level") not in ("warn", "error"):
                wrong.append((key, [(x.get("event"), x.get("level"), x.get("s3_code")) for x in lines]))
        expect(not wrong, f"{len(wrong)} of {len(led.refused)} failures without their one audit line, e.g. {wrong[:3]}")

    r.check("no_unexpected_answers", no_unexpected)
    r.check("acknowledged_objects_on_rgw_byte_for_byte", acked_on_rgw)
    r.check("refused_writes_left_nothing", refused_absent)
    r.check("one_audit_line_per_request", one_line_each)
    r.check("failures_audited_with_event_and_code", failures_audited)

    Results.note(f"after the load: {verify_tail:.1f} s to verify the last acknowledged objects, "
                 f"{time.monotonic() - t_checks:.1f} s for the RGW and audit checks")
    after_rss, after_fds = soak.drained_figures(idle_since=load_end)
    upstream_after = len(proc_stats.tcp_to(soak.pid, soak.rgw_port))
    Results.note(f"proxy RSS baseline {base_rss / 1024:.1f} MiB, peak {peak['rss'] / 1024:.1f} MiB, "
                 f"after {after_rss / 1024:.1f} MiB (slack {RSS_SLACK_KIB // 1024} MiB); fds baseline {base_fds}, "
                 f"peak {peak['fds']}, after {after_fds} (slack {FD_SLACK}), {upstream_after} of them upstream")

    # Memory a burst freed goes back to the system: RSS ends near where the idle proxy began,
    # not only near the level the warm-up left.
    r.check("rss_back_near_cold_start", lambda: expect(
        after_rss <= cold_rss + RSS_SLACK_KIB,
        f"RSS {after_rss / 1024:.1f} MiB after the load, {cold_rss / 1024:.1f} MiB at the cold start "
        f"(slack {RSS_SLACK_KIB // 1024} MiB)"))
    r.check("rss_back_near_baseline", lambda: expect(
        after_rss <= base_rss + RSS_SLACK_KIB,
        f"RSS {after_rss / 1024:.1f} MiB after the load, baseline {base_rss / 1024:.1f} MiB "
        f"(slack {RSS_SLACK_KIB // 1024} MiB)"))
    r.check("fds_back_near_baseline", lambda: expect(
        after_fds <= base_fds + FD_SLACK, f"{after_fds} fds after the load, baseline {base_fds} (slack {FD_SLACK})"))

    def alive():
        os.kill(soak.pid, 0)
    r.check("proxy_alive", alive)
    Results.note(f"{time.monotonic() - t0:.1f} s from the first request to the last check")

    # The RGW keeps deleted multipart data until its garbage collection (hours by default).
    if os.environ.get("RGW_CONF"):
        subprocess.run(["radosgw-admin", "-c", os.environ["RGW_CONF"], "gc", "process", "--include-all"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=False)


if __name__ == "__main__":
    main_guard(main)
