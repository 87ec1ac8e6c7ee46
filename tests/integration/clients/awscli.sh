#!/usr/bin/env bash
# Debian's awscli (2.9) against S3_ENDPOINT: aws s3 cp up and down (12 MiB multipart
# included), aws s3api put-object --acl public-read, aws s3 ls, aws s3 rm.
# Every object written is checked byte for byte directly on the RGW (lib/rgw_check.py).
# Env: see tests/integration/README.md; AWS_CLI (default /usr/bin/aws, Debian's, not a
# newer one that may come first on PATH); S3_CA_BUNDLE (optional) for an https endpoint.
# Functions below run through step(), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rgw_check=$here/../lib/rgw_check.py
for v in S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET IT_DATA IT_TMP RGW_ENDPOINT RGW_ACCESS_KEY RGW_SECRET_KEY; do
  [ -n "${!v:-}" ] || { echo "missing environment variable $v"; exit 1; }
done
aws_cli=${AWS_CLI:-/usr/bin/aws}
[ -x "$aws_cli" ] || { echo "awscli not found at $aws_cli"; exit 1; }

small=$IT_DATA/small.bin
big=$IT_DATA/big.bin
run=${RUN_ID:-$$}
prefix="awscli/$run"
bucket=$S3_BUCKET
object_acl=${EXPECT_OBJECT_ACL:-}

# A private config: path-style addressing, parts of 5 MiB so the 12 MiB file goes multipart,
# no retries (a retry would hide a failed first attempt), no credentials from elsewhere.
export AWS_CONFIG_FILE=$IT_TMP/aws-config
export AWS_SHARED_CREDENTIALS_FILE=$IT_TMP/aws-credentials-none
cat >"$AWS_CONFIG_FILE" <<'EOF'
[default]
region = us-east-1
s3 =
  addressing_style = path
  multipart_threshold = 5MB
  multipart_chunksize = 5MB
EOF
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_MAX_ATTEMPTS=1
export AWS_PAGER=""
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_PROFILE
# Waiting 20 s for an answer is a fault, not slowness (the default 60 s hides stalls).
aws_args=(--endpoint-url "$S3_ENDPOINT" --cli-read-timeout 20 --cli-connect-timeout 20)
[ -n "${S3_CA_BUNDLE:-}" ] && aws_args+=(--ca-bundle "$S3_CA_BUNDLE")
aws() { "$aws_cli" "${aws_args[@]}" "$@"; }

echo "$("$aws_cli" --version 2>&1), endpoint $S3_ENDPOINT"

failures=()
# step NAME CMD...: runs CMD, prints ok/not ok; on failure the reason is CMD's last output line.
step() {
  local name=$1 out rc
  shift
  set +e
  out=$("$@" 2>&1)
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    echo "ok - $name"
  else
    local reason
    reason=$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -1)
    failures+=("$name: ${reason:-exit $rc}")
    echo "not ok - $name: ${reason:-exit $rc}"
    printf '%s\n' "$out" | tail -5 | sed 's/^/  /'
  fi
}

# spec KEY FILE-or-absent [content_type] [acl] [multipart]: one JSON entry for rgw_check.py.
spec() {
  local key=$1 what=$2 ct=${3:-} acl=${4:-} multipart=${5:-} s
  s="{\"bucket\": \"$bucket\", \"key\": \"$key\""
  if [ "$what" = absent ]; then s+=", \"absent\": true"; else s+=", \"file\": \"$what\""; fi
  [ -n "$ct" ] && s+=", \"content_type\": \"$ct\""
  [ -n "$acl" ] && s+=", \"acl\": \"$acl\""
  [ -n "$multipart" ] && s+=", \"multipart\": true"
  printf '%s}' "$s"
}
verify_on_rgw() {
  local name=$1 specs
  shift
  specs=$(IFS=,; printf '[%s]' "$*")
  step "$name" /usr/bin/python3 "$rgw_check" verify <(printf '%s' "$specs")
}

step "s3 cp upload with --acl public-read" aws s3 cp --only-show-errors "$small" "s3://$bucket/$prefix/small.png" \
  --acl public-read --content-type image/png
step "s3 cp upload multipart with --acl public-read" aws s3 cp --only-show-errors "$big" "s3://$bucket/$prefix/big.bin" \
  --acl public-read
step "s3api put-object --acl public-read" aws s3api put-object --bucket "$bucket" --key "$prefix/api.png" \
  --body "$small" --acl public-read --content-type image/png

verify_on_rgw "objects landed on rgw byte for byte" \
  "$(spec "$prefix/small.png" "$small" image/png "$object_acl")" \
  "$(spec "$prefix/big.bin" "$big" "" "$object_acl" multipart)" \
  "$(spec "$prefix/api.png" "$small" image/png "$object_acl")"

list_has_all() {
  local listing
  listing=$(aws s3 ls "s3://$bucket/$prefix/")
  for name in small.png big.bin api.png; do
    grep -q " $name\$" <<<"$listing" || { echo "aws s3 ls does not list $name: $listing"; return 1; }
  done
}
step "s3 ls" list_has_all

download_matches() {
  aws s3 cp --only-show-errors "s3://$bucket/$prefix/big.bin" "$IT_TMP/big.download"
  cmp "$IT_TMP/big.download" "$big"
}
step "s3 cp download (multipart)" download_matches

step "s3 rm one object" aws s3 rm --only-show-errors "s3://$bucket/$prefix/small.png"
step "s3 rm --recursive" aws s3 rm --only-show-errors --recursive "s3://$bucket/$prefix/"
verify_on_rgw "deleted objects are gone from rgw" \
  "$(spec "$prefix/small.png" absent)" "$(spec "$prefix/big.bin" absent)" "$(spec "$prefix/api.png" absent)"

if [ "${#failures[@]}" -eq 0 ]; then
  echo "all steps passed"
  exit 0
fi
echo "${#failures[@]} step(s) failed; first: ${failures[0]}"
exit 1
