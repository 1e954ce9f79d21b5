#include "util/id_name.hpp"

namespace jindisk::util {

std::string id_name(std::string_view prefix, uint64_t id) {
  static const char* kHex = "0123456789abcdef";
  std::string name(prefix);
  for (int shift = 60; shift >= 0; shift -= 4) name += kHex[(id >> shift) & 15];
  return name;
}

std::optional<uint64_t> parse_id_name(std::string_view prefix, std::string_view name) {
  if (name.size() != prefix.size() + 16 || !name.starts_with(prefix)) return std::nullopt;
  uint64_t id = 0;
  for (char c : name.substr(prefix.size())) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    id = (id << 4) | static_cast<uint64_t>(digit);
  }
  return id;
}

}  // namespace jindisk::util
