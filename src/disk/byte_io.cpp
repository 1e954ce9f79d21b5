// Byte-granular I/O on top of the block interface, for the FUSE adapter. Whole blocks pass
// straight through; a partial block is read, patched and written back while holding its
// stripe lock, so two partial writes into one block never lose each other's bytes.
#include <algorithm>
#include <cstring>

#include "disk/secure_disk.hpp"

namespace jindisk::disk {

Result<size_t> SecureDisk::read_bytes(uint64_t offset, std::span<uint8_t> out) {
  const uint64_t size = header_.logical_blocks * kBlockSize;
  if (offset >= size || out.empty()) return size_t{0};
  const size_t len = static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (offset + len - 1) / kBlockSize;
  if (offset % kBlockSize == 0 && len % kBlockSize == 0) {
    JD_TRY(read(first, out.first(len)));
    return len;
  }
  std::vector<uint8_t> buf((last - first + 1) * kBlockSize);
  JD_TRY(read(first, buf));
  std::memcpy(out.data(), buf.data() + offset % kBlockSize, len);
  return len;
}

Status SecureDisk::write_bytes(uint64_t offset, std::span<const uint8_t> data) {
  const uint64_t size = header_.logical_blocks * kBlockSize;
  if (offset > size || data.size() > size - offset) {
    return Status::invalid_argument("write past the end of the disk");
  }
  if (data.empty()) return Status::ok();
  JD_TRY(check_writable());
  const uint64_t end = offset + data.size();
  const uint64_t head_pad = offset % kBlockSize;
  const uint64_t tail_pad = end % kBlockSize;
  if (head_pad == 0 && tail_pad == 0) return write(offset / kBlockSize, data);

  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (end - 1) / kBlockSize;
  // Lock the stripes of the partial edge blocks (at most two), lowest first.
  std::vector<size_t> locks;
  if (head_pad != 0) locks.push_back(first % stripes_.size());
  if (tail_pad != 0) locks.push_back(last % stripes_.size());
  std::sort(locks.begin(), locks.end());
  locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
  for (size_t l : locks) stripes_[l].lock();
  std::vector<uint8_t> buf((last - first + 1) * kBlockSize);
  Status s;
  if (head_pad != 0) s = read(first, std::span(buf.data(), kBlockSize));
  if (s.is_ok() && tail_pad != 0 && (last != first || head_pad == 0)) {
    s = read(last, std::span(buf.data() + (last - first) * kBlockSize, kBlockSize));
  }
  if (s.is_ok()) {
    std::memcpy(buf.data() + head_pad, data.data(), data.size());
    s = write(first, buf);
  }
  for (auto it = locks.rbegin(); it != locks.rend(); ++it) stripes_[*it].unlock();
  return s;
}

Status SecureDisk::trim_bytes(uint64_t offset, uint64_t length) {
  const uint64_t size = header_.logical_blocks * kBlockSize;
  if (offset > size || length > size - offset) {
    return Status::invalid_argument("trim past the end of the disk");
  }
  if (length == 0) return Status::ok();
  const uint64_t end = offset + length;
  const uint64_t first_whole = (offset + kBlockSize - 1) / kBlockSize;
  const uint64_t end_whole = end / kBlockSize;
  if (first_whole >= end_whole) {  // no whole block: zero the bytes
    std::vector<uint8_t> zeros(length, 0);
    return write_bytes(offset, zeros);
  }
  if (offset % kBlockSize != 0) {
    std::vector<uint8_t> zeros(first_whole * kBlockSize - offset, 0);
    JD_TRY(write_bytes(offset, zeros));
  }
  if (end % kBlockSize != 0) {
    std::vector<uint8_t> zeros(end - end_whole * kBlockSize, 0);
    JD_TRY(write_bytes(end_whole * kBlockSize, zeros));
  }
  return trim(first_whole, end_whole - first_whole);
}

}  // namespace jindisk::disk
