#!/usr/bin/ruby
# Mastodon's uploads, one at a time, for the suites: Ruby aws-sdk-s3 (Debian 1.117) set up as
# Mastodon's config/initializers/paperclip.rb sets it up, doing what Paperclip does.
#
#   mastodon_ops.rb < REQUEST.json
#
# REQUEST: {"endpoint", "access_key", "secret_key", "ops": [OP...]}, each OP one of
#   {"name", "op": "put",         "bucket", "key", "file", "acl"}   PutObject with Cache-Control
#   {"name", "op": "upload_file", "bucket", "key", "file", "acl"}   multipart (threshold 5 MiB)
#   {"name", "op": "copy_to",     "bucket", "key", "source_bucket", "source_key", "acl"}
#   {"name", "op": "acl_put",     "bucket", "key", "acl"}           PutObjectAcl
# ("acl" may be null: no ACL sent.) Prints one JSON line per OP, in order:
#   {"name", "status": 200 or the HTTP status of the S3 error, "code": null or the S3 code}
require 'aws-sdk-s3'
require 'json'

MIB = 1024 * 1024
# Mastodon's Cache-Control on every upload.
CACHE_CONTROL = 'public, max-age=315576000, immutable'
# Below the suites' 12 MiB file, so upload_file really goes multipart.
MULTIPART_THRESHOLD = 5 * MIB

request = JSON.parse($stdin.read)
client = Aws::S3::Client.new(
  endpoint: request.fetch('endpoint'),
  region: 'us-east-1',
  force_path_style: true,
  access_key_id: request.fetch('access_key'),
  secret_access_key: request.fetch('secret_key'),
  signature_version: 'v4',
  http_open_timeout: 5,
  http_read_timeout: 30,
  retry_limit: 0
)
s3 = Aws::S3::Resource.new(client: client)

def acl_field(op)
  op['acl'] ? { acl: op['acl'] } : {}
end

def run(s3, op)
  object = s3.bucket(op.fetch('bucket')).object(op.fetch('key'))
  case op.fetch('op')
  when 'put'
    File.open(op.fetch('file'), 'rb') do |f|
      object.put(body: f, content_type: 'image/png', cache_control: CACHE_CONTROL, **acl_field(op))
    end
  when 'upload_file'
    object.upload_file(op.fetch('file'), multipart_threshold: MULTIPART_THRESHOLD, content_type: 'video/mp4',
                                         cache_control: CACHE_CONTROL, **acl_field(op)) or raise 'upload_file false'
  when 'copy_to'
    s3.bucket(op.fetch('source_bucket')).object(op.fetch('source_key')).copy_to(object, **acl_field(op))
  when 'acl_put'
    object.acl.put(**acl_field(op))
  else
    raise ArgumentError, "unknown op #{op['op']}"
  end
  { 'status' => 200, 'code' => nil }
end

def error_result(err)
  # A failed part surfaces as MultipartUploadError wrapping the part's S3 error.
  err = err.errors.first if err.respond_to?(:errors) && err.errors.is_a?(Array) && !err.errors.empty?
  if err.is_a?(Aws::Errors::ServiceError)
    { 'status' => err.context.http_response.status_code, 'code' => err.code }
  else
    { 'status' => nil, 'code' => "#{err.class}: #{err.message}".lines.first.to_s.strip }
  end
end

request.fetch('ops').each do |op|
  result = begin
    run(s3, op)
  rescue StandardError => e
    error_result(e)
  end
  puts JSON.generate({ 'name' => op['name'] }.merge(result))
  $stdout.flush
end
