// The reference block device: plain memory, no crypto, no persistence. Tests compare the
// secure disk against it (the differential test) and the conformance suite runs on it first,
// so that a failing conformance test can be told apart from a broken suite.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <vector>

#include "jindisk/block_device.hpp"

namespace jindisk {

class MemoryDisk final : public BlockDevice {
 public:
  explicit MemoryDisk(uint64_t blocks);

  uint64_t block_count() const override { return blocks_; }
  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status flush() override;  // nothing to make durable; counts the call
  Status trim(uint64_t lba, uint64_t count) override;

  uint64_t flush_count() const { return flushes_; }
  // Blocks that hold data (written and not trimmed).
  uint64_t mapped_blocks() const;

 private:
  using Block = std::array<uint8_t, kBlockSize>;
  const uint64_t blocks_;
  mutable std::shared_mutex mu_;
  std::map<uint64_t, Block> data_;  // sparse: a 1 TiB reference disk costs only what is written
  uint64_t flushes_ = 0;
};

}  // namespace jindisk
