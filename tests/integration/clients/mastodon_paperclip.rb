#!/usr/bin/ruby
# What Mastodon does with its media bucket, through Ruby aws-sdk-s3 (Debian 1.117) set up as
# Mastodon's config/initializers/paperclip.rb sets it up: PutObject and multipart upload with
# a canned ACL and the immutable Cache-Control, CopyObject with an ACL, PutObjectAcl on
# suspension, DeleteObjects in a batch, GetObject and HeadObject.
# Env: see tests/integration/README.md; EXPECT_ACL_PUT = "success" (default) or
# "notimplemented" (a proxy that answers PUT ?acl with 501, which Mastodon tolerates).
require 'aws-sdk-s3'
require_relative '../lib/harness'

MIB = 1024 * 1024
CACHE_CONTROL = 'public, max-age=315576000, immutable'
# Well below the 12 MiB test file, so upload_file really splits it into parts.
MULTIPART_THRESHOLD = 5 * MIB

bucket = Harness.env('S3_BUCKET')
data = Harness.env('IT_DATA')
small = File.join(data, 'small.bin')
big = File.join(data, 'big.bin')
run = ENV.fetch('RUN_ID', Process.pid.to_s)
expect_acl_put = ENV.fetch('EXPECT_ACL_PUT', 'success')
object_acl = Harness.expected_object_acl

options = {
  endpoint: Harness.env('S3_ENDPOINT'),
  region: 'us-east-1',
  force_path_style: true,
  access_key_id: Harness.env('S3_ACCESS_KEY'),
  secret_access_key: Harness.env('S3_SECRET_KEY'),
  signature_version: 'v4',
  http_open_timeout: 5,
  http_read_timeout: 5,
  http_idle_timeout: 5,
  retry_limit: 0
}
options[:ssl_ca_bundle] = ENV['S3_CA_BUNDLE'] unless ENV.fetch('S3_CA_BUNDLE', '').empty?
client = Aws::S3::Client.new(**options)
s3 = Aws::S3::Resource.new(client: client)

prefix = "media_attachments/files/#{run}/"
k_small = "#{prefix}original/small.png"
k_big = "#{prefix}original/big.mp4"
k_copy = "#{prefix}small/copy.png"
objects = [k_small, k_big, k_copy]

def acl_field(acl)
  acl ? { acl: acl } : {}
end

t = Harness::Steps.new

t.step('put_object with acl public-read') do
  File.open(small, 'rb') do |f|
    s3.bucket(bucket).object(k_small).put(body: f, acl: 'public-read', content_type: 'image/png',
                                          cache_control: CACHE_CONTROL)
  end
end

t.step('upload_file multipart with acl public-read') do
  s3.bucket(bucket).object(k_big).upload_file(big, multipart_threshold: MULTIPART_THRESHOLD, acl: 'public-read',
                                                   content_type: 'video/mp4', cache_control: CACHE_CONTROL)
end

t.step('copy_to with acl public-read') do
  s3.bucket(bucket).object(k_small).copy_to(s3.bucket(bucket).object(k_copy), acl: 'public-read')
end

t.verify_on_rgw('objects landed on rgw byte for byte', [
  { bucket: bucket, key: k_small, file: small, content_type: 'image/png', cache_control: CACHE_CONTROL,
    **acl_field(object_acl) },
  { bucket: bucket, key: k_big, file: big, content_type: 'video/mp4', cache_control: CACHE_CONTROL,
    multipart: true, **acl_field(object_acl) },
  { bucket: bucket, key: k_copy, file: small, content_type: 'image/png', **acl_field(object_acl) }
])

t.step('head_object') do
  head = client.head_object(bucket: bucket, key: k_big)
  head.content_length == File.size(big) or raise "content_length #{head.content_length}"
end

t.step('get_object back through the endpoint') do
  Harness.same_bytes?(small, client.get_object(bucket: bucket, key: k_small).body.read) or raise 'small differs'
  Harness.same_bytes?(big, client.get_object(bucket: bucket, key: k_big).body.read) or raise 'big differs'
end

# Mastodon's suspension path: Paperclip's s3_object.acl.put(acl: 'private').
t.step("object.acl.put(acl: 'private') (expect #{expect_acl_put})") do
  begin
    s3.bucket(bucket).object(k_copy).acl.put(acl: 'private')
  rescue Aws::S3::Errors::NotImplemented => e
    raise "NotImplemented (#{e.context.http_response.status_code}) but expected success" unless expect_acl_put == 'notimplemented'

    status = e.context.http_response.status_code
    status == 501 or raise "NotImplemented with HTTP #{status}, expected 501"
    next true
  end
  expect_acl_put == 'success' or raise 'PUT ?acl succeeded but 501 NotImplemented was expected'
end

if expect_acl_put == 'success'
  t.verify_on_rgw('acl.put made the copy private on rgw', [{ bucket: bucket, key: k_copy, acl: 'private' }])
end

t.step('delete_objects with several keys') do
  resp = client.delete_objects(bucket: bucket, delete: { objects: objects.map { |k| { key: k } }, quiet: false })
  resp.errors.empty? or raise "errors: #{resp.errors.map { |e| "#{e.key} #{e.code}" }.join(', ')}"
  resp.deleted.map(&:key).sort == objects.sort or raise "deleted #{resp.deleted.map(&:key)}"
end

t.verify_on_rgw('deleted objects are gone from rgw', objects.map { |k| { bucket: bucket, key: k, absent: true } })

t.finish!
