// Helpers for the ChainLog suites: writing a log of known records and replaying it.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "crypto/aead.hpp"
#include "log/chain_log.hpp"
#include "log_test_util.hpp"

namespace jindisk::log::testing {

// Record i of a test stream: sizes sweep small, medium and maximal records, including the
// edges 1, 2, kMaxRecordSize - 1 and kMaxRecordSize.
inline Bytes record(uint64_t i, uint64_t seed = 0) {
  static constexpr size_t kEdges[] = {1, 2, ChainLog::kMaxRecordSize - 1, ChainLog::kMaxRecordSize};
  size_t size = 0;
  switch (i % 7) {
    case 0:
      size = kEdges[(i / 7) % 4];
      break;
    case 1:
    case 2:
    case 3:
      size = 1 + (i * 37) % 64;
      break;
    case 4:
      size = 64 + (i * 101) % 900;
      break;
    default:
      size = 1 + (i * 7919) % ChainLog::kMaxRecordSize;
      break;
  }
  return pattern(size, i * 1000003 + seed);
}

inline std::vector<Bytes> records(uint64_t first, uint64_t count, uint64_t seed = 0) {
  std::vector<Bytes> out;
  for (uint64_t i = first; i < first + count; ++i) out.push_back(record(i, seed));
  return out;
}

inline void append_all(ChainLog& log, const std::vector<Bytes>& recs) {
  for (const Bytes& r : recs) JD_REQUIRE_OK(log.append(r));
}

// Writes recs into a new log on `name` and syncs; returns the committed position.
inline ChainPosition write_log(host::Store& store, std::string_view name,
                               const crypto::KeyBytes& key, uint64_t log_id,
                               const std::vector<Bytes>& recs) {
  ChainLog log = ChainLog::create(open_file(store, name), key, log_id);
  append_all(log, recs);
  JD_REQUIRE_OK(log.sync());
  return log.position();
}

struct Replayed {
  Status status;
  std::vector<Bytes> records;  // what visit() saw, even when open failed
};

inline Replayed replay(host::Store& store, std::string_view name, const crypto::KeyBytes& key,
                       uint64_t log_id, const ChainPosition& pos) {
  Replayed out;
  auto log = ChainLog::open(open_file(store, name, host::OpenMode::kExisting), key, log_id, pos,
                            [&](std::span<const uint8_t> r) {
                              out.records.emplace_back(r.begin(), r.end());
                              return Status::ok();
                            });
  out.status = log.status();
  if (log.is_ok()) CHECK(log->position() == pos);
  return out;
}

inline std::vector<Bytes> concat(std::vector<Bytes> a, const std::vector<Bytes>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

constexpr size_t kLogBlock = 4096;

}  // namespace jindisk::log::testing
