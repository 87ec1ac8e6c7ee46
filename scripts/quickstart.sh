#!/usr/bin/env bash
# Quick start: installs what is needed, builds, starts a throwaway Ceph RGW on 127.0.0.1:7480
# with a bucket "media", and runs s3-acl-proxy in front of it in the foreground on
# 127.0.0.1:8080 (admin on 127.0.0.1:9090) with conf/quickstart.toml. Ctrl-C stops both.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/install-deps.sh build
bash scripts/build.sh

# The gateway's user and the application's key are different on purpose: the application
# never holds the storage key.
export RGW_ACCESS_KEY=AKIAIOSFODNN7EXAMPLE
export RGW_SECRET_KEY=${RGW_SECRET_KEY:-quickstart-rgw-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')}
export RGW_SECRET_ACCESS_KEY=$RGW_SECRET_KEY
export CLIENT_SECRET_ACCESS_KEY=${CLIENT_SECRET_ACCESS_KEY:-quickstart-client-secret}
export RGW_PORT=${RGW_PORT:-7480}

rgw_dir=$(mktemp -d /tmp/s3p-quickstart.XXXXXX)
trap 'bash "$root/scripts/rgw-stop.sh" "$rgw_dir" >/dev/null 2>&1 || true' EXIT
bash scripts/rgw-start.sh "$rgw_dir" >/dev/null
# RGW wants the payload hash signed; curl does not add it by itself.
curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$RGW_ACCESS_KEY:$RGW_SECRET_KEY" \
  -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
  "http://127.0.0.1:$RGW_PORT/media" >/dev/null

cat <<EOT

Ceph RGW is up on http://127.0.0.1:$RGW_PORT with the bucket "media".
s3-acl-proxy starts on http://127.0.0.1:8080 (metrics: http://127.0.0.1:9090/metrics).
Point the application at the proxy, e.g. Mastodon's .env.production:

  S3_ENABLED=true
  S3_ENDPOINT=http://127.0.0.1:8080
  S3_BUCKET=media
  S3_REGION=us-east-1
  AWS_ACCESS_KEY_ID=AKIAMASTODONEXAMPLE
  AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_ACCESS_KEY

or try it with the AWS CLI:

  AWS_ACCESS_KEY_ID=AKIAMASTODONEXAMPLE AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_ACCESS_KEY \\
    aws --endpoint-url http://127.0.0.1:8080 --region us-east-1 s3 cp README.md s3://media/README.md --acl public-read

The audit log (one JSON line per request) follows on stdout. Ctrl-C stops the proxy and the RGW.

EOT
# Not exec: the trap must stop the RGW when the proxy exits.
build/s3-acl-proxy --config conf/quickstart.toml
