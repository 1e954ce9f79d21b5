// Helpers shared by the host-layer suites.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/store.hpp"

namespace jindisk::host::test {

// A fresh directory under /tmp, removed with everything in it when the guard goes away, so a
// failing test does not leave litter behind.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/jindisk-host-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}
inline std::string text(std::span<const uint8_t> b) {
  return {b.begin(), b.end()};
}

// The whole content of a file, read through the store.
inline std::string read_file(Store& store, std::string_view name) {
  auto file = store.open(name, OpenMode::kExisting);
  REQUIRE_MESSAGE(file.is_ok(), file.status().to_string());
  auto size = (*file)->size();
  REQUIRE(size.is_ok());
  std::vector<uint8_t> buf(*size);
  REQUIRE((*file)->read_exact(0, buf).is_ok());
  return text(buf);
}

// Creates (or replaces the content of) a file and syncs it.
inline void put_file(Store& store, std::string_view name, std::string_view content) {
  auto file = store.open(name, OpenMode::kCreateOrOpen);
  REQUIRE_MESSAGE(file.is_ok(), file.status().to_string());
  REQUIRE((*file)->truncate(0).is_ok());
  REQUIRE((*file)->write_at(0, bytes(content)).is_ok());
  REQUIRE((*file)->sync().is_ok());
}

}  // namespace jindisk::host::test
