#include "disk/space_reserve.hpp"

#include <algorithm>
#include <vector>

namespace jindisk::disk {

void SpaceReserve::refill() {
  if (bytes_ == 0 || full()) return;
  auto file = store_.open(kReserveName, host::OpenMode::kCreateOrOpen);
  if (!file.is_ok()) return;
  if (!checked_) {
    auto size = (*file)->size();
    if (!size.is_ok()) return;
    held_ = *size;
    checked_ = true;
    if (full()) return;
  }
  const std::vector<uint8_t> zeros(std::min<uint64_t>(bytes_, 1u << 20), 0);
  const uint64_t before = held_;
  while (held_ < bytes_) {
    const uint64_t n = std::min<uint64_t>(zeros.size(), bytes_ - held_);
    if (!(*file)->write_at(held_, std::span(zeros.data(), n)).is_ok()) break;
    held_ += n;
  }
  if (held_ != before && (*file)->sync().is_ok() && before == 0) (void)store_.sync_dir();
}

bool SpaceReserve::release() {
  if (checked_ && held_ == 0) return false;
  const Status s = store_.remove(kReserveName);
  const bool had = s.is_ok() && (held_ > 0 || !checked_);
  held_ = 0;
  checked_ = true;
  return had;
}

}  // namespace jindisk::disk
