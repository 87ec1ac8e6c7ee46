#!/usr/bin/python3
"""A client that knows the access key but signs with the wrong secret must be refused with
403 SignatureDoesNotMatch, and nothing may land on the RGW: whoever answers S3_ENDPOINT
(the RGW itself, or the proxy in front of it) really verifies signatures.
Env: see tests/integration/README.md.
"""
import json
import os
import subprocess
import sys

import boto3
import botocore.config
import botocore.exceptions

RGW_CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "rgw_check.py")


def main():
    endpoint, bucket = os.environ["S3_ENDPOINT"], os.environ["S3_BUCKET"]
    key = f"wrong-secret/{os.environ.get('RUN_ID', os.getpid())}/object"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"][::-1] + "x",
        verify=os.environ.get("S3_CA_BUNDLE") or None,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"total_max_attempts": 1}))
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=b"must not land", ACL="public-read")
        print("not ok - put_object with a wrong secret succeeded")
        return 1
    except botocore.exceptions.ClientError as err:
        status = err.response["ResponseMetadata"]["HTTPStatusCode"]
        code = err.response["Error"].get("Code")
        if (status, code) != (403, "SignatureDoesNotMatch"):
            print(f"not ok - put_object with a wrong secret answered {status} {code}, "
                  "expected 403 SignatureDoesNotMatch")
            return 1
        print(f"ok - put_object with a wrong secret refused: {status} {code}")
    out = subprocess.run(["/usr/bin/python3", RGW_CHECK, "verify", "-"], capture_output=True, text=True,
                         input=json.dumps([{"bucket": bucket, "key": key, "absent": True}]), check=False)
    if out.returncode != 0:
        print(f"not ok - the refused object is on rgw: {out.stdout.strip()}")
        return 1
    print("ok - nothing landed on rgw")
    print("all steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
