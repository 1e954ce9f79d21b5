// Host file names of the index layer: "wal-", "sst-" or "man-" and 16 lower-case hex digits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "host/store.hpp"

namespace jindisk::index {

enum class FileKind : uint8_t { kWal, kSst, kManifest };

std::string file_name(FileKind kind, uint64_t id);

struct ParsedName {
  FileKind kind;
  uint64_t id;
};
// A newly created, empty index file and its id.
struct NewFile {
  uint64_t id = 0;
  std::unique_ptr<host::File> file;
};

// nullopt unless `name` is exactly what file_name() produces for some kind and id.
std::optional<ParsedName> parse_file_name(std::string_view name);

}  // namespace jindisk::index
