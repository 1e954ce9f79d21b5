#include "host/store.hpp"

#include <string>

namespace jindisk::host {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "." || name == "..") return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status File::read_exact(uint64_t offset, std::span<uint8_t> out) {
  JD_ASSIGN_OR_RETURN(size_t got, read_at(offset, out));
  if (got != out.size()) {
    return Status::corruption("short read at offset " + std::to_string(offset) + ": wanted " +
                              std::to_string(out.size()) + " bytes, file has " +
                              std::to_string(got));
  }
  return Status::ok();
}

}  // namespace jindisk::host
