#pragma once
// A secret that cannot be printed: streaming or formatting it yields "*****".
#include <fmt/format.h>

#include <ostream>
#include <string>
#include <string_view>

namespace s3proxy {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  // The only way to the bytes; grep for reveal() to audit every use.
  [[nodiscard]] std::string_view reveal() const noexcept { return value_; }
  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "*****"; }
  friend bool operator==(const Secret&, const Secret&) = default;

 private:
  std::string value_;
};

}  // namespace s3proxy

template <>
struct fmt::formatter<s3proxy::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const s3proxy::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("*****", ctx);
  }
};
