"""Checks of suite "listen" (see suites/listen.sh): IPv6, per-client upstream identities,
upstream keep-alive reuse. Prints PASS/FAIL lines; objects are checked on the RGW directly."""
import os
import re
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from suite import AuditLog

PROXY = os.environ["PROXY_URL"]
ADMIN = os.environ["ADMIN_URL"]
AUDIT = os.environ["AUDIT_LOG"]
RGW = os.environ["RGW_ENDPOINT"]
RUN = uuid.uuid4().hex[:8]


def client(endpoint, key, secret):
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      read_timeout=20, connect_timeout=5))


app_one = client(PROXY, "AKIALISTENAPPONE0001", "listen-app-one-secret-0000000001")
app_two = client(PROXY, "AKIALISTENAPPTWO0002", "listen-app-two-secret-0000000002")
rgw_tester = client(RGW, os.environ["RGW_ACCESS_KEY"], os.environ["RGW_SECRET_KEY"])
rgw_other = client(RGW, os.environ["RGW_OTHER_ACCESS_KEY"], os.environ["RGW_OTHER_SECRET_KEY"])


def check(name, fn):
    try:
        fn()
        print(f"PASS {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is a FAIL line
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)


def metric(name):
    text = urllib.request.urlopen(f"{ADMIN}/metrics", timeout=5).read().decode()
    m = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


tester_bucket = f"listen-tester-{RUN}"
other_bucket = f"listen-other-{RUN}"
rgw_tester.create_bucket(Bucket=tester_bucket)
rgw_other.create_bucket(Bucket=other_bucket)
body = os.urandom(50_001)


def ipv6_put_lands():
    app_one.put_object(Bucket=tester_bucket, Key="v6.bin", Body=body, ACL="public-read")
    got = rgw_tester.get_object(Bucket=tester_bucket, Key="v6.bin")["Body"].read()
    assert got == body, "object on the RGW differs"
    # The audit writer batches lines, so the line may follow the response by a moment.
    lines = [r for r in AuditLog(AUDIT).for_key(tester_bucket, "v6.bin") if r.get("op") == "PutObject"]
    assert any(r.get("remote", "").startswith("[::1]") for r in lines), \
        f"no audit line with an IPv6 remote for the upload: {[r.get('remote') for r in lines]}"


def second_client_uses_its_own_identity():
    # The other user's bucket: only the identity configured for app two may write there.
    app_two.put_object(Bucket=other_bucket, Key="two.bin", Body=body)
    got = rgw_other.get_object(Bucket=other_bucket, Key="two.bin")["Body"].read()
    assert got == body, "object on the RGW differs"
    owner = rgw_other.get_object_acl(Bucket=other_bucket, Key="two.bin")["Owner"]["ID"]
    assert owner == os.environ.get("RGW_OTHER_UID", "other"), f"owner is {owner}"


def first_client_is_denied_there():
    try:
        app_one.put_object(Bucket=other_bucket, Key="one.bin", Body=body)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e.response["Error"]
    else:
        raise AssertionError("app one wrote into the other user's bucket")
    try:
        rgw_other.head_object(Bucket=other_bucket, Key="one.bin")
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("404", "NoSuchKey"), e.response["Error"]
    else:
        raise AssertionError("the denied object exists on the RGW")


def upstream_connections_are_reused():
    before = metric("s3_acl_proxy_upstream_connections_reused_total")
    for _ in range(20):
        app_one.head_object(Bucket=tester_bucket, Key="v6.bin")
    after = metric("s3_acl_proxy_upstream_connections_reused_total")
    assert after - before >= 15, f"only {after - before:.0f} of 20 requests reused an upstream connection"
    opened = metric("s3_acl_proxy_upstream_connections")
    assert opened <= 8, f"{opened:.0f} upstream connections open for sequential requests"


check("ipv6_listen_put_lands", ipv6_put_lands)
check("second_client_resigned_with_its_own_upstream_identity", second_client_uses_its_own_identity)
check("first_client_denied_in_other_identity_bucket", first_client_is_denied_there)
check("upstream_keepalive_connections_reused", upstream_connections_are_reused)
