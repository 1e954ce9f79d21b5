// The index layer: an LSM tree mapping LBA -> BlockRef {HBA, one-time key, tag}.
//
// State = sorted files (SSTs, sealed write-once files in levels) overlaid by the memtable, newest
// wins. Durability comes only through the disk layer's commit:
//   1. prepare_commit() writes what the memtable gained since the last commit as records in the
//      WAL (a chained log), or starts a new WAL when the memtable was dumped into an SST since
//      the last commit; writes a new manifest (a sealed file listing the SSTs) when the SST set
//      changed; fdatasyncs all of it; and returns the IndexRoot the commit must record.
//   2. the disk layer writes its root record (the single commit point);
//   3. commit_succeeded(root) makes that root current and removes files no committed state
//      refers to any more. If the root write fails, commit_failed() keeps the previous state
//      (its files are untouched; a retry writes again).
// Nothing the index writes between commits (dumped SSTs, compaction output, WAL blocks past the
// committed position, new manifests) is reachable from a committed root until step 2; recovery
// deletes such files (see unreferenced_files()).
//
// Host files: "wal-<16 hex>", "sst-<16 hex>", "man-<16 hex>". File ids come from a counter
// persisted in IndexRoot and never repeat.
//
// Thread-safety: get/scan may run concurrently with each other and with put/remove/compaction.
// put/exchange/remove/prepare_commit/commit_* are called by one thread at a time (the disk
// layer holds its flush lock; a drain's placer thread calls exchange on the holder's behalf
// while the holder makes no other such call). A background thread compacts; its results
// become durable through the next commit only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/aead.hpp"
#include "host/store.hpp"
#include "jindisk/status.hpp"
#include "log/chain_log.hpp"
#include "log/sealed_file.hpp"

namespace jindisk::index {

// Where a logical block's ciphertext lives and how to open it.
struct BlockRef {
  uint64_t hba = 0;
  crypto::KeyBytes key{};
  crypto::Tag tag{};
  bool operator==(const BlockRef&) const = default;
};

// The part of the root record that belongs to the index. Encoded by encode()/decode() in a
// fixed little-endian layout (docs/format.md, "index root").
struct IndexRoot {
  log::SealedFileRef manifest;      // file_id 0: no SSTs yet (empty manifest)
  uint64_t wal_file_id = 0;         // 0: no WAL yet
  crypto::KeyBytes wal_key{};
  log::ChainPosition wal_position;  // committed prefix of the WAL
  uint64_t next_file_id = 1;        // next id for a wal/sst/man file
  bool operator==(const IndexRoot&) const = default;

  void encode(std::vector<uint8_t>& out) const;
  static Result<IndexRoot> decode(std::span<const uint8_t> bytes);  // kCorruption if malformed
  static constexpr size_t kEncodedSize = 8 + 32 + 8 + 16 + 8 + 32 + 8 + 16 + 8;
};

struct IndexOptions {
  // Entries the memtable holds before it is dumped into a level-0 SST (bounds its memory).
  size_t memtable_entries = 64 * 1024;
  // Bytes of decrypted SST blocks kept in the LRU block cache.
  size_t block_cache_bytes = 16u << 20;
  // Level-0 SSTs that trigger a compaction into level 1.
  size_t level0_files = 4;
  // Size ratio between levels (level 1 holds memtable_entries * ratio entries, and so on).
  size_t level_ratio = 10;
  // Run compaction in a background thread (false: only when compact_now() is called; tests).
  bool background_compaction = true;
  // Rotate the WAL (dump the memtable) once it holds this many blocks (bounds replay time).
  uint64_t max_wal_blocks = 4096;
};

struct IndexStats {
  uint64_t memtable_entries = 0;
  uint64_t sst_files = 0;
  uint64_t sst_entries = 0;   // including shadowed versions and tombstones
  uint64_t sst_bytes = 0;     // host bytes of SST files
  uint64_t wal_blocks = 0;
  uint64_t levels = 0;
  uint64_t compactions = 0;   // since open
  uint64_t host_bytes_written = 0;  // WAL + SST + manifest bytes written since open
};

class LsmIndex {
 public:
  // A new, empty index (writes nothing; the first prepare_commit creates the WAL).
  static Result<std::unique_ptr<LsmIndex>> create(host::Store& store, IndexOptions options);

  // Opens the committed state `root`: verifies and loads the manifest and the SSTs' fence
  // data, replays the WAL's committed prefix into the memtable. kCorruption names the object
  // that failed. Does not delete anything.
  static Result<std::unique_ptr<LsmIndex>> open(host::Store& store, const IndexRoot& root,
                                                IndexOptions options);

  ~LsmIndex();

  // Newest mapping of lba: nullopt if never written or trimmed. kCorruption/kIoError if an
  // SST block cannot be read.
  Result<std::optional<BlockRef>> get(uint64_t lba) const;

  // Calls visit(lba, ref) in increasing lba order for every live mapping in [first, last]
  // (inclusive), newest version only, tombstones skipped. A visit error stops and is returned.
  Status scan(uint64_t first, uint64_t last,
              const std::function<Status(uint64_t, const BlockRef&)>& visit) const;

  // Records a mapping or a tombstone in the memtable (durable after the next commit). May dump
  // the memtable into a level-0 SST when it is full (kIoError/kNoSpace from the host then; the
  // entry is still in the memtable). The dump runs in the caller's thread and blocks on host
  // I/O (about memtable_entries / 63 blocks written, then one fdatasync); readers are not
  // blocked meanwhile. put() of hba UINT64_MAX is kInvalidArgument (it marks tombstones).
  Status put(uint64_t lba, const BlockRef& ref);
  Status remove(uint64_t lba);
  // put(lbas[i], refs[i]) for every i (distinct LBAs), and into previous[i] what lbas[i]
  // mapped to just before, as get() would have said (nullopt: nothing; or an SST read error
  // for that LBA alone). For a drain, which must free each block it replaces: one memtable
  // walk per LBA instead of two, under one lock, in LBA order (walks share cache lines).
  // The memtable is dumped (if full) after the whole batch, so it may hold up to a batch more
  // than memtable_entries. `previous` is filled even when that dump fails; empty when the
  // batch is refused (kInvalidArgument: sizes differ, or a ref with the tombstone HBA).
  Status exchange(std::span<const uint64_t> lbas, std::span<const BlockRef> refs,
                  std::vector<Result<std::optional<BlockRef>>>& previous);

  // Step 1 of a commit (see top). On error nothing is committed and the in-memory state still
  // holds every entry (a later prepare_commit retries).
  Result<IndexRoot> prepare_commit();
  // Step 3: `root` (from prepare_commit) is durable. Removes obsolete files (errors removing
  // are ignored: recovery deletes leftovers). `root` must be the one the last prepare_commit
  // returned (anything else is ignored: a caller bug, asserted in debug builds).
  void commit_succeeded(const IndexRoot& root);
  // The root write failed: forget the prepared root. The next prepare_commit appends after
  // the prepared WAL position (never overwriting what the prepared root covers) or starts a
  // new WAL, and files the prepared root names stay until a later commit succeeds without
  // them, so a root write that did land despite the error stays openable. Calling
  // prepare_commit again without a verdict counts as commit_failed().
  void commit_failed();

  // Names of index files in `names` that the committed root does not refer to (left over by a
  // crash). The disk layer removes them at open. Never names a file the live index still uses
  // (uncommitted dumps, compaction outputs being written, a prepared WAL or manifest), and the
  // index never creates a name that already exists, so removing the result is safe even while
  // a background compaction runs. Call it from the writer thread (it reads the commit state).
  std::vector<std::string> unreferenced_files(const std::vector<std::string>& names) const;

  // Runs pending compactions synchronously (for tests and shutdown); waits for a background
  // compaction in progress first. Returns the first host error.
  Status compact_now();
  // How many lbas are mapped now: lets compaction notice an index that is mostly garbage
  // (shadowed versions, tombstones after trims) and merge it down.
  void set_live_entries(uint64_t n);
  // A compaction changed the SST set since the last commit: a commit would publish it and let
  // the replaced files go.
  bool has_uncommitted_compaction() const;

  // Thread-safe. `levels` is the depth: 1 + the deepest level holding a file (0: no SSTs).
  IndexStats stats() const;
  const IndexRoot& committed_root() const;

  struct Impl;

 private:
  explicit LsmIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for names this layer owns ("wal-", "sst-", "man-" prefixes).
bool is_index_file(std::string_view name);

}  // namespace jindisk::index
