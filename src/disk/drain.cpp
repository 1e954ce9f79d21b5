// The drain: buffered blocks sealed under one-time keys, written to newly allocated host
// blocks and entered in the index, as a pipeline of 1 MiB chunks (docs/design.md,
// "Concurrency"). The cleaner moves blocks through the same pipeline.
#include <algorithm>
#include <condition_variable>
#include <optional>
#include <thread>

#include "crypto/shuffle.hpp"
#include "crypto/sodium.hpp"
#include "disk/secure_disk.hpp"

namespace jindisk::disk {
namespace {
// A drain larger than this many blocks (1 MiB) seals, writes and places chunks of it, overlapped.
constexpr size_t kPipelineBlocks = 256;
// A drain under write pressure takes what writers buffered while it sealed as a further round
// when that is at least half a buffer, at most this many rounds in all: flush_mu_ is held
// throughout, so a flush waits for them.
constexpr uint32_t kMaxDrainRounds = 4;
}  // namespace

void SecureDisk::recycle_locked(BlockMap::node_type node) {
  // A drained block's map node and its 4 KiB serve the next write of a new LBA: allocating and
  // freeing both per block (with glibc consolidating its small free chunks whenever a block
  // was allocated) was about a tenth of the daemon's time in sequential writes. Up to two
  // buffers' worth: a drain of several rounds holds that many blocks at once, and keeping
  // fewer only moved the churn to the allocator.
  if (node && node.mapped().block &&
      spare_nodes_.size() < 2 * options_.write_buffer_bytes / kBlockSize) {
    spare_nodes_.push_back(std::move(node));
  }
}

SecureDisk::LbaBlocks SecureDisk::take_buffer_locked(uint32_t round) {
  LbaBlocks blocks;
  blocks.reserve(buffer_.size());
  if (draining_.empty()) {
    draining_.swap(buffer_);
    for (auto& [lba, b] : draining_) {
      b.round = round;
      blocks.emplace_back(lba, b.block.get());
    }
    return blocks;
  }
  for (auto it = buffer_.begin(); it != buffer_.end();) {
    BlockMap::node_type node = buffer_.extract(it++);
    node.mapped().round = round;
    if (auto older = draining_.find(node.key()); older != draining_.end()) {
      // An older version still waiting for its place is sealed already: only the newest is read.
      std::swap(older->second, node.mapped());
      blocks.emplace_back(older->first, older->second.block.get());
      recycle_locked(std::move(node));
    } else {
      blocks.emplace_back(node.key(), node.mapped().block.get());
      draining_.insert(std::move(node));
    }
  }
  return blocks;
}

Status SecureDisk::drain_locked(bool under_pressure) {
  LbaBlocks first;
  {
    std::lock_guard lock(mu_);
    if (buffer_.empty()) return Status::ok();
    first = take_buffer_locked(0);
    drain_running_ = true;
  }
  room_cv_.notify_all();
  // Host placement must not mirror logical order (JinDisk laid blocks out in LBA order).
  crypto::random_shuffle(std::span(first));
  uint32_t rounds_taken = 1;
  auto next = [&]() -> LbaBlocks {
    if (!under_pressure || rounds_taken >= kMaxDrainRounds) return {};
    if (before_further_round_) before_further_round_();
    LbaBlocks blocks;
    {
      std::lock_guard lock(mu_);
      if (buffer_.size() * kBlockSize < options_.write_buffer_bytes / 2) return {};
      blocks = take_buffer_locked(rounds_taken);
    }
    room_cv_.notify_all();
    crypto::random_shuffle(std::span(blocks));
    ++rounds_taken;
    ++further_rounds_;
    return blocks;
  };

  Status index_status;
  bool published = false;
  std::vector<uint64_t> lbas;
  std::vector<Result<std::optional<index::BlockRef>>> previous;
  // Readers find these blocks in draining_ until they are in the index, so publishing each
  // range as soon as it is on the host (while later ranges are written) is safe.
  auto publish = [&](SealRound& round, size_t begin, size_t end) {
    lbas.clear();
    for (size_t i = begin; i < end; ++i) lbas.push_back(round.blocks[i].first);
    Status put = index_->exchange(lbas, std::span(round.refs).subspan(begin, end - begin), previous);
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
    published = true;
    // Now readers find them through the index, unless a later round holds a newer version.
    std::lock_guard lock(mu_);
    for (uint64_t lba : lbas) {
      auto it = draining_.find(lba);
      if (it != draining_.end() && it->second.round == round.number) {
        recycle_locked(draining_.extract(it));
      }
    }
  };
  std::vector<std::unique_ptr<SealRound>> rounds;
  Status s = seal_and_place(std::move(first), AllocFor::kUser, publish, next, rounds);
  if (!s.is_ok() && rounds.size() > 1) ++failed_multi_round_drains_;
  {
    std::lock_guard lock(mu_);
    // What is left was never placed: back to the buffer, where newer writes win.
    while (!draining_.empty()) {
      BlockMap::node_type node = draining_.extract(draining_.begin());
      if (buffer_.contains(node.key())) {
        recycle_locked(std::move(node));
      } else {
        node.mapped().round = 0;
        buffer_.insert(std::move(node));
      }
    }
    drain_running_ = false;
  }
  room_cv_.notify_all();
  if (published) dirty_ = true;
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

Status SecureDisk::seal_and_place(LbaBlocks first, AllocFor purpose, const PlacedFn& placed,
                                  const NextRoundFn& next,
                                  std::vector<std::unique_ptr<SealRound>>& rounds) {
  rounds.clear();
  constexpr size_t kSalt = SegmentSummary::kSaltSize;
  constexpr size_t kEntry = SegmentSummary::kEntrySize;
  const uint32_t sb = header_.segment_blocks;

  // Allocates a round's host blocks and draws its keys and salts.
  std::vector<crypto::KeyBytes> keys;
  std::vector<uint8_t> salts;
  auto start_round = [&](LbaBlocks blocks) -> SealRound& {
    auto round = std::make_unique<SealRound>();
    round->number = static_cast<uint32_t>(rounds.size());
    round->blocks = std::move(blocks);
    const size_t n = round->blocks.size();
    round->hbas = alloc_->allocate(n, purpose);
    round->refs.assign(n, {});
    round->entries.resize(n * kEntry);
    keys.resize(n);
    crypto::random_keys(keys);
    // One getrandom for all summary salts: one per block was ~3% of a write-heavy profile.
    salts.resize(n * kSalt);
    crypto::random_bulk(salts);
    round->chunks = (n + kPipelineBlocks - 1) / kPipelineBlocks;
    round->first_chunk = rounds.empty() ? 0 : rounds.back()->first_chunk + rounds.back()->chunks;
    rounds.push_back(std::move(round));
    return *rounds.back();
  };
  // The ciphertext buffer is set only once the round's turn has come (see below).
  auto set_cipher = [&](SealRound& round) {
    util::AlignedBuffer& cipher = seal_buffers_[round.number % 2];  // page-aligned: O_DIRECT
    cipher.reset(round.blocks.size() * kBlockSize);
    round.cipher = cipher.data();
  };
  auto seal_range = [&](SealRound& r, size_t begin, size_t end) {
    pool_->parallel_for(end - begin, [&](size_t k) {
      const size_t i = begin + k;
      summary_->encode(r.hbas[i], r.blocks[i].first,
                       std::span<const uint8_t, kSalt>(salts.data() + i * kSalt, kSalt),
                       std::span<uint8_t, kEntry>(r.entries.data() + i * kEntry, kEntry));
      r.refs[i].hba = r.hbas[i];
      r.refs[i].key = keys[i];
      const auto ad = block_ad(r.blocks[i].first, r.hbas[i]);
      crypto::seal_block(header_.cipher, r.refs[i].key, ad,
                         std::span<const uint8_t, kBlockSize>(r.blocks[i].second->data(), kBlockSize),
                         std::span<uint8_t, kBlockSize>(r.cipher + i * kBlockSize, kBlockSize),
                         r.refs[i].tag);
    });
  };
  // Writes [begin, end) with one call per run of consecutive host blocks of one segment.
  auto write_range = [&](const SealRound& r, size_t begin, size_t end) -> Status {
    for (size_t i = begin; i < end;) {
      size_t run = 1;
      while (i + run < end && r.hbas[i + run] == r.hbas[i] + run && r.hbas[i] / sb == r.hbas[i + run] / sb) ++run;
      JD_TRY(segments_->write(r.hbas[i], std::span(r.cipher + i * kBlockSize, run * kBlockSize),
                              std::span(r.entries.data() + i * kEntry, run * kEntry)));
      i += run;
    }
    return Status::ok();
  };
  auto give_back = [&](const Status& s) {
    // Chunks written but not placed cannot exist: placing stops only at the failed chunk.
    for (const auto& r : rounds) {
      note_emptied_locked(alloc_->unallocate(std::span(r->hbas).subspan(r->placed)));
    }
    if (s.code() == Code::kNoSpace) give_back_empty_segments(alloc_->note_no_space());
  };

  if (first.size() <= kPipelineBlocks) {
    // Small (a flush after a few writes): no threads, one round.
    SealRound& r = start_round(std::move(first));
    set_cipher(r);
    seal_range(r, 0, r.blocks.size());
    Status s = write_range(r, 0, r.blocks.size());
    if (s.is_ok()) {
      placed(r, 0, r.blocks.size());
      r.placed = r.blocks.size();
    } else {
      give_back(s);
    }
    return s;
  }

  // A drain is three stages: this thread seals chunk c+1 while a writer thread writes chunk c
  // and a placer thread places chunk c-1 (tuning.md, round 6). Rounds follow each other in
  // the same stages, so the next round is sealed while the last one's writes finish (round 7).
  // Chunks are written in order and cut at fixed places, so the host sees one sequence of
  // writes. A store that wants its operations in a fixed order (the crash tests replay them)
  // gets the placing after the last write instead: placing may dump the memtable, which
  // writes host files too.
  struct Chunk {
    SealRound* round;
    size_t begin, end;
  };
  const bool concurrent_placing = !store_.wants_ordered_operations();
  std::mutex m;
  std::condition_variable sealed_cv, written_cv;
  // Under m:
  std::vector<Chunk> chunks;            // every chunk of the rounds started, in order
  std::vector<SealRound*> to_prepare;   // rounds whose segment files the placer opens
  size_t sealed = 0;                    // chunks ready to write
  size_t written = 0;                   // chunks on the host
  bool sealing_done = false, writer_done = false, failed = false;
  Status s;

  auto write_chunks = [&] {
    for (size_t c = 0;; ++c) {
      Chunk chunk;
      {
        std::unique_lock lock(m);
        sealed_cv.wait(lock, [&] { return sealed > c || sealing_done; });
        if (sealed <= c) break;
        chunk = chunks[c];
      }
      Status w = write_range(*chunk.round, chunk.begin, chunk.end);
      std::lock_guard lock(m);
      if (!w.is_ok()) {
        s = std::move(w);
        failed = true;
        break;
      }
      written = c + 1;
      written_cv.notify_all();
    }
    std::lock_guard lock(m);
    writer_done = true;
    written_cv.notify_all();
  };
  // Opens and preallocates the round's segment files, up to the last slot it writes in each.
  auto prepare_segments = [&](const SealRound& r) {
    std::vector<std::pair<uint64_t, uint32_t>> extents;  // segment, end slot; first use order
    std::unordered_map<uint64_t, size_t> extent_of;     // segment -> position in extents
    for (uint64_t hba : r.hbas) {
      const uint32_t end = static_cast<uint32_t>(hba % sb) + 1;
      auto [it, fresh] = extent_of.try_emplace(hba / sb, extents.size());
      if (fresh) extents.emplace_back(hba / sb, end);
      else extents[it->second].second = std::max(extents[it->second].second, end);
    }
    // An error here recurs in the write.
    for (const auto& [segment, end] : extents) (void)segments_->prepare_for_write(segment, end);
  };
  auto place_chunks = [&] {
    for (size_t c = 0;;) {
      std::vector<SealRound*> prepare;
      std::optional<Chunk> chunk;
      {
        std::unique_lock lock(m);
        written_cv.wait(lock, [&] {
          return written > c || writer_done || (!to_prepare.empty() && !failed);
        });
        if (written > c) {
          chunk = chunks[c];
        } else if (!to_prepare.empty() && !failed) {
          prepare.swap(to_prepare);
        } else {
          return;
        }
      }
      // The writer needs a round's files only after the chunks before it: prepare first.
      for (const SealRound* r : prepare) prepare_segments(*r);
      if (chunk) {
        placed(*chunk->round, chunk->begin, chunk->end);
        chunk->round->placed = chunk->end;
        ++c;
      }
    }
  };

  std::jthread writer(write_chunks);
  std::jthread placer;
  if (concurrent_placing) placer = std::jthread(place_chunks);
  for (LbaBlocks blocks = std::move(first); !blocks.empty();) {
    SealRound& r = start_round(std::move(blocks));
    {
      // Round r seals into the buffer round r-2 was written from.
      std::unique_lock lock(m);
      if (r.number >= 2) {
        const SealRound& older = *rounds[r.number - 2];
        written_cv.wait(lock, [&] { return written >= older.first_chunk + older.chunks || failed; });
      }
      if (failed) break;
      set_cipher(r);
      for (size_t k = 0; k < r.chunks; ++k) {
        chunks.push_back(Chunk{&r, k * kPipelineBlocks, std::min(r.blocks.size(), (k + 1) * kPipelineBlocks)});
      }
      if (concurrent_placing) to_prepare.push_back(&r);
    }
    written_cv.notify_all();
    bool stop = false;
    for (size_t k = 0; k < r.chunks && !stop; ++k) {
      const Chunk chunk = chunks[r.first_chunk + k];  // appended by this thread only
      seal_range(r, chunk.begin, chunk.end);
      std::lock_guard lock(m);
      sealed = r.first_chunk + k + 1;
      stop = failed;
      sealed_cv.notify_one();
    }
    if (stop) break;
    blocks = next ? next() : LbaBlocks{};
  }
  {
    std::lock_guard lock(m);
    sealing_done = true;
  }
  sealed_cv.notify_one();
  writer.join();
  if (concurrent_placing) {
    placer.join();
  } else {
    place_chunks();
  }
  if (!s.is_ok()) give_back(s);
  return s;
}

}  // namespace jindisk::disk
