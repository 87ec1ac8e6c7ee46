#!/usr/bin/python3
"""The checks of suites/observability.sh, which starts the proxies, the fake upstream and
Prometheus and runs this twice:

    observability_suite.py setup   the buckets and their policies on the RGW (before the
                                   proxies start: the canary proxy checks its bucket at once)
    observability_suite.py run     every check

Buckets (OBS_BUCKETS, JSON {role: name}):
  deny_wins      Allow s3:* for the tester plus an unconditional Deny s3:PutObject
  deny_acl       Allow s3:* plus Deny s3:PutObject when s3:x-amz-acl is any canned ACL
                 (the RGW's stand-in for a bucket that rejects ACLs, S3-FACTS.md)
  not_principal  Allow s3:* plus the inverted Deny: NotPrincipal another user, s3:PutObject
  healthy        an Allow-only policy
  canary         no policy until the canary checks apply (and remove) the deny-wins one

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_UID, RGW_OTHER_UID, SUITE_WORK, PROXY_BIN,
     OBS_BUCKETS, OBS_CANARY_INTERVAL_S; for run also OBS_PROXIES (JSON {name: {"endpoint",
     "admin", "audit", "config"}} for metrics, canary, phantom_verify, phantom_plain,
     latency_plain, latency_verify), OBS_PROMETHEUS (its URL, empty when it is not running),
     OBS_FAKE_RECORD, OBS_CLIENT_KEY, OBS_CLIENT_SECRET.
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

# The shared modules sit beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from acl_suite import CANNED_ACLS, mastodon  # noqa: E402
from observability_metrics import (Prometheus, metric, metrics, parse_samples, readyz, sample,  # noqa: E402
                                   wait_for)
from suite import AuditLog, Results, call, expect, expect_fields, main_guard, rgw, s3_client  # noqa: E402

# Denied uploads whose count Prometheus must see (after one more that creates the series).
DENIED_UPLOADS = 5
# Scrapes happen every second; these bound how long Prometheus may take to show a change.
PROM_TARGET_UP_S = 20.0
PROM_SHOWS_S = 15.0
# Two scrape intervals: long enough for a wrong extra increment to show up.
PROM_SETTLE_S = 2.0
# The canary must notice a change within one interval plus this margin (the RGW applies a
# new bucket policy at once; the margin covers one check in flight and a loaded machine).
CANARY_MARGIN_S = 6.0
# A healthy canary proxy is ready after its first check, normally within a second.
CANARY_FIRST_READY_S = 20.0
# Seconds `s3-acl-proxy check` may take (a handful of requests to a local RGW).
CHECK_TIMEOUT_S = 60
LINT_TIMEOUT_S = 10
PROMTOOL = "/usr/bin/promtool"
# verify_writes' cost: sequential small PutObjects per proxy, on one connection each.
LATENCY_PUTS = 200
LATENCY_BATCHES = 4        # alternated between the proxies so that drift hits both alike
LATENCY_WARMUP = 10
LATENCY_BODY = b"v" * 1024
CANARY_PREFIX = ".s3-acl-proxy/canary/"


# ---- policies -------------------------------------------------------------------------

def allow_tester(bucket):
    return {"Sid": "AllowTester", "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam:::user/{os.environ.get('RGW_UID', 'tester')}"]},
            "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}


def deny_wins_policy(bucket):
    return {"Version": "2012-10-17", "Statement": [
        allow_tester(bucket),
        {"Sid": "DenyPut", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}


def policies(buckets):
    """{role: (policy, Sid of the statement lint-policy must name, rule id)}; None = no finding."""
    other = os.environ.get("RGW_OTHER_UID", "other")
    dacl, nprin = buckets["deny_acl"], buckets["not_principal"]
    return {
        "deny_wins": (deny_wins_policy(buckets["deny_wins"]), "DenyPut", "deny-put-object"),
        "deny_acl": ({"Version": "2012-10-17", "Statement": [
            allow_tester(dacl),
            {"Sid": "DenyCannedAcl", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{dacl}/*", "Condition": {"StringEquals": {"s3:x-amz-acl": CANNED_ACLS}}}]},
            "DenyCannedAcl", "deny-acl-condition"),
        # Meant as "only the admin may write", it refuses the tester, who is not listed.
        "not_principal": ({"Version": "2012-10-17", "Statement": [
            allow_tester(nprin),
            {"Sid": "OnlyOtherMayWrite", "Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam:::user/{other}"]},
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{nprin}/*"}]},
            "OnlyOtherMayWrite", "deny-not-principal"),
        "healthy": ({"Version": "2012-10-17", "Statement": [allow_tester(buckets["healthy"])]}, None, None),
    }


def policy_file(role):
    return os.path.join(os.environ["SUITE_WORK"], f"policy-{role}.json")


def setup(buckets):
    """Creates the buckets, applies the policies and keeps each as the RGW returns it."""
    s3 = rgw()
    for name in buckets.values():
        s3.create_bucket(Bucket=name)
    for role, (doc, _, _) in policies(buckets).items():
        s3.put_bucket_policy(Bucket=buckets[role], Policy=json.dumps(doc))
        with open(policy_file(role), "w", encoding="utf-8") as f:
            f.write(s3.get_bucket_policy(Bucket=buckets[role])["Policy"])


def policies_act_on_rgw(buckets):
    """Controls: the policies really do on the RGW what the checks below assume."""
    want = [("deny_wins", None, 403), ("not_principal", None, 403), ("deny_acl", "public-read", 403),
            ("deny_acl", None, 200), ("healthy", "public-read", 200), ("healthy", None, 200)]
    for role, acl, status in want:
        extra = {"ACL": acl} if acl else {}
        # A client each: after a 403 to a PUT with Expect: 100-continue the RGW leaves that
        # connection unusable (the next request on it hangs until the read timeout).
        got = call(rgw().put_object, Bucket=buckets[role], Key=f"control/{acl or 'plain'}", Body=b"control", **extra)
        expect(got[0] == status, f"direct PutObject{' with ' + acl if acl else ''} on the {role} bucket got "
                                 f"{got[0]} {got[1] or ''}, expected {status}")
    return True


# ---- small helpers --------------------------------------------------------------------

def proxy_client(proxy):
    return s3_client(proxy["endpoint"], os.environ["OBS_CLIENT_KEY"], os.environ["OBS_CLIENT_SECRET"])


def parse_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def canary_lines(audit, since):
    return [r for r in audit.records() if r.get("event") == "canary" and parse_ts(r.get("ts", "")) >= since]


def run_tool(args, timeout):
    """(exit code, stdout, stderr) of the proxy's command line with a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run([os.environ["PROXY_BIN"], *args], capture_output=True, text=True, timeout=timeout,
                         env=env, check=False)
    return out.returncode, out.stdout, out.stderr


def data_file(work):
    path = os.path.join(work, "upload.bin")
    if not os.path.isfile(path):
        with open(path, "wb") as f:
            f.write(os.urandom(70001))
    return path


# ---- 1. Prometheus: the denied-write counter over its API ----------------------------

DENIED_QUERY = ('s3_acl_proxy_write_failures_total{job="metrics",op="PutObject",event="write_denied",'
                's3_code="AccessDenied"}')


def prometheus_checks(r, prom, proxies, buckets, upload):
    if prom is None:
        r.skip("prometheus/denied_writes_counter_rises", "Prometheus is not running (see prometheus_start)")
        return
    key, secret = os.environ["OBS_CLIENT_KEY"], os.environ["OBS_CLIENT_SECRET"]
    endpoint, bucket = proxies["metrics"]["endpoint"], buckets["deny_wins"]
    audit = AuditLog(proxies["metrics"]["audit"])

    def targets_up():
        for job in ("metrics", "canary"):
            got, waited, ok = wait_for(lambda job=job: prom.value(f'up{{job="{job}"}}'), lambda v: v == 1.0,
                                       PROM_TARGET_UP_S)
            expect(ok, f"up{{job=\"{job}\"}} is {got} after {waited:.1f} s, expected 1")
        return True

    if not r.check("prometheus/scrapes_the_proxies", targets_up):
        return

    def put(name, n):
        return {"name": name, "op": "put", "bucket": bucket, "key": f"prom/{name}-{n}.png", "file": upload,
                "acl": "public-read"}

    # One denied upload first, so that the series exists and the check below sees it rise.
    first = mastodon(endpoint, key, secret, [put("first", 0)])

    def baseline():
        expect(first["first"] == (403, "AccessDenied"), f"Mastodon's upload got {first['first']}, expected 403")
        got, waited, ok = wait_for(lambda: prom.value(DENIED_QUERY), lambda v: v is not None and v >= 1,
                                   PROM_SHOWS_S)
        expect(ok, f"after one denied upload Prometheus shows {got} for {DENIED_QUERY} ({waited:.1f} s)")
        return got

    base = r.check("prometheus/denied_write_series_appears", baseline)
    if base is None:
        return
    batch = [put("batch", n) for n in range(DENIED_UPLOADS)]
    results = mastodon(endpoint, key, secret, batch)

    def rises_by_n():
        bad = {n: v for n, v in results.items() if v != (403, "AccessDenied")}
        expect(not bad, f"uploads not denied with 403 AccessDenied: {bad}")
        want = base + DENIED_UPLOADS
        got, waited, ok = wait_for(lambda: prom.value(DENIED_QUERY), lambda v: v is not None and v >= want,
                                   PROM_SHOWS_S)
        expect(ok, f"Prometheus shows {got} for the counter {waited:.1f} s after {DENIED_UPLOADS} denied uploads, "
                   f"expected {want} (was {base})")
        # Each upload is one write_denied line (and the waits there let two more scrapes happen,
        # after which the counter must not have overshot).
        for op in batch:
            expect_fields(audit.one_line(bucket, op["key"]), event="write_denied", level="warn", op="PutObject",
                          s3_code="AccessDenied", status=403)
        time.sleep(PROM_SETTLE_S)
        final = prom.value(DENIED_QUERY)
        expect(final == want, f"the counter went on to {final}, expected {want}")
        r.note(f"prometheus: {DENIED_QUERY} went {base:g} -> {want:g} after {DENIED_UPLOADS} denied uploads, "
               f"seen {waited:.1f} s after the last one")

    r.check(f"prometheus/denied_writes_counter_rises_by_{DENIED_UPLOADS}", rises_by_n)


# ---- 2. The canary and /readyz --------------------------------------------------------

def canary_checks(r, prom, proxy, bucket):
    admin, audit = proxy["admin"], AuditLog(proxy["audit"])
    interval = float(os.environ.get("OBS_CANARY_INTERVAL_S", "2"))
    bound = interval + CANARY_MARGIN_S
    started = time.time()

    def ready_when_healthy():
        got, waited, ok = wait_for(lambda: readyz(admin), lambda s: s[0] == 200, CANARY_FIRST_READY_S)
        expect(ok, f"/readyz is {got[0]} {got[1].strip()!r} after {waited:.1f} s on a healthy bucket")
        expect(metric(admin, "s3_acl_proxy_canary_success") == 1, "s3_acl_proxy_canary_success is not 1")
        ok_lines = [x for x in canary_lines(audit, started - 60) if x.get("result") == "ok"]
        expect(ok_lines, "no canary line with result ok in the audit log")
        expect_fields(ok_lines[-1], level="info", bucket=bucket)
        return True

    if not r.check("canary/ready_on_healthy_bucket", ready_when_healthy):
        return
    s3 = rgw()
    applied = time.time()
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny_wins_policy(bucket)))

    def turns_503():
        got, waited, ok = wait_for(lambda: readyz(admin), lambda s: s[0] != 200, bound)
        expect(ok, f"/readyz still {got[0]} {waited:.1f} s after the deny-wins policy (bound {bound:g} s)")
        expect(got[0] == 503, f"/readyz answered {got[0]}, expected 503")
        body = got[1].strip()
        expect("AccessDenied" in body, f"/readyz body {body!r} does not name AccessDenied")
        expect("\n" not in body, f"/readyz body is not one line: {body!r}")
        r.note(f"canary: /readyz 503 {waited:.1f} s after the deny-wins policy (interval {interval:g} s): {body}")

    r.check("canary/readyz_503_after_deny_wins_policy", turns_503)

    def audit_error_line():
        got, _, ok = wait_for(lambda: [x for x in canary_lines(audit, applied) if x.get("level") == "error"],
                              bool, 5)
        expect(ok, "no canary line at error level in the audit log after the policy was applied")
        expect_fields(got[0], event="canary", level="error", s3_code="AccessDenied", bucket=bucket)

    r.check("canary/audit_error_line_access_denied", audit_error_line)

    def metric_failure():
        text = metrics(admin)
        expect(sample(text, "s3_acl_proxy_canary_success") == 0,
               f"s3_acl_proxy_canary_success is {sample(text, 's3_acl_proxy_canary_success')}, expected 0")
        failures = sample(text, "s3_acl_proxy_canary_runs_total", result="failure")
        expect(failures and failures >= 1, f"canary_runs_total{{result=\"failure\"}} is {failures}")

    r.check("canary/metric_canary_success_0", metric_failure)
    if prom is None:
        r.skip("canary/prometheus_sees_canary_failure", "Prometheus is not running")
    else:
        def prom_sees():
            q = 's3_acl_proxy_canary_success{job="canary"}'
            got, waited, ok = wait_for(lambda: prom.value(q), lambda v: v == 0, PROM_SHOWS_S)
            expect(ok, f"Prometheus shows {got} for {q} after {waited:.1f} s, expected 0")

        r.check("canary/prometheus_sees_canary_failure", prom_sees)

    removed = time.time()
    s3.delete_bucket_policy(Bucket=bucket)

    def recovers():
        got, waited, ok = wait_for(lambda: readyz(admin), lambda s: s[0] == 200, bound)
        expect(ok, f"/readyz still {got[0]} {got[1].strip()!r} {waited:.1f} s after the policy was removed "
                   f"(bound {bound:g} s)")
        text = metrics(admin)
        expect(sample(text, "s3_acl_proxy_canary_success") == 1, "s3_acl_proxy_canary_success is not back to 1")
        last = sample(text, "s3_acl_proxy_canary_last_success_timestamp_seconds")
        expect(last is not None and last >= removed - 1,
               f"canary_last_success_timestamp_seconds {last} is before the policy was removed ({removed:.0f})")
        r.note(f"canary: /readyz 200 again {waited:.1f} s after the policy was removed")

    r.check("canary/readyz_recovers_after_policy_removed", recovers)


# ---- 3. Phantom writes, from the fake upstream ----------------------------------------

def fake_requests(record, bucket, key):
    out = []
    try:
        with open(record, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if urllib.parse.unquote(urllib.parse.urlsplit(rec["target"]).path) == f"/{bucket}/{key}":
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def phantom_checks(r, proxies, record):
    bucket, body = "media", os.urandom(4096)
    verify, plain = proxies["phantom_verify"], proxies["phantom_plain"]
    key_v, key_p = f"phantom/verify-{os.getpid()}.png", f"phantom/plain-{os.getpid()}.png"
    got_v = call(proxy_client(verify).put_object, Bucket=bucket, Key=key_v, Body=body)
    got_p = call(proxy_client(plain).put_object, Bucket=bucket, Key=key_p, Body=body)

    def verified_502():
        expect(got_v[0] == 502 and got_v[1] == "PhantomWrite",
               f"the client got {got_v[0]} {got_v[1]}, expected 502 PhantomWrite")
        seen = [(x["method"], x["status"]) for x in fake_requests(record, bucket, key_v)]
        expect(seen == [("PUT", 200), ("HEAD", 404)],
               f"the fake upstream saw {seen}, expected the PUT it acknowledged and the proxy's HEAD")

    r.check("phantom/verify_writes_turns_ack_into_502", verified_502)

    def one_record():
        rec = AuditLog(verify["audit"]).one_line(bucket, key_v)
        expect_fields(rec, event="phantom_write", level="error", op="PutObject", status=502, upstream_status=200,
                      s3_code="PhantomWrite")
        others = [x for x in AuditLog(verify["audit"]).records() if x.get("event") == "phantom_write"]
        expect(len(others) == 1, f"{len(others)} phantom_write records in the audit log, expected one")

    r.check("phantom/one_phantom_write_record", one_record)

    def counted():
        got = metric(verify["admin"], "s3_acl_proxy_phantom_writes_total", op="PutObject")
        expect(got == 1, f's3_acl_proxy_phantom_writes_total{{op="PutObject"}} is {got}, expected 1')

    r.check("phantom/metric_phantom_writes_total_1", counted)

    def unverified_200():
        expect(got_p[:2] == (200, None), f"the client got {got_p[0]} {got_p[1]}, expected 200 (nothing checks)")
        seen = [(x["method"], x["status"]) for x in fake_requests(record, bucket, key_p)]
        expect(seen == [("PUT", 200)], f"the fake upstream saw {seen}, expected only the PUT")
        expect_fields(AuditLog(plain["audit"]).one_line(bucket, key_p), event="request", status=200,
                      op="PutObject")
        got = metric(plain["admin"], "s3_acl_proxy_phantom_writes_total", op="PutObject")
        expect(not got, f"phantom_writes_total is {got} without verify_writes")

    r.check("phantom/without_verify_writes_same_upload_200", unverified_200)


# ---- 4. `s3-acl-proxy check` ----------------------------------------------------------

def check_config(base_config, bucket, mode, with_canary=True):
    """A copy of a proxy's config aimed at another bucket and mode (the [canary] section last)."""
    with open(base_config, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\n\[canary\]\n.*", "\n", text, flags=re.S)
    text = re.sub(r'(?m)^mode = ".*"$', f'mode = "{mode}"', text)
    if with_canary:
        text += f'\n[canary]\nbucket = "{bucket}"\nprefix = "{CANARY_PREFIX}"\n'
    path = os.path.join(os.environ["SUITE_WORK"], f"check-{bucket}-{mode}{'' if with_canary else '-nocanary'}.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run_check(config):
    """(exit code, text report, JSON report or None, stderr)."""
    code, text, err = run_tool(["check", "--config", config], CHECK_TIMEOUT_S)
    jcode, jtext, _ = run_tool(["check", "--config", config, "--json"], CHECK_TIMEOUT_S)
    try:
        doc = json.loads(jtext)
    except ValueError:
        doc = None
    if doc is not None:
        doc["_exit"] = jcode
    return code, text, doc, err


def expect_json_verdict(doc, code):
    expect(doc is not None, "--json output is not JSON")
    verdict = doc.get("verdict") or {}
    expect(verdict.get("result") and verdict.get("message"), f"--json has no verdict result/message: {verdict}")
    expect(verdict.get("exit_code") == code == doc["_exit"],
           f"--json verdict.exit_code {verdict.get('exit_code')}, its exit {doc['_exit']}, text exit {code}")


def check_checks(r, proxies, buckets):
    base = proxies["latency_plain"]["config"]

    def healthy():
        code, text, doc, err = run_check(check_config(base, buckets["healthy"], "strip"))
        expect(code == 0, f"exit {code}, expected 0: {text.strip().splitlines()[-1:] or err.strip()}")
        expect_json_verdict(doc, 0)
        expect(doc["steps"]["canary"]["state"] == "ok", f"canary step {doc['steps']['canary']}")
        left = rgw().list_objects_v2(Bucket=buckets["healthy"], Prefix=CANARY_PREFIX).get("KeyCount")
        expect(left == 0, f"{left} objects left under {CANARY_PREFIX}: check did not clean up after itself")

    r.check("check/healthy_bucket_exit_0", healthy)

    def deny_wins():
        code, text, doc, err = run_check(check_config(base, buckets["deny_wins"], "strip"))
        expect(code == 1, f"exit {code}, expected 1: {text.strip().splitlines()[-1:] or err.strip()}")
        expect("AccessDenied" in text, f"the report does not name AccessDenied: {text!r}")
        expect("DenyPut" in text, "the report does not name the policy statement DenyPut")
        expect_json_verdict(doc, 1)
        expect(doc["steps"]["canary"]["s3_code"] == "AccessDenied", f"canary step {doc['steps']['canary']}")

    r.check("check/deny_wins_bucket_exit_1_names_access_denied", deny_wins)

    def deny_acl(mode, want_code):
        code, text, doc, err = run_check(check_config(base, buckets["deny_acl"], mode))
        expect(code == want_code, f"exit {code}, expected {want_code}: {text.strip().splitlines()[-1:] or err}")
        expect_json_verdict(doc, want_code)
        steps = doc["steps"]
        expect(steps["canary"]["state"] == "ok", f"plain write not reported as working: {steps['canary']}")
        expect(steps["acl_write"]["state"] == "failed" and steps["acl_write"]["s3_code"] == "AccessDenied",
               f"ACL write not reported as failing with AccessDenied: {steps['acl_write']}")
        lines = text.splitlines()
        plain = [x for x in lines if "without ACL" in x]
        acl = [x for x in lines if "with x-amz-acl" in x]
        expect(plain and " ok " in plain[0], f"the report's plain-write line is {plain}")
        expect(acl and "FAILED" in acl[0] and "AccessDenied" in acl[0], f"the report's ACL-write line is {acl}")
        verdict = [x for x in lines if x.startswith("verdict:")]
        expect(verdict and 'mode = "strip"' in verdict[0] and "S3_PERMISSION" in verdict[0],
               f"the verdict does not recommend mode strip / the empty S3_PERMISSION: {verdict}")

    r.check("check/deny_acl_bucket_strip_plain_works_acl_fails_exit_0", deny_acl, "strip", 0)
    r.check("check/deny_acl_bucket_audit_exit_1_recommends_strip", deny_acl, "audit", 1)

    def no_canary():
        code, text, err = run_tool(["check", "--config", check_config(base, "", "strip", with_canary=False)],
                                   CHECK_TIMEOUT_S)
        expect(code == 2, f"exit {code}, expected 2")
        expect("canary.bucket" in text + err, f"the message does not name canary.bucket: {(text + err).strip()!r}")

    r.check("check/no_canary_section_exit_2_names_canary_bucket", no_canary)


# ---- 5. lint-policy on the policies applied above -------------------------------------

def lint_checks(r, buckets):
    for role, (_, sid, rule) in policies(buckets).items():
        def lint(role=role, sid=sid, rule=rule):
            path = policy_file(role)
            code, text, err = run_tool(["lint-policy", path], LINT_TIMEOUT_S)
            jcode, jtext, _ = run_tool(["lint-policy", path, "--json"], LINT_TIMEOUT_S)
            doc = json.loads(jtext)
            if rule is None:
                expect(code == 0 and jcode == 0, f"exit {code} (--json {jcode}), expected 0: {text.strip()!r} {err}")
                expect(doc["findings"] == [] and doc["blocks_uploads"] is False, f"--json: {doc}")
                return
            expect(code == 1 and jcode == 1, f"exit {code} (--json {jcode}), expected 1: {text.strip()!r} {err}")
            expect(f"{sid}  {rule}" in text, f"the report does not name {sid} {rule}: {text.strip()!r}")
            found = [f for f in doc["findings"] if f["statement"] == sid and f["rule"] == rule]
            expect(found and found[0]["severity"] == "blocking" and doc["blocks_uploads"] is True,
                   f"--json has no blocking {rule} finding for {sid}: {doc}")

        r.check(f"lint_policy/{role}_{'passes' if rule is None else 'flagged_' + rule.replace('-', '_')}", lint)


# ---- the latency cost of verify_writes ------------------------------------------------

def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_checks(r, proxies, bucket):
    clients = {name: proxy_client(proxies[name]) for name in ("latency_plain", "latency_verify")}
    times = {name: [] for name in clients}
    statuses = {name: [] for name in clients}
    for name, c in clients.items():  # connection set up and first-request costs, not measured
        for n in range(LATENCY_WARMUP):
            c.put_object(Bucket=bucket, Key=f"latency/{name}/warmup-{n}", Body=LATENCY_BODY)
    per_batch = LATENCY_PUTS // LATENCY_BATCHES
    for batch in range(LATENCY_BATCHES):
        for name, c in clients.items():
            for n in range(per_batch):
                key = f"latency/{name}/{batch * per_batch + n}"
                t = time.perf_counter()
                got = call(c.put_object, Bucket=bucket, Key=key, Body=LATENCY_BODY)
                times[name].append((time.perf_counter() - t) * 1000)
                statuses[name].append(got[0])

    def no_false_phantom():
        for name in clients:
            bad = [s for s in statuses[name] if s != 200]
            expect(not bad, f"{len(bad)} of {LATENCY_PUTS} PutObjects through {name} failed: {sorted(set(bad))}")
        recs = AuditLog(proxies["latency_verify"]["audit"]).records()
        phantoms = [x for x in recs if x.get("event") == "phantom_write"]
        expect(not phantoms, f"{len(phantoms)} phantom_write records for objects the RGW stored")
        listed = rgw().list_objects_v2(Bucket=bucket, Prefix="latency/latency_verify/", MaxKeys=1000)["KeyCount"]
        expect(listed == LATENCY_PUTS + LATENCY_WARMUP, f"{listed} objects landed, expected "
                                                        f"{LATENCY_PUTS + LATENCY_WARMUP}")

    r.check("verify_writes/real_rgw_no_false_phantom", no_false_phantom)
    plain, verify = times["latency_plain"], times["latency_verify"]
    r.note(f"verify_writes: median {statistics.median(plain):.2f} ms -> {statistics.median(verify):.2f} ms, "
           f"p99 {percentile(plain, 99):.2f} ms -> {percentile(verify, 99):.2f} ms "
           f"({LATENCY_PUTS} sequential {len(LATENCY_BODY)}-byte PutObjects each, boto3 on one connection, "
           f"against the RGW)")


# ---- promtool on the live exposition --------------------------------------------------

def promtool_checks(r, proxies):
    if not os.access(PROMTOOL, os.X_OK):
        r.skip("promtool/check_metrics", f"no {PROMTOOL}")
        return
    # Each after its traffic: denied writes (metrics), canary results (canary), a phantom write.
    for name, must_have in (("metrics", "s3_acl_proxy_write_failures_total"),
                            ("canary", "s3_acl_proxy_canary_success"),
                            ("phantom_verify", "s3_acl_proxy_phantom_writes_total")):
        def check(name=name, must_have=must_have):
            text = metrics(proxies[name]["admin"])
            expect(any(n == must_have for n, _, _ in parse_samples(text)), f"/metrics has no {must_have} sample")
            out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                                 timeout=30, check=False)
            expect(out.returncode == 0, f"promtool check metrics exit {out.returncode}: "
                                        f"{(out.stdout + out.stderr).strip()[:300]}")

        r.check(f"promtool/check_metrics_{name}", check)


def main():
    buckets = json.loads(os.environ["OBS_BUCKETS"])
    r = Results()
    if sys.argv[1:] == ["setup"]:
        r.check("setup/buckets_and_policies", setup, buckets)
        return
    if not r.check("setup/policies_act_on_rgw", policies_act_on_rgw, buckets):
        return
    proxies = json.loads(os.environ["OBS_PROXIES"])
    prom = Prometheus(os.environ["OBS_PROMETHEUS"]) if os.environ.get("OBS_PROMETHEUS") else None
    upload = data_file(os.environ["SUITE_WORK"])
    t0 = time.monotonic()
    steps = [("prometheus", lambda: prometheus_checks(r, prom, proxies, buckets, upload)),
             ("canary", lambda: canary_checks(r, prom, proxies["canary"], buckets["canary"])),
             ("phantom", lambda: phantom_checks(r, proxies, os.environ["OBS_FAKE_RECORD"])),
             ("check", lambda: check_checks(r, proxies, buckets)),
             ("lint-policy", lambda: lint_checks(r, buckets)),
             ("latency", lambda: latency_checks(r, proxies, buckets["healthy"])),
             ("promtool", lambda: promtool_checks(r, proxies))]
    timings = []
    for name, step in steps:
        t = time.monotonic()
        try:
            step()
        except Exception as err:  # noqa: BLE001  (a crash outside a check fails that step, not the rest)
            r.fail(f"{name}/step", f"{type(err).__name__}: {err}")
        timings.append(f"{name} {time.monotonic() - t:.1f}")
    r.note(f"timings (s): {', '.join(timings)}; {time.monotonic() - t0:.1f} in all")
    if r.failed:
        r.note(f"work directory: {os.environ['SUITE_WORK']}")


if __name__ == "__main__":
    main_guard(main)
