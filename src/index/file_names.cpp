#include "index/file_names.hpp"

#include "index/lsm_index.hpp"
#include "util/id_name.hpp"

namespace jindisk::index {
namespace {

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

std::string file_name(FileKind kind, uint64_t id) { return util::id_name(prefix(kind), id); }

std::optional<ParsedName> parse_file_name(std::string_view name) {
  for (FileKind k : {FileKind::kWal, FileKind::kSst, FileKind::kManifest}) {
    if (auto id = util::parse_id_name(prefix(k), name)) return ParsedName{k, *id};
  }
  return std::nullopt;
}

bool is_index_file(std::string_view name) {
  return name.starts_with("wal-") || name.starts_with("sst-") || name.starts_with("man-");
}

}  // namespace jindisk::index
