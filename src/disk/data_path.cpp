// Reads, writes, trims and the drain that turns buffered blocks into sealed host blocks.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <numeric>
#include <thread>

#include "crypto/shuffle.hpp"
#include "crypto/sodium.hpp"
#include "disk/secure_disk.hpp"
#include "util/aligned_buffer.hpp"
#include "util/le.hpp"

namespace jindisk::disk {
namespace {
// Trims look up mapped blocks in windows of this many LBAs, bounding memory per step.
constexpr uint64_t kTrimWindow = 1u << 20;
// A drain larger than this many blocks (1 MiB) seals, writes and places chunks of it, overlapped.
constexpr size_t kPipelineBlocks = 256;
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
      if (auto it = buffer_.find(lba + i); it != buffer_.end()) b = it->second.get();
      else if (auto jt = draining_.find(lba + i); jt != draining_.end()) b = jt->second.get();
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
  bool over;
  {
    std::lock_guard lock(mu_);
    over = (buffer_.size() + n) * kBlockSize > options_.write_buffer_bytes && !buffer_.empty();
  }
  if (over) {
    // Make room before taking the new data, so that a failed drain (e.g. ENOSPC) refuses this
    // write rather than buffering without bound.
    std::lock_guard flush(flush_mu_);
    JD_TRY(drain_locked());
  }
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < n; ++i) {
    auto& slot = buffer_[lba + i];
    if (!slot) {
      if (spare_blocks_.empty()) {
        slot = std::make_unique<Block>();
      } else {
        slot = std::move(spare_blocks_.back());
        spare_blocks_.pop_back();
      }
    }
    std::memcpy(slot->data(), data.data() + i * kBlockSize, kBlockSize);
  }
  user_bytes_session_ += data.size();
  return Status::ok();
}

Status SecureDisk::drain_locked() {
  std::vector<std::pair<uint64_t, Block*>> blocks;
  {
    std::lock_guard lock(mu_);
    if (buffer_.empty()) return Status::ok();
    draining_.swap(buffer_);
    blocks.reserve(draining_.size());
    for (auto& [lba, b] : draining_) blocks.emplace_back(lba, b.get());
  }
  // Host placement must not mirror logical order (JinDisk laid blocks out in LBA order).
  crypto::random_shuffle(std::span(blocks));
  std::vector<index::BlockRef> refs;
  Status index_status;
  size_t published = 0;  // blocks [0, published) are in the index
  // Readers find these blocks in draining_ until the end of the drain, so publishing each
  // range as soon as it is on the host (while later ranges are written) is safe.
  std::vector<uint64_t> lbas;
  std::vector<Result<std::optional<index::BlockRef>>> previous;
  auto publish = [&](size_t begin, size_t end) {
    lbas.clear();
    for (size_t i = begin; i < end; ++i) lbas.push_back(blocks[i].first);
    Status put = index_->exchange(lbas, std::span(refs).subspan(begin, end - begin), previous);
    if (!put.is_ok() && index_status.is_ok()) index_status = put;  // entries are in the memtable
    for (auto& old : previous) {
      if (!old.is_ok()) {
        // The old block cannot be freed without knowing it; keeping it used only wastes space.
        if (index_status.is_ok()) index_status = old.status();
      } else if (*old) {
        alloc_->defer_free((*old)->hba);
      } else {
        ++live_blocks_;
      }
    }
    published = end;
  };
  Status s = seal_and_place(blocks, refs, AllocFor::kUser, publish);
  {
    std::lock_guard lock(mu_);
    // Blocks not placed go back to the buffer (newer writes win). The buffers of placed
    // blocks are kept for the next writes: allocating (and faulting in) 4 KiB per write was a
    // visible share of the write path.
    for (size_t i = published; i < blocks.size(); ++i) {
      auto it = draining_.find(blocks[i].first);
      buffer_.try_emplace(it->first, std::move(it->second));
    }
    const size_t keep = options_.write_buffer_bytes / kBlockSize;
    for (auto& [lba, b] : draining_) {
      if (spare_blocks_.size() >= keep) break;
      if (b) spare_blocks_.push_back(std::move(b));
    }
    draining_.clear();
  }
  if (published > 0) dirty_ = true;
  if (!index_status.is_ok()) {
    // The entries are in the memtable, so nothing is lost in memory; but a failed index write
    // or sync leaves the host state unknown, so only a full host may be retried.
    if (index_status.code() != Code::kNoSpace) {
      set_read_only("writing the index failed: " + index_status.to_string());
    }
    return index_status;
  }
  return s;
}

Status SecureDisk::seal_and_place(std::vector<std::pair<uint64_t, Block*>>& blocks,
                                  std::vector<index::BlockRef>& refs, AllocFor purpose,
                                  const std::function<void(size_t, size_t)>& placed) {
  const size_t n = blocks.size();
  const std::vector<uint64_t> hbas = alloc_->allocate(n, purpose);
  refs.assign(n, {});
  util::AlignedBuffer& cipher = seal_buffer_;  // page-aligned: written with O_DIRECT
  cipher.reset(n * kBlockSize);
  std::vector<uint8_t> entries(n * SegmentSummary::kEntrySize);
  std::vector<crypto::KeyBytes> keys(n);
  crypto::random_keys(keys);
  // One getrandom for all summary salts: one per block was ~3% of a write-heavy profile.
  constexpr size_t kSalt = SegmentSummary::kSaltSize;
  std::vector<uint8_t> salts(n * kSalt);
  crypto::random_bulk(salts);

  auto seal_range = [&](size_t begin, size_t end) {
    pool_->parallel_for(end - begin, [&](size_t k) {
      const size_t i = begin + k;
      summary_->encode(hbas[i], blocks[i].first,
                       std::span<const uint8_t, kSalt>(salts.data() + i * kSalt, kSalt),
                       std::span<uint8_t, SegmentSummary::kEntrySize>(
                           entries.data() + i * SegmentSummary::kEntrySize, SegmentSummary::kEntrySize));
      refs[i].hba = hbas[i];
      refs[i].key = keys[i];
      const auto ad = block_ad(blocks[i].first, hbas[i]);
      crypto::seal_block(header_.cipher, refs[i].key, ad,
                         std::span<const uint8_t, kBlockSize>(blocks[i].second->data(), kBlockSize),
                         std::span<uint8_t, kBlockSize>(cipher.data() + i * kBlockSize, kBlockSize),
                         refs[i].tag);
    });
  };
  // Writes [begin, end) with one call per run of consecutive host blocks of one segment.
  auto write_range = [&](size_t begin, size_t end) -> Status {
    const uint32_t sb = header_.segment_blocks;
    for (size_t i = begin; i < end;) {
      size_t run = 1;
      while (i + run < end && hbas[i + run] == hbas[i] + run && hbas[i] / sb == hbas[i + run] / sb) ++run;
      JD_TRY(segments_->write(
          hbas[i], std::span(cipher.data() + i * kBlockSize, run * kBlockSize),
          std::span(entries.data() + i * SegmentSummary::kEntrySize, run * SegmentSummary::kEntrySize)));
      i += run;
    }
    return Status::ok();
  };

  Status s;
  size_t done = 0;  // blocks [0, done) are on the host and placed
  if (n <= kPipelineBlocks) {
    seal_range(0, n);
    s = write_range(0, n);
    if (s.is_ok()) {
      placed(0, n);
      done = n;
    }
  } else {
    // A drain is three stages: this thread seals chunk c+1 while a writer thread writes chunk
    // c and a placer thread places chunk c-1. In a 15 MiB drain of a sequential write they
    // took 17-18, 18-20 and 6.5 ms (tuning.md round 6); placing used to follow the writes.
    // Chunks are written in order and cut at fixed places, so the host sees one sequence of
    // writes. A store that wants its operations in a fixed order (the crash tests
    // replay them) gets the placing after the last write instead: placing may dump the
    // memtable, which writes host files too.
    const size_t chunks = (n + kPipelineBlocks - 1) / kPipelineBlocks;
    auto chunk_end = [&](size_t c) { return std::min(n, (c + 1) * kPipelineBlocks); };
    const bool concurrent_placing = !store_.wants_ordered_operations();
    std::mutex m;
    std::condition_variable sealed_cv, written_cv;
    size_t sealed = 0;   // chunks ready to write
    size_t written = 0;  // chunks on the host
    bool failed = false;
    auto write_chunks = [&] {
      for (size_t c = 0; c < chunks; ++c) {
        {
          std::unique_lock lock(m);
          sealed_cv.wait(lock, [&] { return sealed > c; });
        }
        Status w = write_range(c * kPipelineBlocks, chunk_end(c));
        const bool ok = w.is_ok();
        {
          std::lock_guard lock(m);
          if (ok) {
            written = c + 1;
          } else {
            s = std::move(w);
            failed = true;
          }
        }
        written_cv.notify_one();
        if (!ok) return;
      }
    };
    auto place_chunks = [&] {
      for (size_t c = 0; c < chunks; ++c) {
        {
          std::unique_lock lock(m);
          written_cv.wait(lock, [&] { return written > c || failed; });
          if (written <= c) return;
        }
        placed(c * kPipelineBlocks, chunk_end(c));
        done = chunk_end(c);
      }
    };
    std::jthread writer(write_chunks);
    std::jthread placer;
    if (concurrent_placing) {
      placer = std::jthread([&] {
        // Nothing to place before the first chunk is on the host: meanwhile open and
        // preallocate the drain's segment files, off the writer's path. An error here recurs
        // in the write.
        const uint32_t sb = header_.segment_blocks;
        std::vector<std::pair<uint64_t, uint32_t>> extents;  // segment, end slot; first use order
        std::unordered_map<uint64_t, size_t> extent_of;     // segment -> position in extents
        for (uint64_t hba : hbas) {
          const uint32_t end = static_cast<uint32_t>(hba % sb) + 1;
          auto [it, fresh] = extent_of.try_emplace(hba / sb, extents.size());
          if (fresh) extents.emplace_back(hba / sb, end);
          else extents[it->second].second = std::max(extents[it->second].second, end);
        }
        for (const auto& [segment, end] : extents) (void)segments_->prepare_for_write(segment, end);
        place_chunks();
      });
    }
    for (size_t c = 0; c < chunks; ++c) {
      {
        std::lock_guard lock(m);
        if (failed) break;
      }
      seal_range(c * kPipelineBlocks, chunk_end(c));
      {
        std::lock_guard lock(m);
        sealed = c + 1;
      }
      sealed_cv.notify_one();
    }
    writer.join();
    if (concurrent_placing) {
      placer.join();
    } else {
      place_chunks();
    }
  }
  if (!s.is_ok()) {
    // Chunks written but not placed cannot exist: placing stops only at the failed chunk.
    alloc_->unallocate(std::span(hbas).subspan(done));
    if (s.code() == Code::kNoSpace) give_back_empty_segments(alloc_->note_no_space());
  }
  return s;
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
