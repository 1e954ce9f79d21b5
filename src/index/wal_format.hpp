// Encoding of WAL records (docs/format-index.md, "WAL record"). One ChainLog record holds one
// entry: the chain log's own framing costs 2 bytes per record, so packing several entries per
// record would save little and would waste the tail of a block whenever a pack did not fit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "index/entry.hpp"
#include "jindisk/status.hpp"

namespace jindisk::index {

constexpr uint8_t kWalPut = 1;
constexpr uint8_t kWalTombstone = 2;
constexpr size_t kWalPutSize = 1 + 8 + 8 + 32 + 16;
constexpr size_t kWalTombstoneSize = 1 + 8;

// Replaces `out` with the record for e.
void encode_wal_record(const Entry& e, std::vector<uint8_t>& out);
// kCorruption unless `record` is exactly one well-formed record.
Result<Entry> decode_wal_record(std::span<const uint8_t> record);

}  // namespace jindisk::index
