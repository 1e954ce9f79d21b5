#include <string>

#include "jindisk/block_device.hpp"

namespace jindisk {

Status check_block_range(uint64_t device_blocks, uint64_t lba, uint64_t byte_size) {
  if (byte_size % kBlockSize != 0) {
    return Status::invalid_argument("length " + std::to_string(byte_size) +
                                    " is not a multiple of 4096");
  }
  const uint64_t count = byte_size / kBlockSize;
  if (lba > device_blocks || count > device_blocks - lba) {
    return Status::invalid_argument("blocks [" + std::to_string(lba) + ", +" +
                                    std::to_string(count) + ") outside a device of " +
                                    std::to_string(device_blocks) + " blocks");
  }
  return Status::ok();
}

}  // namespace jindisk
