#!/usr/bin/python3
"""The checks of suites/acl.sh, which starts the proxies and the fake upstream and runs this.

On the real RGW, a bucket whose policy denies PutObject with a canned x-amz-acl (the RGW's
stand-in for a bucket that rejects ACLs, S3-FACTS.md), a "deny wins" bucket, and a plain
bucket for PUT ?acl; through a fake AWS (fakes/fake_acl_unsupported_upstream.py), AWS's
exact 400 AccessControlListNotSupported. Mastodon's own uploads come from Ruby aws-sdk-s3
(lib/mastodon_ops.rb); PUT ?acl in both forms from boto3.

Env: RGW_ENDPOINT, RGW_ACCESS_KEY, RGW_SECRET_KEY, RGW_UID, SUITE_WORK, IT_DATA (optional),
     ACL_PROXIES (JSON {name: {"endpoint", "audit"}} for strip, audit, accept, fake_strip,
     fake_audit), ACL_FAKE_RECORD, ACL_CLIENT_KEY, ACL_CLIENT_SECRET.
Prints PASS/FAIL/SKIP lines (tests/integration/README.md, "Suites").
"""
import json
import os
import subprocess
import sys
import urllib.parse

# The shared modules sit beside this file; no __pycache__ in the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite import (AuditLog, Results, call, expect, expect_absent, expect_acl,  # noqa: E402
                   expect_bytes, expect_fields, main_guard, rgw, s3_client)

HERE = os.path.dirname(os.path.abspath(__file__))
MASTODON_OPS = os.path.join(HERE, "mastodon_ops.rb")
# Every canned ACL S3 knows: the policy must deny PutObject carrying any of them.
CANNED_ACLS = ["private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
               "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write"]
CACHE_CONTROL = "public, max-age=315576000, immutable"
ALL_USERS_READ = 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'
SMALL_BYTES = 70001                       # not a multiple of any chunk size
BIG_BYTES = 12 * 1024 * 1024 + 4321       # 12 MiB and a tail: 3 parts of 5 MiB
# Seconds Ruby may take for one batch of uploads (the 12 MiB multipart is the slow one).
RUBY_TIMEOUT_S = 120


def data_files(work):
    """small.bin and big.bin from IT_DATA when run.sh made them, else made here."""
    src = os.environ.get("IT_DATA", "")
    small, big = os.path.join(src, "small.bin"), os.path.join(src, "big.bin")
    if src and os.path.isfile(small) and os.path.isfile(big) and os.path.getsize(big) > 5 * 1024 * 1024:
        return small, big
    small, big = os.path.join(work, "small.bin"), os.path.join(work, "big.bin")
    for path, size in ((small, SMALL_BYTES), (big, BIG_BYTES)):
        if not os.path.isfile(path):
            with open(path, "wb") as f:
                f.write(os.urandom(size))
    return small, big


def read(path):
    with open(path, "rb") as f:
        return f.read()


def policy(bucket, statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def allow_tester(bucket):
    return {"Sid": "AllowTester", "Effect": "Allow",
            "Principal": {"AWS": [f"arn:aws:iam:::user/{os.environ.get('RGW_UID', 'tester')}"]},
            "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}


def setup(names, small_bytes):
    """The three buckets and their policies; copy sources and PUT ?acl targets, written
    directly without an ACL (which both policies allow)."""
    s3 = rgw()
    for b in (names["deny_acl"], names["deny_wins"], names["plain"]):
        s3.create_bucket(Bucket=b)
    s3.put_bucket_policy(Bucket=names["deny_acl"], Policy=policy(names["deny_acl"], [
        allow_tester(names["deny_acl"]),
        {"Sid": "DenyCannedAcl", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{names['deny_acl']}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": CANNED_ACLS}}}]))
    s3.put_bucket_policy(Bucket=names["deny_wins"], Policy=policy(names["deny_wins"], [
        allow_tester(names["deny_wins"]),
        {"Sid": "DenyPut", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{names['deny_wins']}/*"}]))
    s3.put_object(Bucket=names["deny_acl"], Key="source/plain.png", Body=small_bytes)
    for k in ("reject/header", "reject/xml", "accept/header", "accept/xml", "forward/header", "forward/xml"):
        s3.put_object(Bucket=names["plain"], Key=k, Body=b"acl target")
    return True


def mastodon(endpoint, key_id, secret, ops):
    """Runs Mastodon-like operations through Ruby aws-sdk-s3; {name: (status, code)}."""
    request = json.dumps({"endpoint": endpoint, "access_key": key_id, "secret_key": secret, "ops": ops})
    try:
        out = subprocess.run(["ruby", MASTODON_OPS], input=request, capture_output=True, text=True,
                             timeout=RUBY_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return {op["name"]: (None, f"ruby timed out after {RUBY_TIMEOUT_S} s") for op in ops}
    results = {}
    for line in out.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        results[rec["name"]] = (rec["status"], rec["code"])
    missing = [op["name"] for op in ops if op["name"] not in results]
    if missing:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        for name in missing:
            results[name] = (None, f"ruby ended before this op: {tail}")
    return results


def expect_result(results, name, status, code=None):
    got = results[name]
    expect(got == (status, code), f"client got {got[0]} {got[1] or ''}, expected {status} {code or ''}".strip())


def lines_for_op(audit, bucket, key, op):
    return [r for r in audit.for_key(bucket, key) if r.get("op") == op]


def fake_requests(record_path, bucket, key):
    """What the fake upstream received for bucket/key."""
    out = []
    try:
        with open(record_path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                path = urllib.parse.unquote(urllib.parse.urlsplit(rec["target"]).path)
                if path == f"/{bucket}/{key}":
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def expect_no_acl_upstream(record_path, bucket, key):
    reqs = fake_requests(record_path, bucket, key)
    expect(reqs, f"the fake upstream never saw {bucket}/{key}")
    for rec in reqs:
        acl = {k: v for k, v in rec["headers"].items() if k == "x-amz-acl" or k.startswith("x-amz-grant-")}
        expect(not acl, f"the fake upstream received {acl} on {rec['method']} {rec['target']}")
        expect(rec["status"] != 400, f"the fake upstream answered 400 to {rec['method']} {rec['target']}")


def main():
    r = Results()
    work = os.environ["SUITE_WORK"]
    proxies = json.loads(os.environ["ACL_PROXIES"])
    record = os.environ["ACL_FAKE_RECORD"]
    ck, cs = os.environ["ACL_CLIENT_KEY"], os.environ["ACL_CLIENT_SECRET"]
    run = f"{os.getpid()}"
    names = {"deny_acl": f"acl-deny-acl-{run}", "deny_wins": f"acl-deny-wins-{run}", "plain": f"acl-plain-{run}",
             "fake": "media"}
    small, big = data_files(work)
    small_bytes, big_bytes = read(small), read(big)
    audit = {name: AuditLog(p["audit"]) for name, p in proxies.items()}
    endpoint = {name: p["endpoint"] for name, p in proxies.items()}

    if not r.check("setup/buckets_policies_objects", setup, names, small_bytes):
        return
    dacl, dwins, plain = names["deny_acl"], names["deny_wins"], names["plain"]
    owner = rgw().get_object_acl(Bucket=plain, Key="reject/header")["Owner"]

    def ops(prefix, bucket, source_bucket=dacl):
        return [
            {"name": "put", "op": "put", "bucket": bucket, "key": f"{prefix}/put.png", "file": small,
             "acl": "public-read"},
            {"name": "multipart", "op": "upload_file", "bucket": bucket, "key": f"{prefix}/multipart.mp4",
             "file": big, "acl": "public-read"},
            {"name": "copy", "op": "copy_to", "bucket": bucket, "key": f"{prefix}/copy.png",
             "source_bucket": source_bucket, "source_key": "source/plain.png", "acl": "public-read"},
        ]

    # --- The bucket that denies canned ACLs, on the RGW.
    direct = mastodon(os.environ["RGW_ENDPOINT"], os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"],
                      [ops("direct", dacl)[0],
                       {"name": "put_plain", "op": "put", "bucket": dacl, "key": "direct/plain.png", "file": small,
                        "acl": None}])

    def direct_put_with_acl():
        expect_result(direct, "put", 403, "AccessDenied")
        expect_absent(dacl, "direct/put.png")

    def direct_put_without_acl():  # the policy denies the ACL, not the write
        expect_result(direct, "put_plain", 200)
        expect_bytes(dacl, "direct/plain.png", small_bytes)

    r.check("deny_acl_bucket/direct_put_with_acl_403", direct_put_with_acl)
    r.check("deny_acl_bucket/direct_put_without_acl_lands", direct_put_without_acl)

    strip = mastodon(endpoint["strip"], ck, cs, ops("strip", dacl))

    def strip_lands(name, key, data, op, multipart=False):
        expect_result(strip, name, 200)
        expect_bytes(dacl, key, data)
        expect_acl(dacl, key, public=False)
        head = rgw().head_object(Bucket=dacl, Key=key)
        if multipart:
            expect("-" in head["ETag"], f"ETag {head['ETag']} is not a multipart ETag")
        if op != "CopyObject":
            expect(head.get("CacheControl") == CACHE_CONTROL, f"Cache-Control on the RGW is {head.get('CacheControl')!r}")
        lines = lines_for_op(audit["strip"], dacl, key, op)
        expect(len(lines) == 1, f"{len(lines)} {op} audit lines, expected one")
        expect_fields(lines[0], event="request", level="info", status=200, acl_action="stripped",
                      acl_header_x_amz_acl="public-read")

    r.check("deny_acl_bucket/strip_put_with_acl_lands", strip_lands, "put", "strip/put.png", small_bytes, "PutObject")
    r.check("deny_acl_bucket/strip_multipart_with_acl_lands", strip_lands, "multipart", "strip/multipart.mp4",
            big_bytes, "CreateMultipartUpload", True)
    r.check("deny_acl_bucket/strip_copy_with_acl_lands", strip_lands, "copy", "strip/copy.png", small_bytes,
            "CopyObject")

    aud = mastodon(endpoint["audit"], ck, cs, ops("audit", dacl))

    def audit_put_denied():
        expect_result(aud, "put", 403, "AccessDenied")
        rec = audit["audit"].one_line(dacl, "audit/put.png")
        expect_fields(rec, event="write_denied", level="warn", op="PutObject", s3_code="AccessDenied", status=403,
                      upstream_status=403, bucket=dacl, key="audit/put.png", acl_action="kept",
                      acl_header_x_amz_acl="public-read")
        expect_absent(dacl, "audit/put.png")

    r.check("deny_acl_bucket/audit_put_with_acl_403_write_denied", audit_put_denied)

    # RGW 16 evaluates s3:x-amz-acl only for PutObject: CreateMultipartUpload and CopyObject
    # with an ACL pass its policy (measured). In audit mode they must land with the ACL kept.
    def audit_kept(name, key, data, op):
        expect_result(aud, name, 200)
        expect_bytes(dacl, key, data)
        expect_acl(dacl, key, public=True)
        lines = lines_for_op(audit["audit"], dacl, key, op)
        expect(len(lines) == 1, f"{len(lines)} {op} audit lines, expected one")
        expect_fields(lines[0], event="request", status=200, acl_action="kept", acl_header_x_amz_acl="public-read")

    r.check("deny_acl_bucket/audit_multipart_with_acl_kept", audit_kept, "multipart", "audit/multipart.mp4",
            big_bytes, "CreateMultipartUpload")
    r.check("deny_acl_bucket/audit_copy_with_acl_kept", audit_kept, "copy", "audit/copy.png", small_bytes,
            "CopyObject")

    # --- "Deny wins": an unconditional Deny s3:PutObject beats the Allow, in either mode.
    for mode, action in (("strip", "stripped"), ("audit", "kept")):
        res = mastodon(endpoint[mode], ck, cs, ops(f"denywins-{mode}", dwins))
        for name, key, op in (("put", "put.png", "PutObject"), ("multipart", "multipart.mp4", "CreateMultipartUpload"),
                              ("copy", "copy.png", "CopyObject")):
            full = f"denywins-{mode}/{key}"

            def denied(name=name, full=full, op=op, mode=mode, action=action, res=res):
                expect_result(res, name, 403, "AccessDenied")
                rec = audit[mode].one_line(dwins, full)
                expect_fields(rec, event="write_denied", level="warn", op=op, s3_code="AccessDenied", status=403,
                              upstream_status=403, acl_action=action)
                expect_absent(dwins, full)

            r.check(f"deny_wins_bucket/{mode}_{name}_write_denied", denied)

    # --- PUT ?acl: reject (strip's default), accept, forward (audit's default).
    acp = {"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
         "Permission": "READ"}]}

    def put_acl(proxy, key, form):
        c = s3_client(endpoint[proxy], ck, cs)
        if form == "header":
            return call(c.put_object_acl, Bucket=plain, Key=key, ACL="public-read")
        return call(c.put_object_acl, Bucket=plain, Key=key, AccessControlPolicy=acp)

    def acl_local(proxy, verb, form, status, code, event):
        key = f"{verb}/{form}"
        got = put_acl(proxy, key, form)
        expect(got[:2] == (status, code), f"client got {got[0]} {got[1]}, expected {status} {code}")
        rec = audit[proxy].one_line(plain, key)
        expect_fields(rec, event=event, level="warn", op="PutObjectAcl", status=status, upstream_status=None)
        expect_acl(plain, key, public=False)  # the upstream was never asked

    for form in ("header", "xml"):
        r.check(f"put_acl/reject_{form}_501", acl_local, "strip", "reject", form, 501, "NotImplemented", "acl_rejected")
        r.check(f"put_acl/accept_{form}_200_locally", acl_local, "accept", "accept", form, 200, None, "acl_accepted")

        def forwarded(form=form):
            key = f"forward/{form}"
            got = put_acl("audit", key, form)
            expect(got[:2] == (200, None), f"client got {got[0]} {got[1]}, expected 200")
            rec = audit["audit"].one_line(plain, key)
            expect_fields(rec, op="PutObjectAcl", status=200, upstream_status=200)
            expect_acl(plain, key, public=True)

        r.check(f"put_acl/forward_{form}_reaches_rgw", forwarded)

    # --- AWS's 400 AccessControlListNotSupported, from the fake (ACLs disabled).
    fb = names["fake"]
    fstrip = mastodon(endpoint["fake_strip"], ck, cs, ops(f"fake-strip-{run}", fb, fb))
    grant_key = f"fake-strip-{run}/grant.png"
    grant = call(s3_client(endpoint["fake_strip"], ck, cs).put_object, Bucket=fb, Key=grant_key,
                 Body=small_bytes, GrantRead=ALL_USERS_READ)
    for name, key, op in (("put", "put.png", "PutObject"), ("multipart", "multipart.mp4", "CreateMultipartUpload"),
                          ("copy", "copy.png", "CopyObject")):
        full = f"fake-strip-{run}/{key}"

        def strip_never_triggers(name=name, full=full, op=op):
            expect_result(fstrip, name, 200)
            expect_no_acl_upstream(record, fb, full)
            lines = lines_for_op(audit["fake_strip"], fb, full, op)
            expect(len(lines) == 1, f"{len(lines)} {op} audit lines, expected one")
            expect_fields(lines[0], event="request", level="info", acl_action="stripped")

        r.check(f"aws_acl_disabled/strip_{name}_never_400", strip_never_triggers)

    def strip_grant():
        expect(grant[:2] == (200, None), f"client got {grant[0]} {grant[1]}, expected 200")
        expect_no_acl_upstream(record, fb, grant_key)
        rec = audit["fake_strip"].one_line(fb, grant_key)
        expect_fields(rec, event="request", acl_action="stripped")
        expect("x-amz-grant-read" in (rec.get("acl") or {}).get("headers", {}),
               f"acl.headers {rec.get('acl')} does not name x-amz-grant-read")

    r.check("aws_acl_disabled/strip_grant_header_never_400", strip_grant)

    faud = mastodon(endpoint["fake_audit"], ck, cs, ops(f"fake-audit-{run}", fb, fb))
    for name, key, op in (("put", "put.png", "PutObject"), ("multipart", "multipart.mp4", "CreateMultipartUpload"),
                          ("copy", "copy.png", "CopyObject")):
        full = f"fake-audit-{run}/{key}"

        def audit_write_failed(name=name, full=full, op=op):
            expect_result(faud, name, 400, "AccessControlListNotSupported")
            rec = audit["fake_audit"].one_line(fb, full)
            expect_fields(rec, event="write_failed", level="warn", op=op, status=400, upstream_status=400,
                          s3_code="AccessControlListNotSupported", acl_action="kept",
                          acl_header_x_amz_acl="public-read")
            seen = fake_requests(record, fb, full)
            expect(len(seen) == 1 and seen[0]["headers"].get("x-amz-acl") == "public-read",
                   f"the fake upstream saw {len(seen)} requests for it, expected one with x-amz-acl")

        r.check(f"aws_acl_disabled/audit_{name}_write_failed", audit_write_failed)

    if r.failed:
        r.note(f"audit logs: {', '.join(p['audit'] for p in proxies.values())}; fake upstream record: {record}")


if __name__ == "__main__":
    main_guard(main)
