// Shared helpers for the log-layer suites: opening files on a MemoryStore and editing its raw
// bytes the way an attacker with the host directory would.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "host/memory_store.hpp"
#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::log::testing {

using Bytes = std::vector<uint8_t>;

// Opens (creating if needed) a file and makes its name durable, so a simulated crash keeps it.
inline std::unique_ptr<host::File> open_file(host::Store& store, std::string_view name,
                                             host::OpenMode mode = host::OpenMode::kCreateOrOpen) {
  auto f = store.open(name, mode);
  REQUIRE_MESSAGE(f.is_ok(), f.status().to_string());
  REQUIRE(store.sync_dir().is_ok());
  return std::move(f).value();
}

inline Bytes raw(host::MemoryStore& store, std::string_view name) {
  auto b = store.read_all(name);
  REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
  return std::move(b).value();
}

inline void put_raw(host::MemoryStore& store, std::string_view name, const Bytes& bytes) {
  REQUIRE(store.write_all(name, bytes).is_ok());
}

// Deterministic bytes for record/block contents, so a mismatch is reproducible.
inline Bytes pattern(size_t n, uint64_t seed) {
  Bytes b(n);
  std::mt19937_64 rng(seed);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

#define JD_REQUIRE_OK(expr)                            \
  do {                                                 \
    ::jindisk::Status jd_s_ = (expr);                  \
    REQUIRE_MESSAGE(jd_s_.is_ok(), jd_s_.to_string()); \
  } while (0)

#define JD_CHECK_CODE(expr, want_code)                                      \
  do {                                                                      \
    const ::jindisk::Status jd_s_ = (expr);                                 \
    CHECK_MESSAGE(jd_s_.code() == (want_code), "got: ", jd_s_.to_string()); \
  } while (0)

}  // namespace jindisk::log::testing
