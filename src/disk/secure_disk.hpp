// SecureDisk: the Disk implementation. The whole stack is assembled in open_stack()
// (secure_disk.cpp), top to bottom: host store -> header/master key -> root slots -> anchor ->
// index -> allocator rebuilt from the index -> segment files.
//
// Data path (data_path.cpp): writes land in an in-memory buffer that absorbs rewrites; a
// drain (drain.cpp; under pressure, or at flush) seals every buffered block with a one-time
// key, appends the ciphertext to data segments at freshly allocated host blocks, and records
// LBA -> {HBA, key, tag} in the index. Reads take the buffer first, then the drain's blocks
// not yet in the index, else the index.
// Commit (commit.cpp): DESIGN §4: drain, fdatasync segments while the index prepares its
// commit (WAL + manifest, synced), root slot commit (the single commit point), anchor bump,
// then release the host blocks the commit stopped referencing.
// Cleaning (cleaning.cpp): a background thread empties sparse segments by moving their live
// blocks, one segment per step, and commits the move when no user change is pending.
//
// Locks, always taken in this order when nested:
//   flush_mu_   serialises drains, trims, commits and close (the only index/allocator mutators;
//               a drain's writer and placer threads work for the holder, joined before it ends)
//   reclaim_mu_ shared by reads for their whole lookup+read; exclusive while freed host blocks
//               are released, so a read never sees its block reused under it
//   mu_         the write buffer (buffer_, draining_, drain_running_, drain_claimed_) and the
//               read-only state; held briefly
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/secret_key.hpp"
#include "disk/anchor.hpp"
#include "disk/background_loop.hpp"
#include "disk/block_allocator.hpp"
#include "disk/disk_header.hpp"
#include "disk/segment_files.hpp"
#include "disk/segment_summary.hpp"
#include "disk/sequential_reads.hpp"
#include "disk/space_reserve.hpp"
#include "disk/worker_pool.hpp"
#include "host/store.hpp"
#include "index/lsm_index.hpp"
#include "jindisk/disk.hpp"
#include "log/root_slots.hpp"
#include "util/aligned_buffer.hpp"

namespace jindisk::disk {

constexpr char kRootName[] = "root";
constexpr char kLockName[] = "lock";

class SecureDisk final : public Disk {
 public:
  // Over any host store (tests pass MemoryStore or FaultInjectingStore; they keep ownership).
  static Result<std::unique_ptr<SecureDisk>> create(host::Store& store, const KeySource& key,
                                                    const CreateOptions& create_options,
                                                    const OpenOptions& open_options);
  static Result<std::unique_ptr<SecureDisk>> open(host::Store& store, const KeySource& key,
                                                  const OpenOptions& options);
  // Makes the disk own its store (the public Disk::open over a directory).
  void adopt_store(std::unique_ptr<host::Store> store) { owned_store_ = std::move(store); }

  ~SecureDisk() override;

  uint64_t block_count() const override { return header_.logical_blocks; }
  Status read(uint64_t lba, std::span<uint8_t> out) override;
  Status write(uint64_t lba, std::span<const uint8_t> data) override;
  Status flush() override;
  Status trim(uint64_t lba, uint64_t count) override;

  Result<size_t> read_bytes(uint64_t offset, std::span<uint8_t> out) override;
  Status write_bytes(uint64_t offset, std::span<const uint8_t> data) override;
  Status trim_bytes(uint64_t offset, uint64_t length) override;

  DiskInfo info() const override;
  std::string describe_files() const override;
  Result<CheckReport> check(const std::function<void(uint64_t, uint64_t)>& progress) override;
  Status close() override;

  // One bounded cleaning step (at most one victim segment moved, then committed). True if it
  // did something and more may be wanted. The background cleaner calls it; tests call it
  // directly with OpenOptions::background_cleaning off, and may `force` a step even when host
  // usage is below the cleaning threshold.
  Result<bool> clean_step(bool force = false);

  // Test hooks.
  index::LsmIndex& index_for_tests() { return *index_; }
  uint64_t further_rounds_for_tests() const { return further_rounds_; }
  uint64_t failed_multi_round_drains_for_tests() const { return failed_multi_round_drains_; }
  size_t buffered_blocks_for_tests() const {
    std::lock_guard lock(mu_);
    return buffer_.size();
  }
  // Called by a drain under write pressure, on the draining thread, before it looks at the
  // buffer for a further round (tests make further rounds certain with it). Set it before
  // writing.
  void set_before_further_round_for_tests(std::function<void()> hook) {
    before_further_round_ = std::move(hook);
  }

 private:
  using Block = std::array<uint8_t, kBlockSize>;
  struct Buffered {
    std::unique_ptr<Block> block;
    uint32_t round = 0;  // in draining_: the drain's round that took it (0 in buffer_)
  };
  using BlockMap = std::unordered_map<uint64_t, Buffered>;
  using LbaBlocks = std::vector<std::pair<uint64_t, Block*>>;
  // What one round of a drain seals: blocks taken from the buffer at once, shuffled, and
  // where they go. A drain under write pressure may seal several rounds back to back.
  struct SealRound {
    uint32_t number = 0;
    LbaBlocks blocks;
    std::vector<uint64_t> hbas;
    std::vector<index::BlockRef> refs;
    std::vector<uint8_t> entries;  // segment-summary entries
    uint8_t* cipher = nullptr;     // blocks.size() sealed blocks, page-aligned
    size_t first_chunk = 0, chunks = 0;
    size_t placed = 0;  // blocks [0, placed) are on the host and were handed to placed()
  };
  using PlacedFn = std::function<void(SealRound&, size_t, size_t)>;
  using NextRoundFn = std::function<LbaBlocks()>;

  SecureDisk(host::Store& store, OpenOptions options);
  static Result<std::unique_ptr<SecureDisk>> open_stack(host::Store& store,
                                                        std::unique_ptr<host::DirLock> lock,
                                                        DiskHeader header,
                                                        crypto::SecretKey master,
                                                        const OpenOptions& options,
                                                        bool created);
  // `created`: the disk was made just now, so a missing anchor is expected, not a warning.
  Status check_anchor(const log::RootRecord& root, bool created);
  Status rebuild_allocation();
  void remove_leftovers();

  // Drain (drain.cpp). Requires flush_mu_. `under_pressure`: a writer found the buffer full;
  // then what other writers buffer meanwhile is drained too, as further rounds (at most
  // kMaxDrainRounds), while the earlier rounds' writes finish.
  Status drain_locked(bool under_pressure = false);
  // Moves the buffer's blocks into draining_ as round `round` (requires mu_); returns them.
  LbaBlocks take_buffer_locked(uint32_t round);
  void recycle_locked(BlockMap::node_type node);  // requires mu_
  // Seals `first` under fresh keys and writes it to newly allocated host blocks, then each
  // further round next() returns (until it returns none). As each range [begin, end) of a
  // round is on the host (round.refs filled), calls placed(round, begin, end), in order,
  // while later ranges are still being sealed and written: the caller publishes them there.
  // For a large drain over a store without ordered operations that runs on a placer thread,
  // concurrently with this one, while the caller keeps flush_mu_: it must not take flush_mu_
  // or anything before it. next() runs on this thread. On failure, the host blocks of ranges
  // never placed are given back; `rounds` says what was placed.
  Status seal_and_place(LbaBlocks first, AllocFor purpose, const PlacedFn& placed,
                        const NextRoundFn& next,
                        std::vector<std::unique_ptr<SealRound>>& rounds);
  void give_back_empty_segments(const std::vector<uint64_t>& segments);

  // Removal of emptied segment files (cleaning.cpp). The cleaner's step: removes the files
  // of segments in emptied_ that are still unused, at most kRemovalBatch of them, holding
  // flush_mu_ only to pick them and to forget them. True if it removed or dropped any.
  bool remove_emptied_segments();
  void remove_all_emptied_locked();  // requires flush_mu_ (close)
  std::vector<uint64_t> claim_emptied_locked(bool all, size_t& taken);  // requires flush_mu_
  std::vector<bool> remove_claimed(const std::vector<uint64_t>& claimed);
  void release_claimed_locked(const std::vector<uint64_t>& claimed, const std::vector<bool>& removed);
  // A commit or a failed drain left these segments without a used block: queued for the
  // cleaner, or removed at once when there is none. Requires flush_mu_.
  void note_emptied_locked(const std::vector<uint64_t>& segments);

  // Cleaning (cleaning.cpp). All require flush_mu_.
  bool cleaning_wanted();
  std::optional<uint64_t> pick_victim() const;
  // Moves the victim's live blocks elsewhere (not committed). nullopt: the segment cannot be
  // cleaned (its summary disagrees with the index, or a block failed authentication).
  Result<std::optional<size_t>> move_live_blocks(uint64_t victim);
  bool background_clean();
  // Reads and authenticates block m = LBA lbas[m] at refs[m] into outs[m] (4 KiB each).
  // kCorruption (with a warning) if a block fails authentication. `scan`: part of a sequential
  // scan, so the segments holding these blocks are fetched whole.
  Status read_from_host(std::span<const uint64_t> lbas, std::span<const index::BlockRef> refs,
                        std::span<uint8_t* const> outs, bool scan = false);
  std::array<uint8_t, 40> block_ad(uint64_t lba, uint64_t hba) const;

  // Commit (commit.cpp).
  Status commit_locked();  // requires flush_mu_
  Status check_writable() const;
  bool release_reserve();  // requires flush_mu_
  void set_read_only(const std::string& reason);
  void warn(const std::string& message) const;

  host::Store& store_;
  std::unique_ptr<host::Store> owned_store_;
  OpenOptions options_;
  std::unique_ptr<host::DirLock> lock_;
  DiskHeader header_;
  crypto::SecretKey master_;
  std::unique_ptr<log::RootSlots> roots_;
  std::unique_ptr<Anchor> anchor_;
  std::unique_ptr<index::LsmIndex> index_;
  std::unique_ptr<BlockAllocator> alloc_;
  std::unique_ptr<SegmentFiles> segments_;
  std::unique_ptr<SegmentSummary> summary_;
  std::unique_ptr<SpaceReserve> reserve_;  // under flush_mu_; null when read-only
  std::unique_ptr<WorkerPool> pool_;
  SequentialReads sequential_reads_;

  mutable std::mutex flush_mu_;
  mutable std::shared_mutex reclaim_mu_;
  mutable std::mutex mu_;
  BlockMap buffer_;    // written, not yet drained
  // Taken by a drain and not yet in the index (the newest version of each LBA); still readable.
  BlockMap draining_;
  bool drain_running_ = false;       // a drain is taking rounds from buffer_
  bool drain_claimed_ = false;       // a writer is about to drain (waits for flush_mu_)
  std::condition_variable room_cv_;  // buffer_ emptied by a drain, or the drain ended
  // Map nodes of drained blocks, each with its block, kept for the next writes.
  std::vector<BlockMap::node_type> spare_nodes_;
  // Ciphertext of a drain's rounds, alternately (round r seals while round r-1 is written),
  // or of a cleaning step. Under flush_mu_.
  std::array<util::AlignedBuffer, 2> seal_buffers_;
  std::atomic<uint64_t> further_rounds_{0};  // rounds drains took after their first (session)
  std::atomic<uint64_t> failed_multi_round_drains_{0};  // drains of 2+ rounds that failed
  std::function<void()> before_further_round_;         // test hook
  std::string read_only_reason_;  // under mu_; non-empty = writes refused
  std::atomic<bool> read_only_{false};
  std::atomic<bool> closed_{false};  // set under flush_mu_
  bool dirty_ = false;       // state changed since the last commit (under flush_mu_)

  std::array<std::mutex, 256> stripes_;  // read-modify-write of partial blocks, by lba % 256

  // Committed state and statistics.
  uint64_t epoch_ = 0;
  crypto::Tag root_tag_{};
  uint64_t user_bytes_base_ = 0;  // as recorded in the root at open
  uint64_t host_bytes_base_ = 0;
  std::atomic<uint64_t> user_bytes_session_{0};
  std::atomic<uint64_t> root_writes_{0};
  std::atomic<uint64_t> live_blocks_{0};  // LBAs with a mapping (kept by drains and trims)
  uint64_t host_bytes_session() const;  // segments + index + root slots, since open

  // Segments a commit or a failed drain left empty: their files are removed by the cleaner (or
  // at close) if still unused then. Under flush_mu_.
  std::deque<uint64_t> emptied_;
  // Cleaner state (under flush_mu_) and statistics.
  bool cleaning_active_ = false;     // between the start and stop thresholds
  std::set<uint64_t> unmovable_;     // segments found uncleanable this session
  std::atomic<uint64_t> segments_cleaned_{0};
  std::atomic<uint64_t> blocks_moved_{0};
  std::atomic<uint64_t> cleaner_errors_{0};
  // Last member: destroyed (stopped) before anything its steps touch.
  std::unique_ptr<BackgroundLoop> cleaner_;
};

}  // namespace jindisk::disk
