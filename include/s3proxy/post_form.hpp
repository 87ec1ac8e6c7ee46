#pragma once
// The multipart/form-data body of a browser-based upload (POST Object, RFC 7578 over
// RFC 2046): the form fields before the file, read whole within S3's bound, and the file's
// data, scanned for its closing delimiter as it streams so that nothing holds it whole.
//
// Strict where parsers could disagree: the proxy verifies, audits and forwards what it
// parsed itself, so a form that another parser might read differently (a preamble, folded
// or unknown part headers, quoted names with escapes, the same field twice, the boundary
// inside the file followed by anything but a part's end) is refused, never guessed at.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3proxy/s3_error.hpp"

namespace s3proxy::post {

// S3 refuses a POST whose fields before the file exceed 20 KiB (MaxPostPreDataLengthExceeded);
// the proxy holds no more than that before it knows who is asking.
inline constexpr std::size_t kMaxPreFileBytes = 20 * 1024;
// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
inline constexpr std::size_t kMaxBoundary = 70;
// After the file's delimiter S3 ignores whatever follows (the closing delimiter, fields it
// does not read): held back until the body ends, so the upstream never sees the file's end
// before the whole body arrived. More than this is refused.
inline constexpr std::size_t kMaxTailBytes = 20 * 1024;
// A part's header section: Content-Disposition and Content-Type lines.
inline constexpr std::size_t kMaxPartHeader = 2 * 1024;

// The boundary of a "multipart/form-data; boundary=..." Content-Type (quoted or not), or
// nullopt when the type is another one or the boundary is not a valid RFC 2046 one.
std::optional<std::string> form_boundary(std::string_view content_type);
// True when the Content-Type names multipart/form-data (whatever its parameters).
bool is_form_data(std::string_view content_type);

struct Field {
  std::string name;   // lower-case: S3 form field names are case-insensitive
  std::string value;  // as received
};

struct FilePart {
  std::string raw_head;  // the part's header lines as received, CRLF-separated, without the blank line
  std::optional<std::string> filename;  // Content-Disposition filename, when given
  std::string content_type;             // the part's Content-Type, "" when absent
};

struct FormHead {
  std::vector<Field> fields;  // before the file, in order, names unique
  FilePart file;
  std::size_t consumed = 0;  // body bytes up to the first byte of the file's data
};

// Parses the form up to the start of the file's data from the first bytes of the body.
// nullopt: more bytes are needed (never once kMaxPreFileBytes are at hand). Refuses with
// MaxPostPreDataLengthExceeded past the bound, IncorrectNumberOfFilesInPostRequest when the
// form ends without a field named "file", InvalidArgument for a repeated field or a value
// holding CR, LF or NUL, MalformedPOSTRequest for anything not well-formed.
Result<std::optional<FormHead>> parse_form_head(std::string_view body, std::string_view boundary);

// A field's value by lower-case name.
const Field* find_field(const std::vector<Field>& fields, std::string_view lower_name);

// The first part of the body as the upstream gets it: the given fields, each as a part with
// the same boundary, then the file part's own header lines as received.
std::string serialize_form_head(const std::vector<Field>& fields, const FilePart& file, std::string_view boundary);

// The file's data after the form head: passes it on as it arrives, holding back only what
// could be the start of the delimiter that ends it, and from the delimiter on everything
// until the body has ended and its end is well-formed.
class FileStream {
 public:
  explicit FileStream(std::string_view boundary);

  // Feeds the next bytes of the body; `last` when the client's framing says the body ended.
  // Returns the refusal when the body is malformed; otherwise release() is what may be sent
  // now, in order, valid until the next feed().
  std::optional<Failure> feed(std::string_view data, bool last);
  [[nodiscard]] const std::vector<std::string_view>& release() const { return release_; }
  [[nodiscard]] std::uint64_t file_bytes() const { return file_bytes_; }

 private:
  std::optional<Failure> check_tail() const;

  std::string delimiter_;  // CRLF "--" boundary
  std::string scratch_;    // held bytes + the new piece, while the delimiter is not found
  std::string held_;
  std::vector<std::string_view> release_;
  bool found_ = false;
  std::uint64_t file_bytes_ = 0;
};

}  // namespace s3proxy::post
