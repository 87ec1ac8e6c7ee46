#!/usr/bin/python3
"""Scans everything the proxies wrote during an integration run for secrets and signatures.

    log_secrets.py WORK [SECRET...]     scan; exit 0 clean, 1 findings (or nothing to scan)
    log_secrets.py --self-test          plant each kind of leak and prove it is caught

What is scanned, under WORK (the run's work directory, every suite's included):
  - audit logs: every file named audit.jsonl or *.audit.jsonl;
  - proxy logs: logs/proxy.log (the shared proxy) and every NAME.log beside a NAME.toml (the
    convention of lib/suite.sh and the suites: a proxy's config and its stdout/stderr).
Not the RGW's logs, the fakes' request records (*.requests.jsonl) or the clients' logs: they
legitimately hold what was sent on the wire.

A finding is any of:
  - a configured secret: the secret_access_key (and upstream_secret_access_key, and the
    contents of *_file / the value of *_env) of every *.toml under WORK, the RGW's and the
    client's secrets in the environment (RGW_SECRET_KEY, RGW_OTHER_SECRET_KEY, S3_SECRET_KEY)
    and each SECRET given;
  - Signature= / X-Amz-Signature= / chunk-signature= / x-amz-trailer-signature with a hex value;
  - a run of exactly 64 hex digits (a signature, a signing key);
  - a Credential / X-Amz-Credential value with its date (key/YYYYMMDD/region/...);
  - an X-Amz-Security-Token value.
Findings are printed as "file:line: kind" (never the matched text), at most MAX_SHOWN of them.
"""
import os
import re
import sys
import tempfile

# Shorter strings could occur by chance in any log (and no real secret is this short).
MIN_SECRET_LEN = 8
# Enough to locate the problem; the count says how many there were in all.
MAX_SHOWN = 10

HEX_SIG = r"[0-9a-fA-F]{16,}"
PATTERNS = [
    ("signature value", re.compile(r"(?i)(?:x-amz-signature|chunk-signature|signature)(?:=|%3D)\s*" + HEX_SIG)),
    ("trailer signature value", re.compile(r"(?i)x-amz-trailer-signature\"?\s*[:=]\s*\"?" + HEX_SIG)),
    ("64 hex digits", re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])"), "random"),
    ("credential with date", re.compile(r"(?i)credential(?:=|%3D|\"?\s*:\s*\"?)[A-Za-z0-9]*(?:/|%2F)\d{8}(?:/|%2F)")),
    ("security token value", re.compile(r"(?i)x-amz-security-token(?:=|%3D|\"?\s*:\s*\")\s*[^\s&\",*]")),
]
# An HMAC-SHA256 in hex uses all 16 digits in practice (fewer than 8 distinct ones in 64 has
# a chance below 1e-20); a run like "bbbb...b" (a refused 64-character bucket name) is none.
MIN_DISTINCT_HEX = 8


def looks_random(hex_run):
    return len(set(hex_run.lower())) >= MIN_DISTINCT_HEX


# The secrets run.sh exports (the RGW's users, the shared proxy's client key).
ENV_SECRETS = ("RGW_SECRET_KEY", "RGW_OTHER_SECRET_KEY", "S3_SECRET_KEY")
TOML_SECRET = re.compile(r'^\s*(\w*secret_access_key(?:_file|_env)?)\s*=\s*"((?:[^"\\]|\\.)*)"', re.M)


def toml_secrets(work):
    """Every secret a proxy config under WORK names (inline, from a file, from the env)."""
    found = set()
    for dirpath, _, files in os.walk(work):
        for f in files:
            if not f.endswith(".toml"):
                continue
            try:
                text = open(os.path.join(dirpath, f), encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            for key, value in TOML_SECRET.findall(text):
                if key.endswith("_file"):
                    try:
                        value = open(value, encoding="utf-8", errors="replace").read().strip()
                    except OSError:
                        continue
                elif key.endswith("_env"):
                    value = os.environ.get(value, "")
                found.add(value)
    return found


def proxy_files(work):
    """The audit logs and proxy logs under WORK (see the module doc)."""
    out = []
    for dirpath, _, files in os.walk(work):
        names = set(files)
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if f == "audit.jsonl" or f.endswith(".audit.jsonl"):
                out.append(path)
            elif f.endswith(".log") and (f[:-4] + ".toml" in names or
                                         (f == "proxy.log" and os.path.basename(dirpath) == "logs")):
                out.append(path)
    return out


def scan(work, extra_secrets):
    """(files scanned, lines scanned, findings as (path, line number, kind))."""
    env = {os.environ.get(name, "") for name in ENV_SECRETS}
    secrets = {s for s in toml_secrets(work) | env | set(extra_secrets) if len(s) >= MIN_SECRET_LEN}
    files = proxy_files(work)
    findings, lines = [], 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                lines += 1
                if any(s in line for s in secrets):
                    findings.append((path, n, "configured secret"))
                for kind, rx, *only in PATTERNS:
                    if any(not only or looks_random(m.group(0)) for m in rx.finditer(line)):
                        findings.append((path, n, kind))
    return files, lines, findings


def report(work, files, lines, findings):
    rel = lambda p: os.path.relpath(p, work)  # noqa: E731
    if not files:
        print("no proxy log or audit log found under the work directory")
        return 1
    if not findings:
        print(f"{len(files)} files, {lines} lines: no secret, signature, credential scope or token")
        return 0
    kinds = sorted({k for _, _, k in findings})
    print(f"{len(findings)} findings in {len(files)} files ({', '.join(kinds)}): " +
          "; ".join(f"{rel(p)}:{n}: {k}" for p, n, k in findings[:MAX_SHOWN]))
    return 1


# --- self-test: each planted leak must be found, in the files that count, and nothing else.
SIG = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
PLANTED = [
    ("configured secret", '{"event":"start","note":"tomlsecrettomlsecret0001"}'),
    ("configured secret", "upstream key fileborne-secret-0000000002 loaded"),
    ("configured secret", "given on the command line: cmdline-secret-0000000003"),
    ("signature value", "Authorization: AWS4-HMAC-SHA256 Signature=deadbeefdeadbeef0123"),
    ("signature value", '{"query":"X-Amz-Expires=60&X-Amz-Signature=deadbeefdeadbeef0123"}'),
    ("signature value", "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
    ("trailer signature value", '{"x-amz-trailer-signature":"0123456789abcdef0123"}'),
    ("64 hex digits", f"signing key {SIG[::-1]}"),
    ("credential with date", '{"q":"X-Amz-Credential=AKIAEXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"}'),
    ("credential with date", "Credential=AKIAEXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host"),
    ("security token value", "X-Amz-Security-Token=FQoGZXIvYXdzEJr"),
    ("security token value", '{"x-amz-security-token":"FQoGZXIvYXdzEJr"}'),
]
CLEAN = [
    '{"ts":"2026-11-23T18:38:31.668Z","level":"warn","event":"write_denied","op":"PutObject",'
    '"access_key_id":"AKIAMASTODONEXAMPLE","request_id":"tx000001a2b3c4d5e6f7089-0065a1b2c3-1005-default",'
    '"s3_code":"SignatureDoesNotMatch","etag":"\\"9b2cf535f27731c974343645a3985328\\"","payload_mode":"SHA256"}',
    "[info] listening on 127.0.0.1:8080; upstream http://127.0.0.1:7480 key RGWTESTERKEY00000001 secret *****",
    "Signature=*****, X-Amz-Security-Token=*****, X-Amz-Credential=AKIAEXAMPLE",
    '{"s3_message":"The specified bucket is not valid: ' + "b" * 64 + '"}',
]


def self_test():
    problems = []
    with tempfile.TemporaryDirectory() as work:
        suite = os.path.join(work, "suites", "demo")
        os.makedirs(suite)
        os.makedirs(os.path.join(work, "logs"))
        secret_file = os.path.join(work, "secret.txt")
        open(secret_file, "w").write("fileborne-secret-0000000002\n")
        open(os.path.join(suite, "p.toml"), "w").write(
            '[upstream]\nsecret_access_key = "tomlsecrettomlsecret0001"\n'
            f'[[clients]]\nsecret_access_key_file = "{secret_file}"\n')
        # Files that must not be scanned hold every planted line too.
        for skipped in ("logs/client.log", "suites/demo/fake.requests.jsonl", "suites/demo/orphan.log",
                        "rgw/log/client.rgw.log"):
            path = os.path.join(work, skipped)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").write("\n".join(line for _, line in PLANTED) + "\n")
        targets = [os.path.join(work, "audit.jsonl"), os.path.join(suite, "p.audit.jsonl"),
                   os.path.join(suite, "p.log"), os.path.join(work, "logs", "proxy.log")]
        for path in targets:
            open(path, "w").write("\n".join(CLEAN) + "\n")
        files, _, findings = scan(work, ["cmdline-secret-0000000003"])
        if sorted(files) != sorted(targets):
            problems.append(f"scanned {sorted(os.path.relpath(f, work) for f in files)}, "
                            f"not {sorted(os.path.relpath(t, work) for t in targets)}")
        if findings:
            problems.append(f"clean lines flagged: {findings}")
        for i, (kind, line) in enumerate(PLANTED):
            path = targets[i % len(targets)]
            with open(path, "w") as fh:
                fh.write("\n".join(CLEAN + [line]) + "\n")
            _, _, findings = scan(work, ["cmdline-secret-0000000003"])
            got = {(os.path.basename(p), n, k) for p, n, k in findings}
            if (os.path.basename(path), len(CLEAN) + 1, kind) not in got:
                problems.append(f"planted {kind} not found in {os.path.relpath(path, work)}: {line!r} -> {got}")
            open(path, "w").write("\n".join(CLEAN) + "\n")
    for p in problems:
        print(f"self-test: {p}")
    if problems:
        return 1
    print(f"self-test: {len(PLANTED)} planted leaks found, {len(CLEAN)} clean lines passed")
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) < 2 or argv[1].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    work = argv[1]
    files, lines, findings = scan(work, [s for s in argv[2:] if s])
    return report(work, files, lines, findings)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
