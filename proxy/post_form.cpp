#include "s3proxy/post_form.hpp"

#include "s3proxy/text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace s3proxy::post {

namespace {

constexpr std::string_view kCrlf = "\r\n";

Failure malformed(std::string_view why) {
  return Failure{S3Error::MalformedPOSTRequest,
                 fmt::format("The body of your POST request is not well-formed multipart/form-data: {}", why)};
}

// RFC 2046 §5.1.1 bcharsnospace, and space (not last).
bool is_bchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

bool valid_boundary(std::string_view b) {
  return !b.empty() && b.size() <= kMaxBoundary && b.back() != ' ' && std::all_of(b.begin(), b.end(), is_bchar);
}

// One "; name=value" parameter list (Content-Type, Content-Disposition), values quoted or
// tokens. A quoted value holding a backslash is refused: parsers disagree on escapes.
struct Params {
  std::string_view type;
  std::vector<std::pair<std::string, std::string>> params;  // name lower-case
};

std::optional<Params> parse_params(std::string_view value) {
  Params out;
  const auto semi = value.find(';');
  out.type = text::trim(value.substr(0, semi));
  if (semi == std::string_view::npos) return out;
  std::string_view rest = value.substr(semi + 1);
  while (!rest.empty()) {
    rest = text::trim(rest);
    if (rest.empty()) break;
    const auto eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = text::lower(text::trim(rest.substr(0, eq)));
    if (name.empty()) return std::nullopt;
    rest = text::trim(rest.substr(eq + 1));
    std::string val;
    if (!rest.empty() && rest.front() == '"') {
      const auto close = rest.find('"', 1);
      if (close == std::string_view::npos) return std::nullopt;
      val = std::string(rest.substr(1, close - 1));
      if (val.find('\\') != std::string::npos) return std::nullopt;
      rest = text::trim(rest.substr(close + 1));
      if (!rest.empty() && rest.front() != ';') return std::nullopt;
    } else {
      const auto next = rest.find(';');
      val = std::string(text::trim(rest.substr(0, next)));
      rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next);
    }
    if (!rest.empty()) rest.remove_prefix(1);  // the ';'
    for (const auto& p : out.params) {
      if (p.first == name) return std::nullopt;  // a parameter twice: which one counts?
    }
    out.params.emplace_back(std::move(name), std::move(val));
  }
  return out;
}

const std::string* param(const Params& p, std::string_view name) {
  for (const auto& [n, v] : p.params) {
    if (n == name) return &v;
  }
  return nullptr;
}

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

struct PartHead {
  std::string name;  // lower-case
  std::optional<std::string> filename;
  std::string content_type;
};

// The header lines of one part (without the blank line): exactly one Content-Disposition
// "form-data" with a name, at most one Content-Type, nothing else.
Result<PartHead> parse_part_head(std::string_view lines) {
  PartHead out;
  bool have_disposition = false, have_type = false;
  while (!lines.empty()) {
    const auto eol = lines.find(kCrlf);
    const std::string_view line = lines.substr(0, eol);
    lines = eol == std::string_view::npos ? std::string_view{} : lines.substr(eol + 2);
    if (line.empty() || line.front() == ' ' || line.front() == '\t') return malformed("a part header line is empty or folded.");
    if (line.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
      return malformed("a part header holds a bare CR, LF or NUL.");
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return malformed("a part header line has no name.");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = text::trim(line.substr(colon + 1));
    if (text::iequals(name, "content-disposition")) {
      if (have_disposition) return malformed("a part has two Content-Disposition headers.");
      have_disposition = true;
      auto p = parse_params(value);
      if (!p || !text::iequals(p->type, "form-data")) return malformed("a part's Content-Disposition is not form-data.");
      const std::string* n = param(*p, "name");
      if (!n || n->empty()) return malformed("a part has no field name.");
      // Field names are tokens (RFC 9110 §5.6.2): nothing another parser could split or unquote.
      if (!std::all_of(n->begin(), n->end(), is_tchar)) return malformed("a field name is not a token.");
      out.name = text::lower(*n);
      if (const std::string* f = param(*p, "filename")) out.filename = *f;
      for (const auto& [pn, pv] : p->params) {
        if (pn != "name" && pn != "filename") return malformed("a part's Content-Disposition has unknown parameters.");
      }
    } else if (text::iequals(name, "content-type")) {
      if (have_type) return malformed("a part has two Content-Type headers.");
      have_type = true;
      out.content_type = std::string(value);
    } else {
      return malformed(fmt::format("the part header {} is not accepted.", text::bounded(name)));
    }
  }
  if (!have_disposition) return malformed("a part has no Content-Disposition.");
  return out;
}

bool value_is_clean(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

}  // namespace

bool is_form_data(std::string_view content_type) {
  return text::iequals(text::trim(content_type.substr(0, content_type.find(';'))), "multipart/form-data");
}

std::optional<std::string> form_boundary(std::string_view content_type) {
  if (!is_form_data(content_type)) return std::nullopt;
  auto p = parse_params(content_type);
  if (!p) return std::nullopt;
  const std::string* b = param(*p, "boundary");
  if (!b || !valid_boundary(*b)) return std::nullopt;
  return *b;
}

const Field* find_field(const std::vector<Field>& fields, std::string_view lower_name) {
  for (const auto& f : fields) {
    if (f.name == lower_name) return &f;
  }
  return nullptr;
}

Result<std::optional<FormHead>> parse_form_head(std::string_view body, std::string_view boundary) {
  const std::string dash = fmt::format("--{}", boundary);
  const std::string delimiter = fmt::format("\r\n--{}", boundary);
  const std::string_view window = body.substr(0, std::min(body.size(), kMaxPreFileBytes));
  const bool capped = body.size() >= kMaxPreFileBytes;
  const auto need_more = [&]() -> Result<std::optional<FormHead>> {
    if (capped) {
      return Failure{S3Error::MaxPostPreDataLengthExceeded,
                     "Your POST request fields preceding the upload file were too large."};
    }
    return std::optional<FormHead>{};
  };

  // No preamble: the body starts with the first delimiter.
  if (window.size() < dash.size() + 2) {
    if (!std::string_view(dash).starts_with(window.substr(0, std::min(window.size(), dash.size())))) {
      return malformed("the body does not start with the boundary.");
    }
    return need_more();
  }
  if (!window.starts_with(dash)) return malformed("the body does not start with the boundary.");
  FormHead head;
  std::size_t pos = dash.size();
  for (;;) {
    // After a delimiter: CRLF and a part, or "--" and the form's end.
    if (window.size() < pos + 2) return need_more();
    const std::string_view after = window.substr(pos, 2);
    if (after == "--") {
      return Failure{S3Error::IncorrectNumberOfFilesInPostRequest, "POST requires exactly one file upload per request."};
    }
    if (after != kCrlf) return malformed("a boundary is not followed by CRLF.");
    pos += 2;
    const auto blank = window.find("\r\n\r\n", pos);
    if (blank == std::string_view::npos) {
      // Longer than the bound even without its blank line (which may be half here).
      if (window.size() - pos > kMaxPartHeader + 3) return malformed("a part's headers are too long.");
      return need_more();
    }
    if (blank - pos > kMaxPartHeader) return malformed("a part's headers are too long.");
    const std::string_view lines = window.substr(pos, blank - pos);
    auto part = parse_part_head(lines);
    if (!part) return part.failure();
    pos = blank + 4;
    if (part->name == "file") {
      head.file = FilePart{std::string(lines), part->filename, part->content_type};
      head.consumed = pos;
      return std::optional<FormHead>(std::move(head));
    }
    const auto end = window.find(delimiter, pos);
    if (end == std::string_view::npos) return need_more();
    std::string_view value = window.substr(pos, end - pos);
    if (find_field(head.fields, part->name)) {
      return Failure{S3Error::InvalidArgument,
                     fmt::format("The form field {} appears more than once.", text::bounded(part->name))};
    }
    if (!value_is_clean(value)) {
      return Failure{S3Error::InvalidArgument,
                     fmt::format("The form field {} holds a line break or NUL.", text::bounded(part->name))};
    }
    head.fields.push_back(Field{std::move(part->name), std::string(value)});
    pos = end + delimiter.size();
  }
}

std::string serialize_form_head(const std::vector<Field>& fields, const FilePart& file, std::string_view boundary) {
  std::string out;
  for (const auto& f : fields) {
    fmt::format_to(std::back_inserter(out), "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{}\r\n",
                   boundary, f.name, f.value);
  }
  fmt::format_to(std::back_inserter(out), "--{}\r\n{}\r\n\r\n", boundary, file.raw_head);
  return out;
}

FileStream::FileStream(std::string_view boundary) : delimiter_(fmt::format("\r\n--{}", boundary)) {}

std::optional<Failure> FileStream::feed(std::string_view data, bool last) {
  release_.clear();
  if (!found_) {
    scratch_.assign(held_);
    scratch_.append(data);
    held_.clear();
    const auto at = std::string_view(scratch_).find(delimiter_);
    if (at == std::string_view::npos) {
      // Whatever could still be the start of the delimiter stays; the rest is file data.
      const std::size_t keep = last ? 0 : std::min(scratch_.size(), delimiter_.size() - 1);
      const std::size_t out = scratch_.size() - keep;
      if (last) return malformed("the file is not followed by the closing boundary.");
      held_.assign(scratch_, out, keep);
      file_bytes_ += out;
      if (out > 0) release_.emplace_back(scratch_.data(), out);
      return std::nullopt;
    }
    found_ = true;
    file_bytes_ += at;
    held_.assign(scratch_, at, std::string::npos);
    if (at > 0) release_.emplace_back(scratch_.data(), at);
  } else {
    held_.append(data);
  }
  if (held_.size() > delimiter_.size() + kMaxTailBytes) {
    release_.clear();
    return malformed("more than 20 KiB follow the file.");
  }
  if (!last) return std::nullopt;
  if (auto bad = check_tail()) {
    release_.clear();
    return bad;
  }
  release_.emplace_back(held_);
  return std::nullopt;
}

// The held tail starts with the delimiter that ended the file. It must go on with "--" (the
// form's end) or CRLF and further parts (which S3 ignores) ending with the closing
// delimiter; anything else means the boundary appeared inside the file.
std::optional<Failure> FileStream::check_tail() const {
  const std::string_view tail = std::string_view(held_).substr(delimiter_.size());
  if (tail.starts_with("--")) return std::nullopt;
  if (!tail.starts_with(kCrlf)) return malformed("the boundary appears inside the file.");
  if (tail.find(delimiter_ + "--") == std::string_view::npos) return malformed("the form has no closing boundary.");
  return std::nullopt;
}

}  // namespace s3proxy::post
