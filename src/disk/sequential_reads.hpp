// Recognises reads that continue a sequential scan of the disk. A drain shuffles its blocks
// over a few segments, so a scan reads those segments whole, 4 KiB at a time in random order;
// once a scan is recognised, the data path asks the host for whole segments instead.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

namespace jindisk::disk {

class SequentialReads {
 public:
  // Reads shorter than this are never taken for a scan (4K random reads must not pull in
  // whole segments).
  static constexpr uint64_t kMinBlocks = 32;
  // A read continues a scan if it starts this close to where one of the last kStreams reads
  // ended: requests in flight at a queue depth arrive slightly out of order.
  static constexpr uint64_t kNearBlocks = 1024;
  static constexpr size_t kStreams = 8;

  // Records a read of [lba, lba + blocks). True if it is the second or later read in a row
  // to continue the same stream.
  bool observe(uint64_t lba, uint64_t blocks);

 private:
  struct Stream {
    uint64_t end = 0;
    uint32_t continued = 0;  // reads in a row that continued this stream
    bool used = false;
  };
  std::mutex mu_;
  std::array<Stream, kStreams> streams_{};
  size_t next_ = 0;  // stream replaced by the next read that continues none
};

}  // namespace jindisk::disk
