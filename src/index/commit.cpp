// The writer path: memtable updates and dumps, WAL appends and rotation, manifests, and the
// index's part of the commit protocol (lsm_index.hpp, top comment).
//
// Invariant behind every root this file returns: the manifest lists exactly the SSTs of one
// Version, and the WAL (up to the returned position) holds, for every entry in the memtable
// at that moment, a record with its current value. A WAL covers only entries since the last
// dump: a dump starts a new WAL, whose first records are the whole memtable.
//
// Files a prepared root refers to are never overwritten and never removed before a later
// commit succeeds without them, so even a root whose write was reported failed but did land
// stays openable.
#include <algorithm>
#include <cassert>
#include <numeric>

#include "index/index_impl.hpp"
#include "index/manifest.hpp"
#include "index/sst_writer.hpp"
#include "index/wal_format.hpp"

namespace jindisk::index {
namespace {

constexpr uint64_t kSstFileBytesPerBlock = crypto::kBlockSize + crypto::kTagSize;

// `record` is scratch space, reused from one entry to the next.
Status append_entry(log::ChainLog& log, const Entry& e, std::vector<uint8_t>& record) {
  encode_wal_record(e, record);
  return log.append(record);
}

Status append_entries(log::ChainLog& log, const std::vector<Entry>& entries) {
  std::vector<uint8_t> record;
  for (const Entry& e : entries) JD_TRY(append_entry(log, e, record));
  return Status::ok();
}

}  // namespace

Status LsmIndex::Impl::record(uint64_t lba, const BlockRef& ref) {
  {
    std::unique_lock lock(mu);
    mem.put(lba, ref);
  }
  return dump_if_full();
}

Status LsmIndex::Impl::dump_if_full() {
  if (mem.size() >= std::max<size_t>(options.memtable_entries, 1)) return dump_memtable();
  return Status::ok();
}

Status LsmIndex::Impl::exchange(std::span<const uint64_t> lbas, std::span<const BlockRef> refs,
                                std::vector<Result<std::optional<BlockRef>>>& previous) {
  previous.assign(lbas.size(), std::optional<BlockRef>{});
  std::vector<size_t> order(lbas.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return lbas[a] < lbas[b]; });
  std::vector<size_t> in_ssts;  // entries whose LBA the memtable did not hold
  std::shared_ptr<const Version> v;
  {
    std::unique_lock lock(mu);
    for (size_t i : order) {
      std::optional<BlockRef> old = mem.exchange(lbas[i], refs[i]);
      if (!old) in_ssts.push_back(i);
      else if (!is_tombstone(*old)) previous[i] = std::optional<BlockRef>(*old);
    }
    // The memtable held none of in_ssts, so this Version has their values from before.
    v = version;
  }
  for (size_t i : in_ssts) {
    Result<std::optional<BlockRef>> hit = v->find(lbas[i]);
    if (hit.is_ok() && *hit && is_tombstone(**hit)) hit = std::optional<BlockRef>{};
    previous[i] = std::move(hit);
  }
  return dump_if_full();
}

Status LsmIndex::Impl::dump_memtable() {
  if (mem.empty()) return Status::ok();
  JD_ASSIGN_OR_RETURN(NewFile out, create_file(FileKind::kSst));
  const uint64_t id = out.id;
  // Only this thread mutates the memtable, so it can be read without the lock while the SST
  // is written; readers keep using it until the swap below.
  auto write = [&]() -> Result<std::shared_ptr<const SstReader>> {
    SstWriter writer(std::move(out.file), id);
    JD_TRY(mem.visit_in_order([&](const Entry& e) { return writer.add(e); }));
    JD_ASSIGN_OR_RETURN(SstMeta meta, writer.finish());
    bytes_written += meta.ref.blocks * kSstFileBytesPerBlock;
    return SstReader::open(store, meta, &cache);
  };
  Result<std::shared_ptr<const SstReader>> reader = write();
  if (!reader.is_ok()) {
    discard_output(id);
    return reader.status().with_context("memtable dump");
  }
  {
    std::unique_lock lock(mu);
    version = apply_edit(*version, {}, 0, {reader.value()}, ++last_seq);
    mem.clear();
    writing.erase(id);
  }
  // The new SST holds everything the current WAL does (and the uncommitted rest), so the
  // next commit starts a fresh WAL instead of appending.
  wal_rotation_pending = true;
  schedule_compaction();
  return Status::ok();
}

void LsmIndex::Impl::clear_dirty() {
  std::unique_lock lock(mu);
  mem.clear_dirty();
}

void LsmIndex::Impl::abandon_wal() {
  if (wal && wal_id != committed.wal_file_id) retire(file_name(FileKind::kWal, wal_id));
  wal.reset();
  wal_rotation_pending = true;
}

Status LsmIndex::Impl::start_new_wal() {
  JD_ASSIGN_OR_RETURN(NewFile out, create_file(FileKind::kWal));
  const uint64_t id = out.id;
  const std::string name = file_name(FileKind::kWal, id);
  const crypto::KeyBytes key = crypto::random_key();
  log::ChainLog log = log::ChainLog::create(std::move(out.file), key, id);
  std::vector<uint8_t> record;
  Status st = mem.visit_in_order([&](const Entry& e) { return append_entry(log, e, record); });
  if (st.is_ok()) st = log.sync();
  bytes_written += log.position().blocks * crypto::kBlockSize;
  if (!st.is_ok()) {
    retire(name);
    return st.with_context("new WAL");
  }
  if (wal && wal_id != committed.wal_file_id) retire(file_name(FileKind::kWal, wal_id));
  wal.emplace(std::move(log));
  wal_id = id;
  wal_key = key;
  wal_rotation_pending = false;
  wal_blocks = wal->position().blocks;
  clear_dirty();  // the new WAL holds every entry
  return Status::ok();
}

Status LsmIndex::Impl::write_wal() {
  if (!wal || wal_rotation_pending) return start_new_wal();
  const uint64_t before = wal->position().blocks;
  Status st = append_entries(*wal, mem.dirty_entries());
  if (st.is_ok()) st = wal->sync();
  bytes_written += (wal->position().blocks - before) * crypto::kBlockSize;
  if (!st.is_ok()) {
    // Which records reached the host is unknown now; a new WAL with the whole memtable is
    // the simple way to be sure again (and never touches what the committed root needs).
    abandon_wal();
    return st.with_context("WAL append");
  }
  wal_blocks = wal->position().blocks;
  clear_dirty();
  return Status::ok();
}

Result<log::SealedFileRef> LsmIndex::Impl::manifest_for(const Version& v) {
  if (v.seq == committed_seq) return committed.manifest;
  if (v.seq == manifest_seq) return manifest;  // written by an earlier, failed attempt
  log::SealedFileRef ref;                      // file_id 0: no SSTs
  if (v.file_count() > 0) {
    JD_ASSIGN_OR_RETURN(NewFile out, create_file(FileKind::kManifest));
    const uint64_t id = out.id;
    Result<log::SealedFileRef> written =
        write_manifest(std::move(out.file), id, v.manifest_entries());
    if (!written.is_ok()) {
      retire(file_name(FileKind::kManifest, id));
      return written.status().with_context("manifest");
    }
    ref = written.value();
    bytes_written += ref.blocks * kSstFileBytesPerBlock;
  }
  if (manifest.file_id != 0 && manifest.file_id != committed.manifest.file_id) {
    retire(file_name(FileKind::kManifest, manifest.file_id));
  }
  manifest = ref;
  manifest_seq = v.seq;
  return ref;
}

Result<IndexRoot> LsmIndex::Impl::prepare_commit() {
  prepared.reset();  // a prepared root not followed by commit_succeeded counts as failed
  if (wal && !wal_rotation_pending && wal->position().blocks > options.max_wal_blocks) {
    // Bounds replay time at open: the memtable goes into an SST and a fresh WAL starts.
    JD_TRY(dump_memtable());
    wal_rotation_pending = true;
  }
  JD_TRY(write_wal());
  const std::shared_ptr<const Version> v = current();
  JD_ASSIGN_OR_RETURN(log::SealedFileRef manifest_ref, manifest_for(*v));

  IndexRoot root;
  root.manifest = manifest_ref;
  root.wal_file_id = wal_id;
  root.wal_key = wal_key;
  root.wal_position = wal->position();
  root.next_file_id = next_file_id.load();
  // New names (WAL, manifest, and the SSTs a new manifest lists) are durable only after the
  // directory is synced; the root must not point at a name a crash could take back.
  if (root.wal_file_id != committed.wal_file_id ||
      root.manifest.file_id != committed.manifest.file_id) {
    JD_TRY(store.sync_dir().with_context("index files"));
  }
  prepared = Prepared{root, v->seq, v->file_ids()};
  return root;
}

void LsmIndex::Impl::commit_succeeded(const IndexRoot& root) {
  if (!prepared || prepared->root != root) {
    // Not the root prepare_commit returned: a caller bug. Adopting it could make us delete
    // files the real committed state needs, so change nothing.
    assert(false && "commit_succeeded with a root this index did not prepare");
    return;
  }
  const IndexRoot old = committed;
  committed = prepared->root;
  committed_seq = prepared->seq;
  committed_ssts = std::move(prepared->ssts);
  prepared.reset();
  if (old.wal_file_id != 0) retire(file_name(FileKind::kWal, old.wal_file_id));
  if (old.manifest.file_id != 0) retire(file_name(FileKind::kManifest, old.manifest.file_id));
  collect_garbage();
}

void LsmIndex::Impl::commit_failed() {
  // Nothing to undo: the WAL keeps growing after the prepared position (records stay valid,
  // and a root that did land despite the error still finds its prefix intact), and the next
  // prepare_commit reuses or replaces the manifest.
  prepared.reset();
}

void LsmIndex::Impl::retire(std::string name) {
  std::unique_lock lock(mu);
  obsolete.insert(std::move(name));
}

std::set<uint64_t> LsmIndex::Impl::live_sst_ids() const {
  std::set<uint64_t> ids = version->file_ids();
  ids.insert(writing.begin(), writing.end());
  return ids;
}

bool LsmIndex::Impl::referenced_or_live(FileKind kind, uint64_t id,
                                        const std::set<uint64_t>& live_ssts) const {
  switch (kind) {
    case FileKind::kWal:
      return id == committed.wal_file_id || (wal.has_value() && id == wal_id) ||
             (prepared && prepared->root.wal_file_id == id);
    case FileKind::kManifest:
      return id == committed.manifest.file_id || id == manifest.file_id ||
             (prepared && prepared->root.manifest.file_id == id);
    case FileKind::kSst:
      return committed_ssts.contains(id) || live_ssts.contains(id) ||
             (prepared && prepared->ssts.contains(id));
  }
  return true;
}

void LsmIndex::Impl::collect_garbage() {
  std::vector<std::string> unused;
  {
    std::unique_lock lock(mu);
    const std::set<uint64_t> live = live_sst_ids();
    for (auto it = obsolete.begin(); it != obsolete.end();) {
      auto parsed = parse_file_name(*it);
      if (parsed && referenced_or_live(parsed->kind, parsed->id, live)) {
        ++it;
      } else {
        unused.push_back(*it);
        it = obsolete.erase(it);
      }
    }
  }
  if (unused.empty()) return;
  // After a large write, the commit found dozens of compacted SSTs to remove: 70 ms of its
  // time (tuning.md, round 7). The background thread removes them when there is one.
  if (bg.joinable()) {
    {
      std::lock_guard lock(bg_mu);
      doomed.insert(doomed.end(), unused.begin(), unused.end());
    }
    bg_cv.notify_one();
    return;
  }
  remove_files(unused);
}

void LsmIndex::Impl::remove_files(const std::vector<std::string>& names) {
  // A failed removal only leaves a leftover that unreferenced_files() reports at next open.
  for (const std::string& name : names) (void)store.remove(name);
}

}  // namespace jindisk::index
