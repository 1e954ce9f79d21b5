// Records of the index layer: one LBA and the newest BlockRef known for it, or a tombstone.
// Shared by the memtable, the WAL encoding, the SST blocks, merging and compaction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "crypto/aead.hpp"
#include "index/lsm_index.hpp"
#include "jindisk/status.hpp"

namespace jindisk::index {

// A trimmed LBA is recorded as a BlockRef whose hba is all ones (key and tag zero): it must
// shadow older versions in deeper levels until a compaction into the bottom level drops it.
constexpr uint64_t kTombstoneHba = std::numeric_limits<uint64_t>::max();

inline BlockRef tombstone_ref() {
  BlockRef r;
  r.hba = kTombstoneHba;
  return r;
}
inline bool is_tombstone(const BlockRef& ref) {
  return ref.hba == kTombstoneHba;
}

struct Entry {
  uint64_t lba = 0;
  BlockRef ref;
  bool operator==(const Entry&) const = default;
};

// Plaintext block of every sealed index file (SSTs and manifests).
using Block = std::array<uint8_t, crypto::kBlockSize>;

// Levels 0..kMaxLevels-1. The deepest level never compacts further, so it simply grows; with
// the default ratio 10 and 64 Ki memtable entries, level 6 alone would hold 6.5e10 entries.
constexpr size_t kMaxLevels = 10;

}  // namespace jindisk::index

namespace jindisk::index {

// A sorted stream of entries (memtable snapshot, one SST, one level), merged by
// MergeIterator. seek() positions at the first entry with lba >= the target; I/O or
// validation errors come back from seek()/next() and leave the source invalid.
class EntrySource {
 public:
  virtual ~EntrySource() = default;
  virtual Status seek(uint64_t lba) = 0;
  virtual bool valid() const = 0;
  virtual const Entry& entry() const = 0;  // only while valid()
  virtual Status next() = 0;               // only while valid()
};

}  // namespace jindisk::index
