# Shared by the Ruby client tests: the environment contract, named steps that record
# their outcome, and the check of written objects directly on the RGW.
require 'json'
require 'open3'

module Harness
  RGW_CHECK = File.expand_path('rgw_check.py', __dir__)
  # Debian's python3 with boto3 1.26: the checker never depends on the client under test.
  CHECK_PYTHON = '/usr/bin/python3'

  def self.env(name)
    value = ENV.fetch(name, '')
    abort "missing environment variable #{name}" if value.empty?
    value
  end

  # The ACL an object written with a canned ACL should end up with on the RGW: "public-read"
  # directly or through an auditing proxy, "private" through a stripping one; nil = unchecked.
  def self.expected_object_acl
    value = ENV.fetch('EXPECT_OBJECT_ACL', '')
    value.empty? ? nil : value
  end

  def self.same_bytes?(path, bytes)
    File.binread(path) == bytes.b
  end

  # Runs rgw_check.py on specs (hashes as rgw_check.py documents); returns [ok, output].
  def self.rgw_verify(specs)
    out, status = Open3.capture2e(CHECK_PYTHON, RGW_CHECK, 'verify', '-', stdin_data: JSON.generate(specs))
    [status.success?, out]
  end

  class Steps
    def initialize
      @failures = []
    end

    # Runs the block as one named step; an exception or a false result fails the step.
    def step(name)
      result = yield
      raise 'step returned false' if result == false

      puts "ok - #{name}"
    rescue StandardError => e
      reason = "#{e.class}: #{e.message}".lines.first.to_s.strip
      @failures << "#{name}: #{reason}"
      puts "not ok - #{name}: #{reason}"
    end

    def verify_on_rgw(name, specs)
      step(name) do
        ok, out = Harness.rgw_verify(specs)
        out.each_line { |l| puts "  #{l}" }
        raise out.lines.reject { |l| l.strip.empty? }.first.to_s.strip unless ok

        true
      end
    end

    # Last line of output: what the runner shows as the reason on failure.
    def finish!
      if @failures.empty?
        puts 'all steps passed'
        exit 0
      end
      puts "#{@failures.size} step(s) failed; first: #{@failures.first}"
      exit 1
    end
  end
end
