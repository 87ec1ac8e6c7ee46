#!/usr/bin/ruby
# fog-aws (Debian) against S3_ENDPOINT: directory.files.create with public: true, which
# fog signs as STREAMING-AWS4-HMAC-SHA256-PAYLOAD (chunk signatures, Transfer-Encoding:
# chunked), for a small object, a 12 MiB object in one PUT and a 12 MiB multipart upload;
# then reads them back and deletes them.
# Env: see tests/integration/README.md; S3_CA_BUNDLE (optional) for an https endpoint.
require 'fog/aws'
require_relative '../lib/harness'

MIB = 1024 * 1024
# Below the 12 MiB test file, so the multipart variant really has several parts.
MULTIPART_CHUNK = 5 * MIB

bucket = Harness.env('S3_BUCKET')
data = Harness.env('IT_DATA')
small = File.join(data, 'small.bin')
big = File.join(data, 'big.bin')
run = ENV.fetch('RUN_ID', Process.pid.to_s)
object_acl = Harness.expected_object_acl

# retry_limit 1 = one attempt: a retry would hide a failed first attempt. Waiting 20 s for
# the RGW, which answers in well under a second here, is a fault, not slowness.
connection_options = { retry_limit: 1, connect_timeout: 20, read_timeout: 20, write_timeout: 20 }
connection_options[:ssl_ca_file] = ENV['S3_CA_BUNDLE'] unless ENV.fetch('S3_CA_BUNDLE', '').empty?
storage = Fog::Storage.new(
  provider: 'AWS',
  aws_access_key_id: Harness.env('S3_ACCESS_KEY'),
  aws_secret_access_key: Harness.env('S3_SECRET_KEY'),
  region: 'us-east-1',
  endpoint: Harness.env('S3_ENDPOINT'),
  path_style: true,
  connection_options: connection_options
)
puts "fog-aws #{Fog::AWS::VERSION}, excon #{Excon::VERSION}, endpoint #{ENV['S3_ENDPOINT']}"
directory = storage.directories.new(key: bucket)

prefix = "fog/#{run}/"
k_small = "#{prefix}small.png"
k_big = "#{prefix}big-single-put.bin"
k_multi = "#{prefix}big-multipart.bin"
acl = object_acl ? { acl: object_acl } : {}

t = Harness::Steps.new

t.step('files.create small with public: true') do
  File.open(small, 'rb') do |f|
    directory.files.create(key: k_small, body: f, public: true, content_type: 'image/png')
  end
end

t.step('files.create 12 MiB in one PUT with public: true') do
  File.open(big, 'rb') { |f| directory.files.create(key: k_big, body: f, public: true) }
end

t.step('files.create 12 MiB multipart with public: true') do
  File.open(big, 'rb') do |f|
    directory.files.create(key: k_multi, body: f, public: true, multipart_chunk_size: MULTIPART_CHUNK)
  end
end

t.verify_on_rgw('objects landed on rgw byte for byte', [
  { bucket: bucket, key: k_small, file: small, content_type: 'image/png', **acl },
  { bucket: bucket, key: k_big, file: big, **acl },
  { bucket: bucket, key: k_multi, file: big, multipart: true, **acl }
])

t.step('files.get back through the endpoint') do
  Harness.same_bytes?(small, directory.files.get(k_small).body) or raise 'small differs'
  Harness.same_bytes?(big, directory.files.get(k_big).body) or raise 'big differs'
end

t.step('files.head') do
  head = directory.files.head(k_multi)
  head && head.content_length == File.size(big) or raise "content_length #{head&.content_length.inspect}"
end

t.step('file.destroy') { directory.files.new(key: k_small).destroy }

t.step('delete_multiple_objects') do
  resp = storage.delete_multiple_objects(bucket, [k_big, k_multi], quiet: true)
  resp.status == 200 or raise "status #{resp.status}"
  errors = resp.body['DeleteResult'].to_a.select { |r| r.key?('Error') }
  errors.empty? or raise "errors: #{errors.inspect}"
end

t.verify_on_rgw('deleted objects are gone from rgw',
                [k_small, k_big, k_multi].map { |k| { bucket: bucket, key: k, absent: true } })

t.finish!
