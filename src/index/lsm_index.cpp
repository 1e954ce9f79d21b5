// LsmIndex: construction, recovery of a committed state, the read path and statistics.
// The writer path is in commit.cpp, compaction scheduling in background.cpp.
#include "index/lsm_index.hpp"

#include <algorithm>

#include "index/index_impl.hpp"
#include "index/merge_iterator.hpp"
#include "index/wal_format.hpp"

namespace jindisk::index {

// ---- Impl: loading

Status LsmIndex::Impl::seed_file_ids(uint64_t at_least) {
  // Start above every index file present, not only above the root's counter: files left by a
  // crash after the last commit carry ids >= next_file_id, and a new file must never reuse a
  // name the disk layer may be about to delete as a leftover.
  // Ids far above the counter are not ours (an honest session creates far fewer files
  // between commits): skipping them keeps a planted name from pushing the counter to its end.
  // create_file() steps over any name that exists anyway.
  constexpr uint64_t kMaxAhead = uint64_t{1} << 32;
  JD_ASSIGN_OR_RETURN(std::vector<std::string> names, store.list());
  const uint64_t base = std::max<uint64_t>(at_least, 1);
  uint64_t next = base;
  for (const std::string& name : names) {
    if (auto parsed = parse_file_name(name);
        parsed && parsed->id >= base && parsed->id - base < kMaxAhead) {
      next = std::max(next, parsed->id + 1);
    }
  }
  next_file_id = next;
  return Status::ok();
}

Result<NewFile> LsmIndex::Impl::create_file(FileKind kind) {
  // A name that exists was not made by this session (the counter only grows): never reuse
  // it, since the disk layer may be about to delete it as a leftover.
  constexpr int kAttempts = 16;
  Status last;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const uint64_t id = next_file_id++;
    // Registered before the name exists, so unreferenced_files() never reports it.
    if (kind == FileKind::kSst) {
      std::unique_lock lock(mu);
      writing.insert(id);
    }
    auto file = store.open(file_name(kind, id), host::OpenMode::kCreateNew);
    if (file.is_ok()) return NewFile{id, std::move(file).value()};
    if (kind == FileKind::kSst) {
      std::unique_lock lock(mu);
      writing.erase(id);
    }
    if (file.status().code() != Code::kAlreadyExists) return file.status();
    last = file.status();
  }
  return last.with_context("no free index file name");
}

Status LsmIndex::Impl::load(const IndexRoot& given) {
  // The same checks as a decoded root gets, so that a root built in memory is held to them.
  std::vector<uint8_t> encoded;
  given.encode(encoded);
  JD_ASSIGN_OR_RETURN(IndexRoot root, IndexRoot::decode(encoded));
  JD_TRY(seed_file_ids(root.next_file_id));

  std::vector<ManifestEntry> listing;
  if (root.manifest.file_id != 0) {
    JD_ASSIGN_OR_RETURN(listing, read_manifest(store, root.manifest));
  }
  JD_ASSIGN_OR_RETURN(version, load_version(store, listing, &cache, root.next_file_id, 1));
  last_seq = 1;

  if (root.wal_file_id != 0) {
    const std::string name = file_name(FileKind::kWal, root.wal_file_id);
    auto file = store.open(name, host::OpenMode::kExisting);
    if (!file.is_ok()) {
      if (file.status().code() == Code::kNotFound) return Status::corruption(name + ": missing");
      return file.status().with_context(name);
    }
    auto replay = [this](std::span<const uint8_t> record) -> Status {
      JD_ASSIGN_OR_RETURN(Entry e, decode_wal_record(record));
      mem.put_clean(e.lba, e.ref);
      return Status::ok();
    };
    Result<log::ChainLog> log = log::ChainLog::open(std::move(file).value(), root.wal_key,
                                                    root.wal_file_id, root.wal_position, replay);
    if (!log.is_ok()) return log.status().with_context(name);
    wal.emplace(std::move(log).value());
    wal_id = root.wal_file_id;
    wal_key = root.wal_key;
    wal_blocks = root.wal_position.blocks;
  }
  committed = root;
  committed_seq = 1;
  committed_ssts = version->file_ids();
  manifest = root.manifest;
  manifest_seq = 1;
  return Status::ok();
}

// ---- Impl: reads

std::shared_ptr<const Version> LsmIndex::Impl::current() const {
  std::shared_lock lock(mu);
  return version;
}

Result<std::optional<BlockRef>> LsmIndex::Impl::get(uint64_t lba) const {
  std::shared_ptr<const Version> v;
  {
    // The memtable and the Version are read under one lock: a dump moves entries from one to
    // the other atomically, so a reader sees them in exactly one of the two.
    std::shared_lock lock(mu);
    if (const BlockRef* ref = mem.find(lba)) {
      return is_tombstone(*ref) ? std::optional<BlockRef>{} : std::optional<BlockRef>(*ref);
    }
    v = version;
  }
  JD_ASSIGN_OR_RETURN(std::optional<BlockRef> hit, v->find(lba));
  if (hit && is_tombstone(*hit)) hit.reset();
  return hit;
}

Status LsmIndex::Impl::scan(uint64_t first, uint64_t last,
                            const std::function<Status(uint64_t, const BlockRef&)>& visit) const {
  if (first > last) return Status::ok();
  std::vector<std::unique_ptr<EntrySource>> sources;
  std::shared_ptr<const Version> v;
  {
    std::shared_lock lock(mu);
    // A copy of the range (at most the memtable's size) so that visit() runs without the
    // lock and may call back into the index.
    sources.push_back(std::make_unique<VectorSource>(mem.range(first, last)));
    v = version;
  }
  v->add_sources(sources, /*fill_cache=*/true);
  MergeIterator it(std::move(sources));
  JD_TRY(it.seek(first));
  while (it.valid() && it.entry().lba <= last) {
    const Entry e = it.entry();
    if (!is_tombstone(e.ref)) JD_TRY(visit(e.lba, e.ref));
    if (e.lba == last) break;
    JD_TRY(it.next());
  }
  return Status::ok();
}

std::vector<std::string> LsmIndex::Impl::unreferenced_files(
    const std::vector<std::string>& names) const {
  std::vector<std::string> out;
  std::shared_lock lock(mu);
  const std::set<uint64_t> live = live_sst_ids();
  for (const std::string& name : names) {
    if (!is_index_file(name)) continue;
    auto parsed = parse_file_name(name);
    // A name with an index prefix but not our spelling is nobody's file: a leftover too.
    if (!parsed || !referenced_or_live(parsed->kind, parsed->id, live)) out.push_back(name);
  }
  return out;
}

IndexStats LsmIndex::Impl::stats() const {
  IndexStats s;
  std::shared_lock lock(mu);
  s.memtable_entries = mem.size();
  s.sst_files = version->file_count();
  s.sst_entries = version->entries();
  s.sst_bytes = version->host_bytes();
  s.levels = version->depth();
  s.wal_blocks = wal_blocks.load();
  s.compactions = compactions.load();
  s.host_bytes_written = bytes_written.load();
  return s;
}

// ---- LsmIndex

LsmIndex::LsmIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LsmIndex::~LsmIndex() = default;

Result<std::unique_ptr<LsmIndex>> LsmIndex::create(host::Store& store, IndexOptions options) {
  auto impl = std::make_unique<Impl>(store, options);
  JD_TRY(impl->seed_file_ids(1));
  impl->version = std::make_shared<const Version>();
  impl->start_background();
  return std::unique_ptr<LsmIndex>(new LsmIndex(std::move(impl)));
}

Result<std::unique_ptr<LsmIndex>> LsmIndex::open(host::Store& store, const IndexRoot& root,
                                                 IndexOptions options) {
  auto impl = std::make_unique<Impl>(store, options);
  JD_TRY(impl->load(root));
  impl->start_background();
  return std::unique_ptr<LsmIndex>(new LsmIndex(std::move(impl)));
}

Result<std::optional<BlockRef>> LsmIndex::get(uint64_t lba) const {
  return impl_->get(lba);
}

Status LsmIndex::scan(uint64_t first, uint64_t last,
                      const std::function<Status(uint64_t, const BlockRef&)>& visit) const {
  return impl_->scan(first, last, visit);
}

Status LsmIndex::put(uint64_t lba, const BlockRef& ref) {
  if (is_tombstone(ref)) return Status::invalid_argument("hba all ones is reserved for trims");
  return impl_->record(lba, ref);
}

Status LsmIndex::exchange(std::span<const uint64_t> lbas, std::span<const BlockRef> refs,
                          std::vector<Result<std::optional<BlockRef>>>& previous) {
  previous.clear();  // a refused batch leaves no stale answers behind
  if (lbas.size() != refs.size()) return Status::invalid_argument("exchange: sizes differ");
  for (const BlockRef& ref : refs) {
    if (is_tombstone(ref)) return Status::invalid_argument("hba all ones is reserved for trims");
  }
  return impl_->exchange(lbas, refs, previous);
}

Status LsmIndex::remove(uint64_t lba) {
  return impl_->record(lba, tombstone_ref());
}

Result<IndexRoot> LsmIndex::prepare_commit() {
  return impl_->prepare_commit();
}
void LsmIndex::commit_succeeded(const IndexRoot& root) {
  impl_->commit_succeeded(root);
}
void LsmIndex::commit_failed() {
  impl_->commit_failed();
}

std::vector<std::string> LsmIndex::unreferenced_files(const std::vector<std::string>& names) const {
  return impl_->unreferenced_files(names);
}

void LsmIndex::set_live_entries(uint64_t n) { impl_->live_hint = n; }
bool LsmIndex::has_uncommitted_compaction() const {
  std::unique_lock lock(impl_->mu);
  return impl_->version->seq != impl_->committed_seq;
}
Status LsmIndex::compact_now() {
  return impl_->run_compactions();
}
IndexStats LsmIndex::stats() const {
  return impl_->stats();
}
const IndexRoot& LsmIndex::committed_root() const {
  return impl_->committed;
}

}  // namespace jindisk::index
