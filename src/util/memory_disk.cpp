#include "jindisk/memory_disk.hpp"

#include <cstring>
#include <mutex>

namespace jindisk {

MemoryDisk::MemoryDisk(uint64_t blocks) : blocks_(blocks) {}

Status MemoryDisk::read(uint64_t lba, std::span<uint8_t> out) {
  JD_TRY(check_block_range(blocks_, lba, out.size()));
  std::shared_lock lock(mu_);
  for (size_t i = 0; i < out.size() / kBlockSize; ++i) {
    uint8_t* dst = out.data() + i * kBlockSize;
    auto it = data_.find(lba + i);
    if (it == data_.end()) std::memset(dst, 0, kBlockSize);
    else std::memcpy(dst, it->second.data(), kBlockSize);
  }
  return Status::ok();
}

Status MemoryDisk::write(uint64_t lba, std::span<const uint8_t> data) {
  JD_TRY(check_block_range(blocks_, lba, data.size()));
  std::unique_lock lock(mu_);
  for (size_t i = 0; i < data.size() / kBlockSize; ++i) {
    std::memcpy(data_[lba + i].data(), data.data() + i * kBlockSize, kBlockSize);
  }
  return Status::ok();
}

Status MemoryDisk::flush() {
  std::unique_lock lock(mu_);
  ++flushes_;
  return Status::ok();
}

Status MemoryDisk::trim(uint64_t lba, uint64_t count) {
  if (count > UINT64_MAX / kBlockSize) return Status::invalid_argument("trim count too large");
  JD_TRY(check_block_range(blocks_, lba, count * kBlockSize));
  std::unique_lock lock(mu_);
  data_.erase(data_.lower_bound(lba), data_.lower_bound(lba + count));
  return Status::ok();
}

uint64_t MemoryDisk::mapped_blocks() const {
  std::shared_lock lock(mu_);
  return data_.size();
}

}  // namespace jindisk
