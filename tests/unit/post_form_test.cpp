#include "s3proxy/post_form.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace s3proxy::post {
namespace {

constexpr std::string_view kBoundary = "XyZbOuNdArY";

std::string part(std::string_view name, std::string_view value) {
  return "--" + std::string(kBoundary) + "\r\nContent-Disposition: form-data; name=\"" + std::string(name) +
         "\"\r\n\r\n" + std::string(value) + "\r\n";
}

std::string file_head(std::string_view extra = "") {
  return "--" + std::string(kBoundary) + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n" +
         std::string(extra) + "\r\n";
}

std::string close() { return "\r\n--" + std::string(kBoundary) + "--\r\n"; }

std::string form(std::string_view data) { return part("key", "k1") + part("acl", "public-read") + file_head() + std::string(data) + close(); }

FormHead parsed(std::string_view body) {
  auto r = parse_form_head(body, kBoundary);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.failure().message);
  EXPECT_TRUE(r.ok() && r.value().has_value());
  return *r.value();
}

S3Error refusal(std::string_view body) {
  auto r = parse_form_head(body, kBoundary);
  EXPECT_FALSE(r.ok());
  return r.ok() ? S3Error::InternalError : r.failure().error;
}

// Everything FileStream releases for `body` fed in pieces of `piece` bytes.
std::pair<std::string, std::optional<Failure>> stream(std::string_view body, std::size_t piece) {
  FileStream fs(kBoundary);
  std::string out;
  while (true) {
    const auto n = std::min(piece, body.size());
    const bool last = n == body.size();
    if (auto f = fs.feed(body.substr(0, n), last)) return {out, f};
    for (auto v : fs.release()) out.append(v);
    body.remove_prefix(n);
    if (last) break;
  }
  return {out, std::nullopt};
}

TEST(FormBoundary, TakesQuotedAndPlainBoundaries) {
  EXPECT_EQ(form_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(form_boundary("Multipart/Form-Data; boundary=\"a b'c\""), "a b'c");
  EXPECT_EQ(form_boundary("multipart/form-data;boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
            "----WebKitFormBoundary7MA4YWxkTrZu0gW");
}

TEST(FormBoundary, RefusesOtherTypesAndInvalidBoundaries) {
  EXPECT_FALSE(form_boundary("application/x-www-form-urlencoded"));
  EXPECT_FALSE(form_boundary("multipart/form-data"));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary="));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary=" + std::string(71, 'a')));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary=\"a\r\nb\""));
  EXPECT_FALSE(form_boundary("multipart/form-data; boundary=a; boundary=b"));
}

TEST(FormHead, ReadsFieldsUpToTheFileData) {
  const std::string body = form("hello");
  const FormHead h = parsed(body);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[0].name, "key");
  EXPECT_EQ(h.fields[0].value, "k1");
  EXPECT_EQ(h.fields[1].value, "public-read");
  EXPECT_EQ(h.file.filename, "a.txt");
  EXPECT_EQ(body.substr(h.consumed, 5), "hello");
}

TEST(FormHead, NeedsMoreUntilTheFilePartHeaderEnds) {
  const std::string body = form("hello");
  const auto file_at = body.find("hello");
  for (std::size_t n = 0; n < file_at; ++n) {
    auto r = parse_form_head(std::string_view(body).substr(0, n), kBoundary);
    ASSERT_TRUE(r.ok()) << n << ": " << r.failure().message;
    EXPECT_FALSE(r.value().has_value()) << n;
  }
}

TEST(FormHead, LowerCasesFieldNames) {
  const FormHead h = parsed(part("Key", "k") + part("X-Amz-Meta-Color", "blue") + file_head() + "x" + close());
  EXPECT_EQ(h.fields[0].name, "key");
  EXPECT_EQ(h.fields[1].name, "x-amz-meta-color");
}

TEST(FormHead, RefusesAFieldGivenTwiceInAnyCase) {
  EXPECT_EQ(refusal(part("key", "a") + part("KEY", "b") + file_head() + "x" + close()), S3Error::InvalidArgument);
}

TEST(FormHead, RefusesLineBreaksInValues) {
  EXPECT_EQ(refusal(part("key", "a") + part("x-amz-meta-a", "x\r\ny: z") + file_head() + "x" + close()),
            S3Error::InvalidArgument);
  EXPECT_EQ(refusal(part("key", "a\nb") + file_head() + "x" + close()), S3Error::InvalidArgument);
}

TEST(FormHead, RefusesFieldsBeyondTwentyKibibytes) {
  std::string body = part("key", "k");
  for (int i = 0; body.size() < kMaxPreFileBytes; ++i) body += part("x-amz-meta-" + std::to_string(i), std::string(500, 'v'));
  body += file_head() + "x" + close();
  EXPECT_EQ(refusal(body), S3Error::MaxPostPreDataLengthExceeded);
}

TEST(FormHead, RefusesAFormWithoutFile) {
  EXPECT_EQ(refusal(part("key", "k") + "--" + std::string(kBoundary) + "--\r\n"),
            S3Error::IncorrectNumberOfFilesInPostRequest);
}

TEST(FormHead, RefusesAPreamble) {
  EXPECT_EQ(refusal("preamble\r\n" + form("x")), S3Error::MalformedPOSTRequest);
}

TEST(FormHead, RefusesUnknownOrFoldedPartHeaders) {
  const std::string b(kBoundary);
  EXPECT_EQ(refusal("--" + b + "\r\nContent-Disposition: form-data; name=\"key\"\r\nX-Other: 1\r\n\r\nk\r\n" + file_head()),
            S3Error::MalformedPOSTRequest);
  EXPECT_EQ(refusal("--" + b + "\r\nContent-Disposition: form-data;\r\n name=\"key\"\r\n\r\nk\r\n" + file_head()),
            S3Error::MalformedPOSTRequest);
  EXPECT_EQ(refusal("--" + b + "\r\nContent-Disposition: form-data; name=\"k\\\"ey\"\r\n\r\nk\r\n" + file_head()),
            S3Error::MalformedPOSTRequest);
  EXPECT_EQ(refusal("--" + b + "\r\nContent-Disposition: form-data; name=\"a;b\"\r\n\r\nk\r\n" + file_head()),
            S3Error::MalformedPOSTRequest);
}

TEST(FormHead, KeepsTheFilePartHeaderAsReceived) {
  const FormHead h = parsed(part("key", "k") + file_head("Content-Type: image/png\r\n") + "x" + close());
  EXPECT_EQ(h.file.content_type, "image/png");
  EXPECT_EQ(h.file.raw_head, "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: image/png");
}

TEST(FormHead, SerializedHeadParsesBackToTheSameFields) {
  const FormHead h = parsed(form("data"));
  const std::string again = serialize_form_head(h.fields, h.file, kBoundary) + "data" + close();
  const FormHead h2 = parsed(again);
  ASSERT_EQ(h2.fields.size(), h.fields.size());
  for (std::size_t i = 0; i < h.fields.size(); ++i) {
    EXPECT_EQ(h2.fields[i].name, h.fields[i].name);
    EXPECT_EQ(h2.fields[i].value, h.fields[i].value);
  }
  EXPECT_EQ(h2.file.raw_head, h.file.raw_head);
}

TEST(FileStream, ReleasesTheWholeTailOnlyAtTheEnd) {
  const std::string data(100000, 'd');
  const std::string body = data + close();
  for (std::size_t piece : {1u, 7u, 13u, 4096u, 65536u, 200000u}) {
    auto [out, failure] = stream(body, piece);
    EXPECT_FALSE(failure) << piece;
    EXPECT_EQ(out, body) << piece;
  }
}

TEST(FileStream, NeverReleasesTheDelimiterBeforeTheLastByte) {
  const std::string body = std::string(1000, 'd') + close();
  FileStream fs(kBoundary);
  ASSERT_FALSE(fs.feed(std::string_view(body).substr(0, body.size() - 1), false));
  std::string out;
  for (auto v : fs.release()) out.append(v);
  EXPECT_EQ(out, std::string(1000, 'd'));
  EXPECT_EQ(fs.file_bytes(), 1000u);
}

TEST(FileStream, HoldsBackWhatCouldStartTheDelimiter) {
  FileStream fs(kBoundary);
  ASSERT_FALSE(fs.feed("abc\r\n--XyZ", false));
  std::string out;
  for (auto v : fs.release()) out.append(v);
  EXPECT_LE(out.size(), 3u);
  EXPECT_EQ(std::string("abc").substr(0, out.size()), out);
}

TEST(FileStream, RefusesABodyWithoutTheClosingBoundary) {
  auto [out, failure] = stream(std::string(5000, 'd'), 1000);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->error, S3Error::MalformedPOSTRequest);
  EXPECT_LT(out.size(), 5000u);
}

TEST(FileStream, RefusesTheBoundaryInsideTheFile) {
  auto [out, failure] = stream("abc\r\n--" + std::string(kBoundary) + "X more data" + close(), 4);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->error, S3Error::MalformedPOSTRequest);
  EXPECT_EQ(out, "abc");
}

TEST(FileStream, PassesIgnoredFieldsAfterTheFileWhenTheFormCloses) {
  const std::string body = "abc\r\n--" + std::string(kBoundary) + "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv" + close();
  auto [out, failure] = stream(body, 5);
  EXPECT_FALSE(failure);
  EXPECT_EQ(out, body);
}

TEST(FileStream, RefusesMoreThanTheBoundAfterTheFile) {
  const std::string body = "abc\r\n--" + std::string(kBoundary) + "\r\n" + std::string(kMaxTailBytes + 10, 'x') + close();
  auto [out, failure] = stream(body, 4096);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->error, S3Error::MalformedPOSTRequest);
}

}  // namespace
}  // namespace s3proxy::post
