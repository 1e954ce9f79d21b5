// The block-device contract every disk in this project implements: the in-memory reference
// disk (MemoryDisk) and the secure disk (SecureDisk). One conformance suite
// (tests/conformance/block_device_suite.hpp) is written against this interface and run against
// each implementation.
#pragma once

#include <cstdint>
#include <span>

#include "jindisk/status.hpp"

namespace jindisk {

constexpr uint32_t kBlockSize = 4096;

class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  // Number of 4 KiB logical blocks; fixed for the life of the device.
  virtual uint64_t block_count() const = 0;

  // Reads out.size() / 4096 blocks starting at lba into out. Blocks never written, or trimmed
  // since their last write, read as zeros.
  // Requires: out.size() is a multiple of 4096 and [lba, lba + blocks) lies inside the device,
  // else kInvalidArgument (and out is untouched). A block that fails verification makes the
  // whole call fail with kCorruption; a failed host read gives kIoError.
  virtual Status read(uint64_t lba, std::span<uint8_t> out) = 0;

  // Writes data.size() / 4096 blocks starting at lba. Same requirements as read(). On return
  // the data is visible to every later read, but durable only after a later flush() returns
  // OK. kReadOnly if the device refuses writes (read-only open, or after a failed host sync).
  virtual Status write(uint64_t lba, std::span<const uint8_t> data) = 0;

  // Makes every write and trim that returned before this call durable, atomically: after a
  // crash the device holds exactly the state of some completed flush (never a mix of two).
  virtual Status flush() = 0;

  // Discards count blocks from lba: they read as zeros from now on (durably after flush).
  // The range must lie inside the device (kInvalidArgument otherwise); count 0 is a no-op.
  virtual Status trim(uint64_t lba, uint64_t count) = 0;

  // Thread-safety: read, write and trim may be called concurrently from several threads. When
  // two writes (or a write and a trim) to the same block overlap in time, the block ends up
  // holding one of them whole, never a mix within a block. flush may be called concurrently
  // with the others; it covers at least everything that returned before it was called.
};

// Checks the requirements shared by read/write (size a multiple of 4096, range inside a
// device of `blocks` blocks, no overflow). kInvalidArgument with a message otherwise.
Status check_block_range(uint64_t device_blocks, uint64_t lba, uint64_t byte_size);

}  // namespace jindisk
