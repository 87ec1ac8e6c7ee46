#!/usr/bin/python3
"""The checks of suites/operations.sh: reloads (SIGHUP), shutdown (SIGTERM), overload and the
upstream pool, each against proxies this script starts, stops and signals itself, in front of
the real RGW. Objects are checked on the RGW directly with its own key.

Env: the suite contract's (RGW_*, PROXY_BIN, IT_DATA), OPS_WORK (scratch directory),
     OPS_PORT_BASE (first of the suite's ports), OPS_SHORT_RGW_ENDPOINT (a radosgw closing idle
     connections after OPS_SHORT_RGW_IDLE_MS; empty when it did not start, with the reason in
     OPS_SHORT_RGW_PROBLEM).
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import concurrent.futures
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import s3raw  # noqa: E402
from suite import (AuditLog, Failed, Results, call, expect, expect_absent, expect_acl, expect_bytes,  # noqa: E402
                   main_guard, rgw, s3_client)

WORK = os.environ["OPS_WORK"]
PORT_BASE = int(os.environ["OPS_PORT_BASE"])
PROXY_BIN = os.environ["PROXY_BIN"]
RGW_ENDPOINT = os.environ["RGW_ENDPOINT"]
RGW_KEY, RGW_SECRET = os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"]
OTHER_KEY, OTHER_SECRET = os.environ["RGW_OTHER_ACCESS_KEY"], os.environ["RGW_OTHER_SECRET_KEY"]
SHORT_RGW = os.environ.get("OPS_SHORT_RGW_ENDPOINT", "")
SHORT_RGW_IDLE_S = int(os.environ.get("OPS_SHORT_RGW_IDLE_MS", "1000")) / 1000
BIG = open(os.path.join(os.environ["IT_DATA"], "big.bin"), "rb").read()
RUN = uuid.uuid4().hex[:8]

# Client keys the proxies know (never the RGW's: what lands was verified and re-signed).
OLD_KEY, OLD_SECRET = "AKIAOPSOLDKEY0000001", "ops-old-secret-ops-old-secret-0001"
NEW_KEY, NEW_SECRET = "AKIAOPSNEWKEY0000002", "ops-new-secret-ops-new-secret-0002"
SPARE_KEY, SPARE_SECRET = "AKIAOPSSPAREKEY00003", "ops-spare-secret-ops-spare-secre03"

# Bounds on waits; each normally ends within a fraction of a second.
UP_WAIT_S = 10
EXIT_WAIT_S = 30
EVENT_WAIT_S = 10
# A slow upload: 12 MiB in 256 KiB pieces with a pause after each takes about 2.5 s, long
# enough to signal the proxy in the middle of it.
SLOW_PIECE = 256 * 1024
SLOW_PAUSE_S = 0.05
# The grace period of the cancelling-shutdown check, and how late the exit may come after it.
SHORT_GRACE_S = 2
EXIT_SLACK_S = 3
# Out of file descriptors: the proxy's limit, and how many connections exhaust it.
LOW_NOFILE = 64
EXHAUSTING_CONNECTIONS = 120
# CPU time the proxy may use over the measuring window while accept() keeps failing. A loop
# retrying at once burns the whole window (one core); backing off up to 1 s uses almost none.
EMFILE_WINDOW_S = 3.0
EMFILE_MAX_CPU_S = 0.3

_procs = []
# Starts of a proxy whose port turned out to be taken, before the check gives up.
BIND_RETRIES = 5


class PortTaken(Exception):
    pass


def log_note(text):
    Results.note(text)


# --- proxies ---------------------------------------------------------------------------------

class Proxy:
    """One proxy process with its own config file, log and audit log."""

    def __init__(self, name, port, admin=None):
        self.name, self.port, self.admin = name, port, admin
        self.conf = os.path.join(WORK, f"{name}.toml")
        self.audit_path = os.path.join(WORK, f"{name}.audit.jsonl")
        self.log_path = os.path.join(WORK, f"{name}.log")
        self.audit = AuditLog(self.audit_path)
        self.proc = None
        self.url = f"http://127.0.0.1:{port}"

    def write(self, clients=((OLD_KEY, OLD_SECRET, None),), endpoint=RGW_ENDPOINT, upstream=(RGW_KEY, RGW_SECRET),
              acl_mode="strip", audit_level="info", server_extra="", canary=None, raw=None):
        if raw is not None:
            text = raw
        else:
            self.written = dict(clients=clients, endpoint=endpoint, upstream=upstream, acl_mode=acl_mode,
                                audit_level=audit_level, server_extra=server_extra, canary=canary)
            lines = ["[server]", f'listen = "127.0.0.1:{self.port}"']
            if self.admin:
                lines.append(f'admin_listen = "127.0.0.1:{self.admin}"')
            lines += [server_extra, "", "[upstream]", f'endpoint = "{endpoint}"', 'region = "us-east-1"',
                      f'access_key_id = "{upstream[0]}"', f'secret_access_key = "{upstream[1]}"', ""]
            for key, secret, rate in clients:
                lines += ["[[clients]]", f'access_key_id = "{key}"', f'secret_access_key = "{secret}"']
                if rate is not None:
                    lines.append(f"max_requests_per_second = {rate}")
                lines.append("")
            lines += ["[acl]", f'mode = "{acl_mode}"', ""]
            if canary:
                lines += ["[canary]", f'bucket = "{canary}"', 'interval = "1s"', ""]
            lines += ["[audit]", f'path = "{self.audit_path}"', f'level = "{audit_level}"', ""]
            text = "\n".join(lines)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(text)
        return self

    def start(self, nofile=None):
        for _ in range(BIND_RETRIES):
            try:
                return self._start(nofile)
            except PortTaken:
                # The suite's ports lie inside the kernel's ephemeral range: a connection
                # elsewhere on the machine may hold one for a while. Take the next ones.
                self.port, self.admin = next_port(), (next_port() if self.admin else None)
                self.url = f"http://127.0.0.1:{self.port}"
                self.write(**self.written)
        raise Failed(f"{self.name}: no free port after {BIND_RETRIES} tries")

    def _start(self, nofile):
        cmd = [PROXY_BIN, "--config", self.conf]
        if nofile:
            cmd = ["/bin/bash", "-c", f'ulimit -n {nofile} && exec "$0" "$@"'] + cmd
        log = open(self.log_path, "ab")
        starts = len(self.events("start"))
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _procs.append(self.proc)
        deadline = time.monotonic() + UP_WAIT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "Address already in use" in self.last_log_line():
                    raise PortTaken()
                raise Failed(f"{self.name} exited with {self.proc.returncode}: {self.last_log_line()}")
            # The start line is written once every listener is bound: a connection alone could
            # reach someone else's socket on the port.
            if len(self.events("start")) > starts:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    if self.admin is None or self.http_get("/healthz")[0] == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise Failed(f"{self.name} not up on {self.port}: {self.last_log_line()}")

    @property
    def pid(self):
        return self.proc.pid

    def last_log_line(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
            return lines[-1] if lines else "(empty log)"
        except OSError:
            return "(no log)"

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait_exit(EXIT_WAIT_S) is None:
                self.proc.kill()
                self.proc.wait()

    def http_get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.admin}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def metric(self, series):
        text = self.http_get("/metrics")[1]
        m = re.search(rf"^{re.escape(series)} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else None

    def client(self, key=OLD_KEY, secret=OLD_SECRET):
        return s3_client(self.url, key, secret)

    def events(self, event):
        return [r for r in self.audit.records() if r.get("event") == event]

    def wait_event(self, event, count=1, timeout=EVENT_WAIT_S):
        """Waits until the audit log holds `count` lines of this event; returns the last."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(event)
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() >= deadline:
                raise Failed(f"{self.name}: {len(found)} '{event}' audit lines after {timeout} s, expected {count}")
            time.sleep(0.05)

    def reload(self, **config):
        """Rewrites the config, sends SIGHUP and waits for the outcome line; returns it."""
        before_ok, before_failed = len(self.events("reload")), len(self.events("reload_failed"))
        self.write(**config)
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + EVENT_WAIT_S
        while time.monotonic() < deadline:
            ok, failed = self.events("reload"), self.events("reload_failed")
            if len(ok) > before_ok:
                return ok[-1]
            if len(failed) > before_failed:
                return failed[-1]
            time.sleep(0.05)
        raise Failed(f"{self.name}: no reload or reload_failed line {EVENT_WAIT_S} s after SIGHUP "
                     f"(alive: {self.proc.poll() is None})")


# Proxies take ports from here on; the short-idle radosgw has PORT_BASE + 90.
MAX_PROXY_PORT_OFFSET = 80


def next_port(_counter=[0]):  # noqa: B006 - a counter shared by the calls
    if _counter[0] >= MAX_PROXY_PORT_OFFSET:
        raise Failed("the suite ran out of its ports")
    port = PORT_BASE + _counter[0]
    _counter[0] += 1
    return port


def new_proxy(name, admin=False):
    return Proxy(name, next_port(), next_port() if admin else None)


# --- requests --------------------------------------------------------------------------------

def put(proxy, bucket, key, body, key_id=OLD_KEY, secret=OLD_SECRET, **kwargs):
    return call(proxy.client(key_id, secret).put_object, Bucket=bucket, Key=key, Body=body, **kwargs)


class SlowUpload:
    """A PUT signed with a key and sent in pieces with a pause after each, on a thread:
    `progress` is the fraction sent, `stall_at` stops sending there (holding the connection)."""

    def __init__(self, proxy, bucket, key, data, key_id=OLD_KEY, secret=OLD_SECRET, stall_at=None):
        self.url = f"{proxy.url}/{bucket}/{key}"
        self.data, self.key_id, self.secret, self.stall_at = data, key_id, secret, stall_at
        self.progress = 0.0
        self.result = None  # s3raw.Response, or the exception text
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            payload_hash = hashlib.sha256(self.data).hexdigest()
            headers, _ = s3raw.sign("PUT", self.url, {"Host": s3raw.host_of(self.url),
                                                      "Content-Length": str(len(self.data))},
                                    payload_hash, self.key_id, self.secret)
            parts = self.url.split("/", 3)
            host, port = parts[2].split(":")
            sock = socket.create_connection((host, int(port)), timeout=60)
            head = [f"PUT /{parts[3]} HTTP/1.1"] + [f"{n}: {v}" for n, v in headers]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for start in range(0, len(self.data), SLOW_PIECE):
                if self.stall_at is not None and start >= self.stall_at * len(self.data):
                    break
                sock.sendall(self.data[start:start + SLOW_PIECE])
                self.progress = min(1.0, (start + SLOW_PIECE) / len(self.data))
                time.sleep(SLOW_PAUSE_S)
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            self.result = s3raw.Response(resp.status, resp.getheaders(), resp.read())
            sock.close()
        except Exception as err:  # noqa: BLE001 - reported by the check that waits
            self.result = f"{type(err).__name__}: {err}"

    def wait_progress(self, fraction, timeout=20):
        deadline = time.monotonic() + timeout
        while self.progress < fraction:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise Failed(f"the slow upload reached only {self.progress:.0%} (result {self.result})")
            time.sleep(0.01)

    def finish(self, timeout=60):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise Failed("the slow upload did not finish")
        return self.result


def close_wait_sockets(pid):
    """The proxy's TCP sockets in CLOSE_WAIT (the peer closed, the proxy did not)."""
    out = subprocess.run(["ss", "-Htanp", "state", "close-wait"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if f"pid={pid}," in line]


def open_descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line; fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the checks ------------------------------------------------------------------------------

class Suite:
    def __init__(self):
        self.r = Results()
        self.bucket = f"ops-{RUN}"
        self.other_bucket = f"ops-other-{RUN}"
        rgw().create_bucket(Bucket=self.bucket)
        s3_client(RGW_ENDPOINT, OTHER_KEY, OTHER_SECRET).create_bucket(Bucket=self.other_bucket)
        self.proxies = []

    def proxy(self, name, admin=False):
        p = new_proxy(name, admin)
        self.proxies.append(p)
        return p

    def stop_all(self):
        for p in self.proxies:
            p.stop()

    # SIGHUP ------------------------------------------------------------------------------

    def sighup_rotates_client_key(self):
        p = self.proxy("rotate-client").write().start()
        old = p.client(OLD_KEY, OLD_SECRET)
        status, code, _ = call(old.put_object, Bucket=self.bucket, Key="rotate/before", Body=b"before")
        expect(status == 200, f"the old key before the reload got {status} {code}")
        line = p.reload(clients=((NEW_KEY, NEW_SECRET, None),))
        expect(line["event"] == "reload", f"reload refused: {line}")
        expect(line.get("clients") == [NEW_KEY], f"reload line names clients {line.get('clients')}")
        # The same client: its kept-alive connection was opened before the reload.
        status, code, _ = call(old.put_object, Bucket=self.bucket, Key="rotate/old-after", Body=b"old")
        expect((status, code) == (403, "InvalidAccessKeyId"),
               f"the old key after the reload got {status} {code}, expected 403 InvalidAccessKeyId")
        expect_absent(self.bucket, "rotate/old-after")
        body = os.urandom(70001)
        status, code, _ = put(p, self.bucket, "rotate/new-after", body, NEW_KEY, NEW_SECRET)
        expect(status == 200, f"the new key after the reload got {status} {code}")
        expect_bytes(self.bucket, "rotate/new-after", body)

    def sighup_rotates_upstream_key_and_the_canary_follows(self):
        # The canary writes into a bucket only the RGW's "other" user may write: with the
        # tester's key upstream it fails, after the reload to other's key it must pass.
        p = self.proxy("rotate-upstream", admin=True)
        p.write(canary=self.other_bucket).start()
        deadline = time.monotonic() + EVENT_WAIT_S
        while "AccessDenied" not in p.http_get("/readyz")[1] and time.monotonic() < deadline:
            time.sleep(0.1)
        status, reason = p.http_get("/readyz")
        expect(status == 503 and "AccessDenied" in reason, f"/readyz before the reload: {status} {reason.strip()}")
        status, code, _ = put(p, self.other_bucket, "upstream/before", b"x")
        expect(status == 403, f"a write into other's bucket as tester got {status} {code}")
        line = p.reload(canary=self.other_bucket, upstream=(OTHER_KEY, OTHER_SECRET))
        expect(line["event"] == "reload" and line.get("upstream_access_key_id") == OTHER_KEY, f"reload: {line}")
        deadline = time.monotonic() + EVENT_WAIT_S
        while p.http_get("/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, reason = p.http_get("/readyz")
        expect(status == 200, f"/readyz after the reload: {status} {reason.strip()} (the canary kept the old key?)")
        body = os.urandom(5000)
        status, code, _ = put(p, self.other_bucket, "upstream/after", body)
        expect(status == 200, f"a write into other's bucket after the reload got {status} {code}")
        owner = s3_client(RGW_ENDPOINT, OTHER_KEY, OTHER_SECRET).get_object_acl(
            Bucket=self.other_bucket, Key="upstream/after")["Owner"]["ID"]
        expect(owner == os.environ.get("RGW_OTHER_UID", "other"), f"the object's owner is {owner}")

    def sighup_during_upload_keeps_its_settings(self):
        p = self.proxy("reload-upload").write().start()
        upload = SlowUpload(p, self.bucket, "reload/big", BIG)
        upload.wait_progress(0.3)
        line = p.reload(clients=((NEW_KEY, NEW_SECRET, None),), acl_mode="audit")
        expect(line["event"] == "reload", f"reload refused: {line}")
        sent_at_reload = upload.progress
        expect(sent_at_reload < 1.0, "the upload had finished before the reload")
        result = upload.finish()
        expect(not isinstance(result, str) and result.status == 200,
               f"the upload across the reload got {result} (sent {sent_at_reload:.0%} at the reload)")
        expect_bytes(self.bucket, "reload/big", BIG)
        rec = p.audit.one_line(self.bucket, "reload/big")
        expect(rec.get("access_key_id") == OLD_KEY and rec.get("status") == 200,
               f"audit line: {rec.get('access_key_id')} {rec.get('status')}")
        status, code, _ = put(p, self.bucket, "reload/old-after", b"x")
        expect(code == "InvalidAccessKeyId", f"the old key after the upload got {status} {code}")
        log_note(f"reload arrived with {sent_at_reload:.0%} of the 12 MiB upload sent")

    def sighup_invalid_config_is_refused(self):
        p = self.proxy("reload-invalid", admin=True).write().start()
        good = p.conf + ".good"
        shutil.copy(p.conf, good)
        with open(good, encoding="utf-8") as f:
            good_text = f.read()
        cases = [
            ("syntax", good_text.replace("[acl]", "[acl\n"), ""),
            ("bad value", good_text.replace('mode = "strip"', 'mode = "bogus"'), "acl.mode"),
            ("listen", good_text.replace(f"127.0.0.1:{p.port}", f"127.0.0.1:{p.port + 50}"), "server.listen"),
            ("endpoint", good_text.replace(RGW_ENDPOINT, "http://127.0.0.1:1"), "upstream.endpoint"),
            ("new key, unknown section", good_text.replace(OLD_KEY, NEW_KEY) + "\n[extra]\nx = 1\n", "extra"),
        ]
        for what, text, key in cases:
            line = p.reload(raw=text)
            expect(line["event"] == "reload_failed", f"{what}: the reload was applied: {line}")
            expect(line.get("level") == "error" and line.get("key") == key,
                   f"{what}: reload_failed line {line.get('level')} key={line.get('key')!r}, expected {key!r}")
            expect(OLD_SECRET not in p.audit.text() and NEW_SECRET not in p.audit.text(), "a secret in the audit log")
            status, code, _ = put(p, self.bucket, f"invalid/{what}", b"still")
            expect(status == 200, f"after the refused {what} reload the old key got {status} {code}")
        failures = p.metric('s3_acl_proxy_config_reloads_total{result="failure"}')
        expect(failures == len(cases), f"config_reloads_total failure = {failures}, expected {len(cases)}")
        expect(p.proc.poll() is None, "the proxy died")

    def sighup_reopens_the_audit_file(self):
        p = self.proxy("logrotate").write().start()
        status, _, _ = put(p, self.bucket, "rotate-log/before", b"before")
        expect(status == 200, "the first upload failed")
        p.audit.one_line(self.bucket, "rotate-log/before")
        rotated = p.audit_path + ".1"
        os.rename(p.audit_path, rotated)  # what logrotate does, then its postrotate sends SIGHUP
        p.signal(signal.SIGHUP)
        p.wait_event("reload")            # written to the new file
        status, _, _ = put(p, self.bucket, "rotate-log/after", b"after")
        expect(status == 200, "the upload after the rotation failed")
        p.audit.one_line(self.bucket, "rotate-log/after")
        old = AuditLog(rotated)
        expect(old.for_key(self.bucket, "rotate-log/before", wait=False), "the old file lost its line")
        expect(not old.for_key(self.bucket, "rotate-log/after", wait=False), "a new line went to the old file")
        expect(not p.audit.for_key(self.bucket, "rotate-log/before", wait=False), "an old line in the new file")

    def sighup_changes_acl_mode_and_audit_level(self):
        p = self.proxy("reload-policy").write().start()
        status, _, _ = put(p, self.bucket, "policy/strip", b"s", ACL="public-read")
        expect(status == 200, "upload with ACL before the reload failed")
        expect_acl(self.bucket, "policy/strip", public=False)
        line = p.reload(acl_mode="audit", audit_level="warn")
        expect(line["event"] == "reload" and line.get("acl_mode") == "audit" and line.get("audit_level") == "warn",
               f"reload: {line}")
        status, _, _ = put(p, self.bucket, "policy/audit", b"a", ACL="public-read")
        expect(status == 200, "upload with ACL after the reload failed")
        expect_acl(self.bucket, "policy/audit", public=True)
        status, code, _ = put(p, self.bucket, "policy/denied", b"d", OLD_KEY, OLD_SECRET + "x")
        expect(code == "SignatureDoesNotMatch", f"wrong secret got {status} {code}")
        expect(p.audit.for_key(self.bucket, "policy/denied"), "the refused request has no line at level warn")
        expect(not p.audit.for_key(self.bucket, "policy/audit"), "a successful request was logged at level warn")

    # SIGTERM -----------------------------------------------------------------------------

    def sigterm_during_upload_completes_and_exits_0(self):
        p = self.proxy("sigterm-upload").write().start()
        upload = SlowUpload(p, self.bucket, "sigterm/big", BIG)
        upload.wait_progress(0.3)
        p.signal(signal.SIGTERM)
        p.wait_event("shutdown")
        result = upload.finish()
        expect(not isinstance(result, str) and result.status == 200, f"the upload across SIGTERM got {result}")
        rc = p.wait_exit(EXIT_WAIT_S)
        expect(rc == 0, f"the proxy exited with {rc}")
        expect_bytes(self.bucket, "sigterm/big", BIG)
        rec = p.audit.one_line(self.bucket, "sigterm/big")
        expect(rec.get("status") == 200, f"audit status {rec.get('status')}")
        stopped = p.events("stopped")
        expect(stopped and stopped[-1].get("cancelled") == 0, f"stopped line: {stopped}")

    def sigterm_grace_cancels_a_stalled_upload_and_audits_it(self):
        p = self.proxy("sigterm-grace").write(server_extra=f'shutdown_grace = "{SHORT_GRACE_S}s"').start()
        idle = socket.create_connection(("127.0.0.1", p.port))  # an idle connection must not hold the exit
        upload = SlowUpload(p, self.bucket, "grace/stalled", BIG, stall_at=0.1)
        upload.wait_progress(0.1)
        time.sleep(0.2)
        started = time.monotonic()
        p.signal(signal.SIGTERM)
        rc = p.wait_exit(SHORT_GRACE_S + EXIT_SLACK_S)
        took = time.monotonic() - started
        idle.close()
        expect(rc == 0, f"the proxy exited with {rc} ({took:.1f} s after SIGTERM, grace {SHORT_GRACE_S} s)")
        expect(took >= SHORT_GRACE_S - 0.2, f"exited after {took:.1f} s, before the grace period ended")
        upload.finish()
        rec = p.audit.one_line(self.bucket, "grace/stalled")
        for field, want in (("status", 503), ("s3_code", "ServiceUnavailable"), ("event", "write_failed"),
                            ("level", "error")):
            expect(rec.get(field) == want, f"audit line {field}={rec.get(field)!r}, expected {want!r}")
        stopped = p.events("stopped")
        expect(stopped and stopped[-1].get("cancelled") == 1, f"stopped line: {stopped}")
        expect_absent(self.bucket, "grace/stalled")
        log_note(f"cancelling shutdown: exit {took:.2f} s after SIGTERM with shutdown_grace {SHORT_GRACE_S}s")

    # Overload ----------------------------------------------------------------------------

    def max_connections_answers_slowdown(self):
        p = self.proxy("max-conn", admin=True).write(server_extra="max_connections = 3").start()
        held = [socket.create_connection(("127.0.0.1", p.port)) for _ in range(3)]
        deadline = time.monotonic() + EVENT_WAIT_S
        while p.metric("s3_acl_proxy_client_connections") != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, code, _ = put(p, self.bucket, "maxconn/refused", b"refused")
        expect((status, code) == (503, "SlowDown"), f"the fourth connection got {status} {code}")
        raw = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        raw.sendall(f"HEAD /{self.bucket} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head_answer = b""
        while chunk := raw.recv(4096):
            head_answer += chunk
        raw.close()
        expect(head_answer.startswith(b"HTTP/1.1 503") and b"<Error>" not in head_answer,
               f"a refused HEAD got {head_answer[:80]!r}")
        refusal = p.wait_event("connection_refused", count=2)
        expect(refusal.get("reason") == "max_connections" and refusal.get("level") == "warn", f"audit: {refusal}")
        throttled = p.metric('s3_acl_proxy_throttled_total{reason="max_connections"}')
        expect(throttled == 2, f"throttled_total{{max_connections}} = {throttled}")
        expect_absent(self.bucket, "maxconn/refused")
        for s in held:
            s.close()
        deadline = time.monotonic() + EVENT_WAIT_S
        while p.metric("s3_acl_proxy_client_connections") != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, code, _ = put(p, self.bucket, "maxconn/after", b"after")
        expect(status == 200, f"after the held connections closed a request got {status} {code}")

    def request_rate_limit_answers_slowdown(self):
        p = self.proxy("rate", admin=True).write(
            clients=((OLD_KEY, OLD_SECRET, 2), (SPARE_KEY, SPARE_SECRET, None))).start()
        limited = p.client(OLD_KEY, OLD_SECRET)
        # GETs (a HEAD's error has no body to name the code).
        outcomes = [call(limited.list_objects_v2, Bucket=self.bucket, MaxKeys=1)[:2] for _ in range(6)]
        ok = sum(1 for o in outcomes if o[0] == 200)
        slow = sum(1 for o in outcomes if o == (503, "SlowDown"))
        expect(ok in (2, 3) and ok + slow == 6, f"at 2 requests/s, six at once got {outcomes}")
        free = p.client(SPARE_KEY, SPARE_SECRET)
        free_outcomes = [call(free.list_objects_v2, Bucket=self.bucket, MaxKeys=1)[0] for _ in range(6)]
        expect(free_outcomes == [200] * 6, f"the unlimited key got {free_outcomes}")
        time.sleep(1.1)
        status, code, _ = call(limited.list_objects_v2, Bucket=self.bucket, MaxKeys=1)
        expect(status == 200, f"after a second the limited key got {status} {code}")
        time.sleep(0.3)
        lines = [r for r in p.audit.records() if r.get("s3_code") == "SlowDown"]
        expect(len(lines) == slow and all(r.get("status") == 503 and r.get("access_key_id") == OLD_KEY
                                          for r in lines), f"{len(lines)} SlowDown audit lines for {slow} refusals")
        throttled = p.metric('s3_acl_proxy_throttled_total{reason="rate_limit"}')
        expect(throttled == slow, f"throttled_total{{rate_limit}} = {throttled}, expected {slow}")

    def accept_backs_off_when_out_of_file_descriptors(self):
        p = self.proxy("emfile", admin=True).write(server_extra="threads = 1").start(nofile=LOW_NOFILE)
        conns = []
        try:
            for _ in range(EXHAUSTING_CONNECTIONS):
                conns.append(socket.create_connection(("127.0.0.1", p.port), timeout=5))
            # Every descriptor the proxy may open is in use once it has accepted what it can;
            # the rest of the connections wait in the listen backlog and accept() fails.
            deadline = time.monotonic() + EVENT_WAIT_S
            while open_descriptors(p.pid) < LOW_NOFILE and time.monotonic() < deadline:
                time.sleep(0.05)
            expect(open_descriptors(p.pid) >= LOW_NOFILE,
                   f"the proxy holds {open_descriptors(p.pid)} descriptors, not its limit of {LOW_NOFILE}")
            # Now a scrape of the admin port waits in its backlog too: that accept loop must not spin either.
            conns.append(socket.create_connection(("127.0.0.1", p.admin), timeout=5))
            time.sleep(0.5)  # into the back-off
            before = cpu_seconds(p.pid)
            time.sleep(EMFILE_WINDOW_S)
            used = cpu_seconds(p.pid) - before
            log_note(f"out of file descriptors: {used:.3f} s CPU in {EMFILE_WINDOW_S:.0f} s "
                     f"({len(p.events('accept_failed'))} accept_failed line(s))")
            expect(used < EMFILE_MAX_CPU_S, f"the proxy used {used:.2f} s CPU in {EMFILE_WINDOW_S} s while "
                                            f"accept() failed (a busy loop)")
            failed = p.wait_event("accept_failed")
            expect(failed.get("level") == "error" and "open files" in failed.get("error", ""),
                   f"accept_failed line: {failed}")
            # One line per burst, not per failed accept: a descriptor the proxy frees for a moment
            # (its start-up probe's, say) lets one accept through, ends the burst with an
            # accept_recovered line, and the next failure starts a new one.
            seq = [r["event"] for r in p.audit.records() if r.get("event") in ("accept_failed", "accept_recovered")]
            expect(not any(a == b == "accept_failed" for a, b in zip(seq, seq[1:])),
                   f"accept_failed lines without a recovery between them: {seq}")
        finally:
            for s in conns:
                s.close()
        deadline = time.monotonic() + EVENT_WAIT_S
        status = code = None
        while time.monotonic() < deadline:
            status, code, _ = put(p, self.bucket, "emfile/after", b"after")
            if status == 200:
                break
            time.sleep(0.2)
        expect(status == 200, f"after the connections closed a request got {status} {code}")
        p.wait_event("accept_recovered")
        expect(p.proc.poll() is None, "the proxy died")

    # Upstream pool -----------------------------------------------------------------------

    def idle_upstream_connections_leave_no_close_wait(self):
        p = self.proxy("close-wait", admin=True).write(endpoint=SHORT_RGW).start()

        def one(i):
            return put(p, self.bucket, f"closewait/{i}", os.urandom(20000))[0]

        # Several at once, so that the pool holds several connections.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(one, range(16)))
        expect(statuses == [200] * 16, f"uploads through the proxy got {statuses}")
        time.sleep(SHORT_RGW_IDLE_S + 2)  # the RGW has closed every idle connection by now
        stuck = close_wait_sockets(p.pid)
        log_note(f"pool: {len(stuck)} proxy socket(s) in CLOSE_WAIT {SHORT_RGW_IDLE_S + 2:.0f} s after the uploads")
        expect(not stuck, f"{len(stuck)} proxy socket(s) in CLOSE_WAIT: {stuck[:2]}")
        dropped = p.metric("s3_acl_proxy_upstream_idle_closed_total")
        expect(dropped and dropped >= 1, f"upstream_idle_closed_total = {dropped}")
        status, code, _ = put(p, self.bucket, "closewait/after", b"after")
        expect(status == 200, f"the next upload got {status} {code}")


def main():
    s = Suite()
    try:
        r = s.r
        r.check("sighup_rotates_client_key", s.sighup_rotates_client_key)
        r.check("sighup_rotates_upstream_key_canary_follows", s.sighup_rotates_upstream_key_and_the_canary_follows)
        r.check("sighup_during_upload", s.sighup_during_upload_keeps_its_settings)
        r.check("sighup_invalid_config_refused", s.sighup_invalid_config_is_refused)
        r.check("sighup_reopens_audit_file", s.sighup_reopens_the_audit_file)
        r.check("sighup_acl_mode_and_audit_level", s.sighup_changes_acl_mode_and_audit_level)
        r.check("sigterm_during_upload", s.sigterm_during_upload_completes_and_exits_0)
        r.check("sigterm_grace_cancels_and_audits", s.sigterm_grace_cancels_a_stalled_upload_and_audits_it)
        r.check("max_connections_slowdown", s.max_connections_answers_slowdown)
        r.check("rate_limit_slowdown", s.request_rate_limit_answers_slowdown)
        r.check("emfile_backoff", s.accept_backs_off_when_out_of_file_descriptors)
        if SHORT_RGW:
            r.check("idle_upstream_close_wait", s.idle_upstream_connections_leave_no_close_wait)
        else:
            r.skip("idle_upstream_close_wait", os.environ.get("OPS_SHORT_RGW_PROBLEM") or "no short-idle radosgw")
    finally:
        s.stop_all()
        for proc in _procs:
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main_guard(main)
