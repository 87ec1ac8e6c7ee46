#include "s3proxy/forward.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace s3proxy {
namespace {

constexpr std::string_view kBoundary = "XyZbOuNdArY";

struct Fixture {
  std::vector<sigv4::Header> headers{{"Host", "127.0.0.1:8080"},
                                     {"Content-Type", "multipart/form-data; boundary=XyZbOuNdArY"},
                                     {"Origin", "https://app.example"},
                                     {"Authorization", "AWS4-HMAC-SHA256 Credential=ignored"}};
  sigv4::RequestView view{"POST", "/media", "", headers};
  S3Target target{Op::PostObject, "media", "", false, false, false};
  UpstreamConfig upstream;
  Fixture() {
    upstream.host_header = "rgw.test:7480";
  }
  Result<ForwardPlan> plan(std::string head, std::uint64_t client_length, std::uint64_t client_head) {
    return plan_post_forward(PostForwardInput{view, target, std::string(kBoundary), std::move(head), client_length,
                                              client_head, upstream});
  }
};

std::string header(const ForwardPlan& p, std::string_view name) {
  for (const auto& [n, v] : p.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

// Everything the transform releases for `rest` in pieces of `piece` bytes, or the refusal.
std::pair<std::string, std::optional<Failure>> relay(const ForwardPlan& plan, std::string_view rest, std::size_t piece) {
  const sigv4::Verified none{};
  BodyTransform t(plan, none);
  std::string out;
  do {
    const auto n = std::min(piece, rest.size());
    if (auto f = t.consume(rest.substr(0, n), n == rest.size())) return {out, f};
    for (const auto& b : t.take_output()) out.append(static_cast<const char*>(b.data()), b.size());
    t.clear_output();
    rest.remove_prefix(n);
  } while (!rest.empty());
  return {out, std::nullopt};
}

TEST(PostForward, UpstreamLengthIsTheNewHeadPlusTheRestOfTheClientsBody) {
  Fixture f;
  auto p = f.plan(std::string(300, 'h'), 10000, 250);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->upstream_content_length, 300u + 9750u);
  EXPECT_EQ(header(p.value(), "content-length"), "10050");
  EXPECT_EQ(p->target, "/media");
  EXPECT_EQ(header(p.value(), "host"), "rgw.test:7480");
}

TEST(PostForward, SendsNoAuthorizationAndOnlyTheFormsHeaders) {
  Fixture f;
  auto p = f.plan("h", 10, 1);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(header(p.value(), "authorization"), "<absent>");
  EXPECT_EQ(header(p.value(), "content-type"), "multipart/form-data; boundary=\"XyZbOuNdArY\"");
  EXPECT_EQ(header(p.value(), "origin"), "https://app.example");
}

TEST(PostForward, RefusesAHeadLongerThanTheBody) {
  Fixture f;
  EXPECT_FALSE(f.plan("h", 10, 11).ok());
}

TEST(PostForward, ReleasesTheHeadThenExactlyTheClientsRest) {
  Fixture f;
  const std::string rest = std::string(200000, 'd') + "\r\n--XyZbOuNdArY--\r\n";
  auto p = f.plan("NEWHEAD", 1000 + rest.size(), 1000);
  ASSERT_TRUE(p.ok());
  for (std::size_t piece : {1u, 100u, 65536u, 300000u}) {
    auto [out, failure] = relay(p.value(), rest, piece);
    ASSERT_FALSE(failure) << piece << ": " << failure->message;
    EXPECT_EQ(out, "NEWHEAD" + rest) << piece;
  }
}

TEST(PostForward, LetsNothingCompleteWhenTheFormDoesNotClose) {
  Fixture f;
  const std::string rest(5000, 'd');
  auto p = f.plan("NEWHEAD", 1000 + rest.size(), 1000);
  ASSERT_TRUE(p.ok());
  auto [out, failure] = relay(p.value(), rest, 1000);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->error, S3Error::MalformedPOSTRequest);
  EXPECT_LT(out.size(), p->upstream_content_length);
}

}  // namespace
}  // namespace s3proxy
