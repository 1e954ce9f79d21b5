// LsmIndex::Impl: the state behind the public LsmIndex (lsm_index.hpp), shared by
// lsm_index.cpp (open, reads, stats), commit.cpp (the writer path: put, dumps, WAL, manifest,
// commit) and background.cpp (compaction scheduling and installation).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "index/block_cache.hpp"
#include "index/file_names.hpp"
#include "index/lsm_index.hpp"
#include "index/memtable.hpp"
#include "index/version.hpp"

namespace jindisk::index {

struct LsmIndex::Impl {
  Impl(host::Store& s, IndexOptions o) : store(s), options(o), cache(o.block_cache_bytes) {}
  ~Impl();  // stops and joins the compaction thread
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  host::Store& store;
  const IndexOptions options;
  std::atomic<uint64_t> live_hint{UINT64_MAX};  // lbas mapped now, as the owner last said
  BlockCache cache;

  // ---- Shared state. Lock order: compaction_mu, then mu. mu is never held across host I/O,
  // so readers never wait for a disk write.
  mutable std::shared_mutex mu;
  Memtable mem;                            // mutated only by the writer thread, under mu
  std::shared_ptr<const Version> version;  // replaced (never mutated) under mu
  uint64_t last_seq = 0;                   // last Version::seq handed out (under mu)
  std::set<uint64_t> writing;              // ids of files being written and not yet in use
  // Files no longer needed by the in-memory state; each is removed by the first
  // commit_succeeded whose root does not refer to it (a committed root may still need it).
  std::set<std::string> obsolete;

  std::atomic<uint64_t> next_file_id{1};
  std::atomic<uint64_t> compactions{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> wal_blocks{0};

  // ---- Writer-thread state (put/remove/prepare_commit/commit_*/unreferenced_files): the
  // disk layer serialises these calls, so no lock.
  IndexRoot committed;
  uint64_t committed_seq = 0;         // Version::seq the committed manifest describes
  std::set<uint64_t> committed_ssts;  // SST ids the committed manifest lists
  std::optional<log::ChainLog> wal;   // the WAL appends go to (committed or prepared)
  uint64_t wal_id = 0;
  crypto::KeyBytes wal_key{};
  bool wal_rotation_pending = false;  // next prepare_commit starts a new WAL
  log::SealedFileRef manifest;        // newest manifest written (maybe uncommitted)
  uint64_t manifest_seq = 0;          // the Version::seq it describes
  struct Prepared {
    IndexRoot root;
    uint64_t seq = 0;
    std::set<uint64_t> ssts;
  };
  std::optional<Prepared> prepared;

  // ---- Compaction.
  std::mutex compaction_mu;  // one compaction at a time (background thread or compact_now)
  std::mutex bg_mu;          // guards bg_work, doomed, bg_status and the stopping handshake
  std::condition_variable bg_cv;
  bool bg_work = false;
  // Files no state refers to any more, for the background thread to remove (file ids are
  // never reused, so removing them late is safe; a crash leaves them to unreferenced_files).
  std::vector<std::string> doomed;
  Status bg_status;  // the background thread's last result
  std::atomic<bool> stopping{false};
  std::thread bg;

  // lsm_index.cpp
  Status load(const IndexRoot& root);
  Status seed_file_ids(uint64_t at_least);
  Result<NewFile> create_file(FileKind kind);
  std::shared_ptr<const Version> current() const;
  Result<std::optional<BlockRef>> get(uint64_t lba) const;
  Status scan(uint64_t first, uint64_t last,
              const std::function<Status(uint64_t, const BlockRef&)>& visit) const;
  std::vector<std::string> unreferenced_files(const std::vector<std::string>& names) const;
  IndexStats stats() const;

  // commit.cpp
  Status record(uint64_t lba, const BlockRef& ref);
  Status exchange(std::span<const uint64_t> lbas, std::span<const BlockRef> refs,
                  std::vector<Result<std::optional<BlockRef>>>& previous);
  Status dump_memtable();
  Status dump_if_full();  // dump_memtable() once the memtable holds memtable_entries
  Status write_wal();
  Status start_new_wal();
  void abandon_wal();
  void clear_dirty();
  Result<log::SealedFileRef> manifest_for(const Version& v);
  Result<IndexRoot> prepare_commit();
  void commit_succeeded(const IndexRoot& root);
  void commit_failed();
  void retire(std::string name);
  // Whether a file is named by the committed or prepared root or used by the in-memory state.
  // `live_ssts` = live_sst_ids(), taken under mu.
  bool referenced_or_live(FileKind kind, uint64_t id, const std::set<uint64_t>& live_ssts) const;
  std::set<uint64_t> live_sst_ids() const;  // caller holds mu
  void collect_garbage();
  void remove_files(const std::vector<std::string>& names);

  // background.cpp
  void start_background();
  void schedule_compaction();
  void background_loop();
  Result<bool> compact_once();
  Status run_compactions();
  void discard_output(uint64_t id);
};

}  // namespace jindisk::index
