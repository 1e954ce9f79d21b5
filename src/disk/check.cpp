// check(): authenticate everything a read could ever return.
#include "disk/secure_disk.hpp"

namespace jindisk::disk {
namespace {
constexpr size_t kMaxProblems = 100;
}

Result<CheckReport> SecureDisk::check(const std::function<void(uint64_t, uint64_t)>& progress) {
  if (closed_) return Status::invalid_argument("disk is closed");
  CheckReport report;
  // A full scan merges every SST of every level, so every index block is read and verified.
  std::vector<std::pair<uint64_t, index::BlockRef>> live;
  Status scan = index_->scan(0, header_.logical_blocks - 1, [&](uint64_t lba, const index::BlockRef& ref) {
    live.emplace_back(lba, ref);
    return Status::ok();
  });
  if (!scan.is_ok()) {
    if (scan.code() != Code::kCorruption) return scan;
    report.problems.push_back("index: " + scan.message());
  }
  report.live_blocks = live.size();
  std::shared_lock reclaim(reclaim_mu_);
  std::vector<uint8_t> plain(kBlockSize);
  uint8_t* const out[1] = {plain.data()};
  for (size_t i = 0; i < live.size(); ++i) {
    if (progress && i % 4096 == 0) progress(i, live.size());
    Status s = read_from_host(std::span(&live[i].first, 1), std::span(&live[i].second, 1), out);
    if (s.is_ok()) {
      ++report.blocks_verified;
      continue;
    }
    if (s.code() != Code::kCorruption && s.code() != Code::kIoError) return s;
    ++report.damaged_blocks;
    if (report.problems.size() < kMaxProblems) report.problems.push_back(s.message());
  }
  if (progress) progress(live.size(), live.size());
  return report;
}

}  // namespace jindisk::disk
