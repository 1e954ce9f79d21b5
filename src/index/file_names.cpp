#include "index/file_names.hpp"

#include <cstdio>

#include "index/lsm_index.hpp"

namespace jindisk::index {
namespace {

constexpr size_t kPrefixLen = 4;  // "wal-"
constexpr size_t kHexLen = 16;

const char* prefix(FileKind kind) {
  switch (kind) {
    case FileKind::kWal:
      return "wal-";
    case FileKind::kSst:
      return "sst-";
    case FileKind::kManifest:
      return "man-";
  }
  return "";  // unreachable: every kind is listed above
}

}  // namespace

std::string file_name(FileKind kind, uint64_t id) {
  char buf[kPrefixLen + kHexLen + 1];
  std::snprintf(buf, sizeof buf, "%s%016llx", prefix(kind), static_cast<unsigned long long>(id));
  return buf;
}

std::optional<ParsedName> parse_file_name(std::string_view name) {
  if (name.size() != kPrefixLen + kHexLen) return std::nullopt;
  std::optional<FileKind> kind;
  for (FileKind k : {FileKind::kWal, FileKind::kSst, FileKind::kManifest}) {
    if (name.starts_with(prefix(k))) kind = k;
  }
  if (!kind) return std::nullopt;
  uint64_t id = 0;
  for (char c : name.substr(kPrefixLen)) {
    // Only the canonical lower-case spelling, so that one id has exactly one name.
    int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) return std::nullopt;
    id = (id << 4) | static_cast<uint64_t>(digit);
  }
  return ParsedName{*kind, id};
}

bool is_index_file(std::string_view name) {
  return name.starts_with("wal-") || name.starts_with("sst-") || name.starts_with("man-");
}

}  // namespace jindisk::index
