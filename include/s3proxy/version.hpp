#pragma once
#include <string_view>

namespace s3proxy {
inline constexpr std::string_view kVersion = "0.1.0";
}
