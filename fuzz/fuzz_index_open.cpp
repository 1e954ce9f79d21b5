// Fuzz target: opening the index (LsmIndex::open) on a fuzzed WAL, the replay path behind the
// chain log's MAC, then commit, compaction and reopen on top of what was replayed.
//
// The host store holds three real SSTs and a manifest listing them (level 0: id 3; level 1:
// ids 1 and 2). The input gives WAL records (arbitrary bytes, u8 length each); the harness
// appends them to a real chain log under a test key, so they authenticate, and builds the
// IndexRoot that points at it. open() must accept exactly when every record is a well-formed
// WAL record (docs/format.md §6), and the index must then hold exactly what a reference model
// says: SST contents, newest first, overlaid by the records in order (tombstones unmap). The
// same must hold after a few more puts/trims, a commit, a full compaction and a reopen.
#include <cstring>
#include <map>

#include "crypto/sodium.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "index/entry.hpp"
#include "index/file_names.hpp"
#include "index/lsm_index.hpp"
#include "index/manifest.hpp"
#include "index/sst_writer.hpp"
#include "index/wal_format.hpp"
#include "log/chain_log.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr uint64_t kWalId = 5;
using Model = std::map<uint64_t, index::BlockRef>;  // live mappings only

index::BlockRef ref_for(uint64_t id, uint64_t lba) {
  index::BlockRef r;
  r.hba = id * 1000000 + lba;
  r.key.fill(static_cast<uint8_t>(id));
  r.tag.fill(static_cast<uint8_t>(lba));
  return r;
}

struct Fixture {
  host::MemoryStore store;
  log::SealedFileRef manifest;
  Model ssts;  // what the SSTs hold, newest first resolved
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    struct Spec { uint64_t id, first, count, step; uint8_t level; };
    const Spec specs[] = {{3, 50, 101, 2, 0}, {1, 0, 100, 1, 1}, {2, 200, 61, 1, 1}};
    std::vector<index::ManifestEntry> listing;
    for (const Spec& s : specs) {  // newest first, so the first writer of an lba wins
      auto file = fx->store.open(index::file_name(index::FileKind::kSst, s.id),
                                 host::OpenMode::kCreateNew);
      must(file.status(), "create sst");
      index::SstWriter w(std::move(file).value(), s.id);
      for (uint64_t i = 0; i < s.count; ++i) {
        index::Entry e;
        e.lba = s.first + i * s.step;
        e.ref = (s.id == 1 && e.lba % 10 == 3) ? index::tombstone_ref() : ref_for(s.id, e.lba);
        must(w.add(e), "add");
        if (!fx->ssts.contains(e.lba)) fx->ssts[e.lba] = e.ref;
      }
      auto meta = w.finish();
      must(meta.status(), "finish sst");
      listing.push_back({s.level, *meta});
    }
    for (auto it = fx->ssts.begin(); it != fx->ssts.end();) {
      it = index::is_tombstone(it->second) ? fx->ssts.erase(it) : std::next(it);
    }
    auto file = fx->store.open(index::file_name(index::FileKind::kManifest, 4),
                               host::OpenMode::kCreateNew);
    must(file.status(), "create manifest");
    auto ref = index::write_manifest(std::move(file).value(), 4, listing);
    must(ref.status(), "write manifest");
    fx->manifest = *ref;
    return fx;
  }();
  return *f;
}

void compare(const index::LsmIndex& idx, const Model& model, const char* when) {
  Model got;
  must(idx.scan(0, UINT64_MAX,
                [&](uint64_t lba, const index::BlockRef& ref) {
                  check(got.emplace(lba, ref).second, "scan visited an lba twice");
                  return Status::ok();
                }),
       "scan");
  check(got == model, "index contents differ from the reference model", when);
  size_t k = 0;
  for (const auto& [lba, ref] : model) {
    if (k++ % 7 != 0) continue;
    auto r = idx.get(lba);
    check(r.is_ok() && r->has_value() && **r == ref, "get() differs from the model", when);
  }
  for (uint64_t lba : std::array<uint64_t, 7>{1, 3, 13, 151, 199, 261, UINT64_MAX}) {
    auto r = idx.get(lba);
    must(r.status(), "get");
    auto it = model.find(lba);
    check(r->has_value() == (it != model.end()), "get() presence differs from the model", when);
  }
}

void write_seeds(const std::string& dir) {
  auto rec = [](const index::Entry& e) {
    std::vector<uint8_t> r;
    index::encode_wal_record(e, r);
    return r;
  };
  for (int variant = 0; variant < 3; ++variant) {
    Seed s;
    s.u8(variant == 2 ? 1 : 0).u8(10).u8(static_cast<uint8_t>(variant * 20));
    for (uint64_t i = 0; i < uint64_t(12 + variant * 20); ++i) {
      index::Entry e;
      e.lba = (i * 37) % 300;
      e.ref = i % 4 == 3 ? index::tombstone_ref() : ref_for(9, i);
      auto r = rec(e);
      s.u8(static_cast<uint8_t>(r.size())).bytes(r);
    }
    write_seed(dir, "wal-" + std::to_string(variant), s.out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  Fixture& fx = fixture();
  const uint8_t flags = in.u8();  // bit0: no SSTs (manifest id 0)
  const uint64_t next_file_id = kWalId + 1 + in.u8();
  index::IndexOptions options;
  options.background_compaction = false;
  options.memtable_entries = 4 + in.u8() % 64;
  options.block_cache_bytes = (flags & 2) ? 0 : 1 << 20;

  std::unique_ptr<host::MemoryStore> store = fx.store.clone();
  crypto::KeyBytes wal_key{};
  wal_key.fill(0x77);
  auto file = store->open(index::file_name(index::FileKind::kWal, kWalId),
                          host::OpenMode::kCreateNew);
  must(file.status(), "create wal");
  auto wal = log::ChainLog::create(std::move(file).value(), wal_key, kWalId);

  Model model = (flags & 1) ? Model{} : fx.ssts;
  bool well_formed = true;
  while (!in.empty()) {
    auto rec = in.bytes(in.u8());
    if (rec.empty()) continue;
    must(wal.append(rec), "append");
    auto e = index::decode_wal_record(rec);
    if (!e.is_ok()) {
      well_formed = false;
      continue;
    }
    if (index::is_tombstone(e->ref)) model.erase(e->lba);
    else model[e->lba] = e->ref;
  }
  must(wal.sync(), "sync wal");

  index::IndexRoot root;
  if (!(flags & 1)) root.manifest = fx.manifest;
  root.wal_file_id = kWalId;
  root.wal_key = wal_key;
  root.wal_position = wal.position();
  root.next_file_id = next_file_id;

  auto idx = index::LsmIndex::open(*store, root, options);
  check(idx.is_ok() == well_formed, "index open acceptance disagrees with the WAL format",
        idx.is_ok() ? "accepted" : idx.status().to_string());
  if (!idx.is_ok()) {
    check(idx.status().code() == Code::kCorruption, "index open: unexpected code");
    return 0;
  }
  compare(**idx, model, "after open");

  // Write on top, commit, compact everything, commit, reopen.
  index::BlockRef r = ref_for(42, 7);
  must((*idx)->put(7, r), "put");
  model[7] = r;
  must((*idx)->remove(60), "remove");
  model.erase(60);
  must((*idx)->put(UINT64_MAX - 1, r), "put");
  model[UINT64_MAX - 1] = r;
  auto root1 = (*idx)->prepare_commit();
  must(root1.status(), "prepare_commit");
  (*idx)->commit_succeeded(*root1);
  compare(**idx, model, "after commit");
  must((*idx)->compact_now(), "compact_now");
  auto root2 = (*idx)->prepare_commit();
  must(root2.status(), "prepare_commit after compaction");
  (*idx)->commit_succeeded(*root2);
  compare(**idx, model, "after compaction");
  idx->reset();

  auto again = index::LsmIndex::open(*store, *root2, options);
  must(again.status(), "reopen the committed root");
  compare(**again, model, "after reopen");
  return 0;
}
