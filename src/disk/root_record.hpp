// The payload of a root slot: everything a commit publishes. Layout in docs/format.md
// ("root record"): version u32 | uuid 16 | logical blocks u64 | segment blocks u32 |
// user bytes written u64 | host bytes written u64 | index root (IndexRoot::kEncodedSize).
#pragma once

#include <cstdint>
#include <vector>

#include "index/lsm_index.hpp"
#include "log/root_slots.hpp"

namespace jindisk::disk {

struct RootPayload {
  log::Uuid uuid{};
  uint64_t logical_blocks = 0;
  uint32_t segment_blocks = 0;
  uint64_t user_bytes_written = 0;
  uint64_t host_bytes_written = 0;
  index::IndexRoot index;

  std::vector<uint8_t> encode() const;
  static Result<RootPayload> decode(std::span<const uint8_t> bytes);
};

}  // namespace jindisk::disk
