// Reads, writes and trims: the buffer in front of the drain (drain.cpp), and reads from the host.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "crypto/sodium.hpp"
#include "disk/secure_disk.hpp"
#include "util/aligned_buffer.hpp"
#include "util/le.hpp"

namespace jindisk::disk {
namespace {
// Trims look up mapped blocks in windows of this many LBAs, bounding memory per step.
constexpr uint64_t kTrimWindow = 1u << 20;
}  // namespace

std::array<uint8_t, 40> SecureDisk::block_ad(uint64_t lba, uint64_t hba) const {
  // Binds a ciphertext to its place on both sides (and to this disk): a block copied to
  // another HBA, or served for another LBA, fails to open even before its key is considered.
  std::array<uint8_t, 40> ad{};
  std::memcpy(ad.data(), "JDDATA01", 8);
  util::put_u64(ad.data() + 8, lba);
  util::put_u64(ad.data() + 16, hba);
  std::memcpy(ad.data() + 24, header_.uuid.data(), 16);
  return ad;
}

Status SecureDisk::check_writable() const {
  if (closed_) return Status::invalid_argument("disk is closed");
  if (!read_only_) return Status::ok();
  std::lock_guard lock(mu_);
  return Status::read_only("disk is read-only: " + read_only_reason_);
}

Status SecureDisk::read(uint64_t lba, std::span<uint8_t> out) {
  if (closed_) return Status::invalid_argument("disk is closed");
  JD_TRY(check_block_range(header_.logical_blocks, lba, out.size()));
  const size_t n = out.size() / kBlockSize;
  std::shared_lock reclaim(reclaim_mu_);
  std::vector<size_t> misses;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < n; ++i) {
      const Block* b = nullptr;
      if (auto it = buffer_.find(lba + i); it != buffer_.end()) b = it->second.block.get();
      else if (auto jt = draining_.find(lba + i); jt != draining_.end()) b = jt->second.block.get();
      if (b) std::memcpy(out.data() + i * kBlockSize, b->data(), kBlockSize);
      else misses.push_back(i);
    }
  }
  std::vector<uint64_t> lbas;
  std::vector<index::BlockRef> refs;
  std::vector<uint8_t*> outs;
  for (size_t i : misses) {
    JD_ASSIGN_OR_RETURN(auto ref, index_->get(lba + i));
    if (!ref) {
      std::memset(out.data() + i * kBlockSize, 0, kBlockSize);
      continue;
    }
    lbas.push_back(lba + i);
    refs.push_back(*ref);
    outs.push_back(out.data() + i * kBlockSize);
  }
  if (lbas.empty()) return Status::ok();
  return read_from_host(lbas, refs, outs, sequential_reads_.observe(lba, n));
}

Status SecureDisk::read_from_host(std::span<const uint64_t> lbas,
                                  std::span<const index::BlockRef> refs,
                                  std::span<uint8_t* const> outs, bool scan) {
  // Read runs of consecutive host blocks with one call each, then open all blocks in parallel.
  const size_t n = lbas.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return refs[a].hba < refs[b].hba; });
  // Kept per thread: a fresh megabyte per read made every FUSE thread's malloc arena grow.
  // (The pool's threads see their own thread_local, so the lambdas below use `cipher`, a pointer.)
  thread_local std::vector<uint8_t> cipher_buffer;
  cipher_buffer.resize(n * kBlockSize);
  uint8_t* const cipher = cipher_buffer.data();
  std::vector<size_t> slot_of(n);
  const uint32_t sb = header_.segment_blocks;
  std::vector<std::pair<size_t, size_t>> runs;  // (first position in `order`, length)
  for (size_t k = 0; k < order.size();) {
    size_t run = 1;
    while (k + run < order.size() && refs[order[k + run]].hba == refs[order[k]].hba + run &&
           refs[order[k]].hba / sb == refs[order[k + run]].hba / sb) {
      ++run;
    }
    for (size_t j = 0; j < run; ++j) slot_of[order[k + j]] = k + j;
    runs.emplace_back(k, run);
    k += run;
  }
  // Placement is shuffled, so one request is often many scattered host reads: ask for all
  // but the first up front, so that they overlap instead of waiting on the host one by one.
  // A scan will read every block of these segments soon: ask for them whole (large host
  // reads instead of 4 KiB ones).
  if (scan) {
    // Runs are sorted by HBA and never cross a segment: one hint per segment.
    for (size_t r = 0; r < runs.size(); ++r) {
      const uint64_t segment = refs[order[runs[r].first]].hba / sb;
      if (r == 0 || segment != refs[order[runs[r - 1].first]].hba / sb) {
        segments_->prefetch_segment(segment);
      }
    }
  } else {
    for (size_t r = 1; r < runs.size(); ++r) {
      segments_->prefetch(refs[order[runs[r].first]].hba, runs[r].second);
    }
  }
  for (const auto& [k, run] : runs) {
    Status s = segments_->read(refs[order[k]].hba,
                               std::span(cipher + k * kBlockSize, run * kBlockSize));
    if (!s.is_ok()) return s.with_context("read of block " + std::to_string(lbas[order[k]]));
  }
  std::vector<Status> results(n);
  pool_->parallel_for(n, [&](size_t m) {
    const auto ad = block_ad(lbas[m], refs[m].hba);
    results[m] = crypto::open_block(
        header_.cipher, refs[m].key, ad,
        std::span<const uint8_t, kBlockSize>(cipher + slot_of[m] * kBlockSize, kBlockSize),
        refs[m].tag, std::span<uint8_t, kBlockSize>(outs[m], kBlockSize));
  });
  for (size_t m = 0; m < n; ++m) {
    if (!results[m].is_ok()) {
      const std::string what = "block " + std::to_string(lbas[m]) + " (host block " +
                               std::to_string(refs[m].hba) + ") failed authentication";
      warn(what);
      return Status::corruption(what);
    }
  }
  return Status::ok();
}

Status SecureDisk::write(uint64_t lba, std::span<const uint8_t> data) {
  JD_TRY(check_block_range(header_.logical_blocks, lba, data.size()));
  JD_TRY(check_writable());
  const size_t n = data.size() / kBlockSize;
  std::unique_lock lock(mu_);
  auto over = [&] {
    return (buffer_.size() + n) * kBlockSize > options_.write_buffer_bytes && !buffer_.empty();
  };
  while (over()) {
    // A running (or claimed) drain empties the buffer as it takes a further round, or ends.
    if (drain_running_ || drain_claimed_) {
      room_cv_.wait(lock);
      continue;
    }
    // Claimed under mu_, so that the other writers wait for room here rather than queue up on
    // flush_mu_ behind a drain of several rounds. Make room before taking the new data, so
    // that a failed drain (e.g. ENOSPC) refuses this write rather than buffering without bound.
    drain_claimed_ = true;
    lock.unlock();
    const Status drained = [&]() -> Status {
      JD_TRY(check_writable());
      std::lock_guard flush(flush_mu_);
      {
        std::lock_guard relock(mu_);
        if (!over()) return Status::ok();  // a flush's drain may have made room meanwhile
      }
      return drain_locked(/*under_pressure=*/true);
    }();
    lock.lock();
    drain_claimed_ = false;
    room_cv_.notify_all();
    JD_TRY(drained);
    break;
  }
  // close() sets closed_ before its drain takes the buffer (under mu_): data put in after that
  // would be acknowledged and never written.
  if (closed_) return Status::invalid_argument("disk is closed");
  for (size_t i = 0; i < n; ++i) {
    auto it = buffer_.find(lba + i);
    if (it == buffer_.end()) {
      if (spare_nodes_.empty()) {
        it = buffer_.emplace(lba + i, Buffered{std::make_unique<Block>(), 0}).first;
      } else {
        BlockMap::node_type node = std::move(spare_nodes_.back());
        spare_nodes_.pop_back();
        node.key() = lba + i;
        node.mapped().round = 0;
        it = buffer_.insert(std::move(node)).position;
      }
    }
    std::memcpy(it->second.block->data(), data.data() + i * kBlockSize, kBlockSize);
  }
  user_bytes_session_ += data.size();
  return Status::ok();
}

Status SecureDisk::trim(uint64_t lba, uint64_t count) {
  if (count > UINT64_MAX / kBlockSize) return Status::invalid_argument("trim count too large");
  JD_TRY(check_block_range(header_.logical_blocks, lba, count * kBlockSize));
  JD_TRY(check_writable());
  if (count == 0) return Status::ok();
  std::lock_guard flush(flush_mu_);
  {
    std::lock_guard lock(mu_);
    for (auto it = buffer_.begin(); it != buffer_.end();) {
      if (it->first >= lba && it->first - lba < count) it = buffer_.erase(it);
      else ++it;
    }
  }
  for (uint64_t first = lba; first < lba + count; first += kTrimWindow) {
    const uint64_t last = std::min(lba + count, first + kTrimWindow) - 1;
    std::vector<std::pair<uint64_t, uint64_t>> mapped;  // lba, hba
    JD_TRY(index_->scan(first, last, [&](uint64_t l, const index::BlockRef& ref) {
      mapped.emplace_back(l, ref.hba);
      return Status::ok();
    }));
    for (const auto& [l, hba] : mapped) {
      Status s = index_->remove(l);
      alloc_->defer_free(hba);
      --live_blocks_;
      dirty_ = true;
      if (!s.is_ok()) warn("index update during trim: " + s.to_string());
    }
  }
  return Status::ok();
}

}  // namespace jindisk::disk

namespace jindisk::disk {

void SecureDisk::give_back_empty_segments(const std::vector<uint64_t>& segments) {
  // Files of segments that hold no used block: nothing committed or pending refers to them.
  for (uint64_t seg : segments) {
    if (segments_->remove(seg).is_ok()) alloc_->forget_segment(seg);
  }
}

}  // namespace jindisk::disk
