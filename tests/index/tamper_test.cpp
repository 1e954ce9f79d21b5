// Corruption and rollback: an attacker edits the host directory between sessions. Every
// edit must make open() fail with kCorruption, or make the affected get()/scan() fail with
// kCorruption; a wrong or stale BlockRef must never come back.
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

constexpr uint64_t kLbas = 700;
constexpr uint64_t kSealedBlock = 4096 + 16;  // a sealed file's block and its tag-table entry

IndexOptions tamper_options() {
  return small_options(32);
}

struct Fixture {
  host::MemoryStore store;
  Model model;
  IndexRoot root;
  IndexRoot previous_root;  // the commit before `root`, appending to the same WAL
  Bytes wal_at_previous;    // the WAL file as it was at previous_root
  Bytes first_manifest;     // the manifest of the first commit (removed since)
};

// Writes `rounds` versions of many lbas, with trims, so that the committed state has SSTs in
// several levels, a manifest and a WAL holding entries; the last commit only appends to the
// WAL that the one before it started.
void build(Fixture& f, uint64_t value_seed) {
  auto idx = create_index(f.store, tamper_options());
  for (uint64_t round = 1; round <= 3; ++round) {
    for (uint64_t lba = 0; lba < kLbas; lba += round) {
      const BlockRef ref = make_ref(lba, round * 1000 + value_seed);
      JD_REQUIRE_OK(idx->put(lba, ref));
      f.model[lba] = ref;
    }
    JD_REQUIRE_OK(idx->compact_now());
    const IndexRoot r = commit(*idx);
    if (round == 1)
      f.first_manifest = raw(f.store, file_name(FileKind::kManifest, r.manifest.file_id));
  }
  for (uint64_t lba = 5; lba < 500; lba += 50) {
    JD_REQUIRE_OK(idx->remove(lba));
    f.model.erase(lba);
  }
  JD_REQUIRE_OK(idx->compact_now());
  f.previous_root = commit(*idx);
  f.wal_at_previous = raw(f.store, file_name(FileKind::kWal, f.previous_root.wal_file_id));
  for (uint64_t lba = 600; lba < 610; ++lba) {
    const BlockRef ref = make_ref(lba, 9000 + value_seed);
    JD_REQUIRE_OK(idx->put(lba, ref));
    f.model[lba] = ref;
  }
  f.root = commit(*idx);
  REQUIRE(f.root.wal_file_id == f.previous_root.wal_file_id);
  REQUIRE(f.root.wal_position.blocks > f.previous_root.wal_position.blocks);
  REQUIRE(f.root.manifest.file_id != 0);
  REQUIRE(idx->stats().levels >= 2);
  REQUIRE(idx->stats().memtable_entries > 0);
}

// Opens the tampered store and reads everything; returns whether the damage was reported.
bool detected(host::MemoryStore& store, const IndexRoot& root, const Model& model) {
  auto idx = LsmIndex::open(store, root, tamper_options());
  if (!idx.is_ok()) {
    CHECK_MESSAGE(idx.status().code() == Code::kCorruption, idx.status().to_string());
    return true;
  }
  bool found = false;
  for (uint64_t lba = 0; lba < kLbas + 10; ++lba) {
    auto got = (*idx)->get(lba);
    if (!got.is_ok()) {
      CHECK_MESSAGE(got.status().code() == Code::kCorruption, got.status().to_string());
      found = true;
      continue;
    }
    auto it = model.find(lba);
    REQUIRE_MESSAGE(got->has_value() == (it != model.end()), "lba ", lba);
    if (got->has_value()) REQUIRE_MESSAGE(**got == it->second, "wrong BlockRef for lba ", lba);
  }
  std::vector<std::pair<uint64_t, BlockRef>> seen;
  Status st = (*idx)->scan(0, UINT64_MAX, [&](uint64_t lba, const BlockRef& ref) {
    seen.emplace_back(lba, ref);
    return Status::ok();
  });
  if (!st.is_ok()) {
    CHECK(st.code() == Code::kCorruption);
    found = true;
  } else {
    CHECK(seen == std::vector<std::pair<uint64_t, BlockRef>>(model.begin(), model.end()));
  }
  return found;
}

// The SST with the most blocks (so it has several data blocks and a non-trivial fence).
std::string biggest_sst(host::MemoryStore& store) {
  std::string best;
  size_t best_size = 0;
  for (const std::string& n : index_files(store, FileKind::kSst)) {
    const size_t size = raw(store, n).size();
    if (size > best_size) {
      best = n;
      best_size = size;
    }
  }
  REQUIRE(!best.empty());
  return best;
}

void edit(host::MemoryStore& store, const std::string& name,
          const std::function<void(Bytes&)>& change) {
  Bytes b = raw(store, name);
  change(b);
  put_raw(store, name, b);
}

TEST_CASE("corruption: the untouched fixture opens and reads back") {
  Fixture f;
  build(f, 0);
  CHECK_FALSE(detected(f.store, f.root, f.model));
}

TEST_CASE("corruption: a flipped byte anywhere in an SST is detected") {
  Fixture f;
  build(f, 0);
  const std::string sst = biggest_sst(f.store);
  const uint64_t blocks = raw(f.store, sst).size() / kSealedBlock;
  REQUIRE(blocks >= 4);  // >= 2 data blocks, a fence block, the footer
  const uint64_t data_blocks = blocks - 2;
  struct Spot {
    const char* what;
    uint64_t offset;
  };
  const Spot spots[] = {
      {"first data block", 100},
      {"last data block", (data_blocks - 1) * 4096 + 4000},
      {"second block", 4096 + 1},
      {"fence block", data_blocks * 4096 + 20},
      {"footer", (blocks - 1) * 4096 + 9},
      {"tag table", blocks * 4096 + 3},
      {"last tag", blocks * kSealedBlock - 1},
  };
  for (const Spot& s : spots) {
    CAPTURE(s.what);
    auto copy = f.store.clone();
    edit(*copy, sst, [&](Bytes& b) { b.at(s.offset) ^= 0x40; });
    CHECK(detected(*copy, f.root, f.model));
  }
}

TEST_CASE("corruption: truncated, extended, deleted or swapped SSTs are detected") {
  Fixture f;
  build(f, 0);
  const std::string sst = biggest_sst(f.store);
  const auto all = index_files(f.store, FileKind::kSst);
  REQUIRE(all.size() >= 2);
  const std::string other = all[0] == sst ? all[1] : all[0];
  const std::vector<std::pair<const char*, std::function<void(host::MemoryStore&)>>> attacks = {
      {"truncate tag",
       [&](host::MemoryStore& s) { edit(s, sst, [](Bytes& b) { b.resize(b.size() - 16); }); }},
      {"truncate block",
       [&](host::MemoryStore& s) {
         edit(s, sst, [](Bytes& b) { b.resize(b.size() - kSealedBlock); });
       }},
      {"empty", [&](host::MemoryStore& s) { edit(s, sst, [](Bytes& b) { b.clear(); }); }},
      {"extend", [&](host::MemoryStore& s) { edit(s, sst, [](Bytes& b) { b.push_back(0); }); }},
      {"delete", [&](host::MemoryStore& s) { JD_REQUIRE_OK(s.remove(sst)); }},
      {"swap with another SST", [&](host::MemoryStore& s) { put_raw(s, sst, raw(s, other)); }},
      {"swap two blocks",
       [&](host::MemoryStore& s) {
         edit(s, sst,
              [](Bytes& b) { std::swap_ranges(b.begin(), b.begin() + 4096, b.begin() + 4096); });
       }},
  };
  for (const auto& [what, attack] : attacks) {
    CAPTURE(what);
    auto copy = f.store.clone();
    attack(*copy);
    CHECK(detected(*copy, f.root, f.model));
  }
}

TEST_CASE("rollback: an older SST with the same id is detected") {
  // Two histories that reach the same file ids with different contents: the second one's
  // SST stands in for "an earlier version of this file" (same name, valid on its own).
  Fixture a;
  build(a, 0);
  Fixture b;
  build(b, 77);
  int swapped = 0;
  for (const std::string& sst : index_files(a.store, FileKind::kSst)) {
    auto older = b.store.read_all(sst);
    if (!older.is_ok()) continue;
    auto copy = a.store.clone();
    put_raw(*copy, sst, *older);
    CAPTURE(sst);
    CHECK(detected(*copy, a.root, a.model));
    ++swapped;
  }
  CHECK(swapped >= 2);
}

TEST_CASE("corruption: a damaged, truncated, deleted or replaced manifest is detected") {
  Fixture f;
  build(f, 0);
  Fixture other;
  build(other, 5);
  const std::string man = file_name(FileKind::kManifest, f.root.manifest.file_id);
  const std::vector<std::pair<const char*, std::function<void(host::MemoryStore&)>>> attacks = {
      {"flip", [&](host::MemoryStore& s) { edit(s, man, [](Bytes& b) { b.at(50) ^= 1; }); }},
      {"flip tag", [&](host::MemoryStore& s) { edit(s, man, [](Bytes& b) { b.back() ^= 1; }); }},
      {"truncate",
       [&](host::MemoryStore& s) { edit(s, man, [](Bytes& b) { b.resize(b.size() - 1); }); }},
      {"delete", [&](host::MemoryStore& s) { JD_REQUIRE_OK(s.remove(man)); }},
      {"same id, other history",
       [&](host::MemoryStore& s) {
         auto theirs = other.store.read_all(man);
         REQUIRE(theirs.is_ok());
         put_raw(s, man, *theirs);
       }},
      {"manifest of an earlier commit",
       [&](host::MemoryStore& s) { put_raw(s, man, f.first_manifest); }},
  };
  for (const auto& [what, attack] : attacks) {
    CAPTURE(what);
    auto copy = f.store.clone();
    attack(*copy);
    CHECK(detected(*copy, f.root, f.model));
  }
}

TEST_CASE("corruption: a damaged, truncated, deleted or rolled-back WAL is detected") {
  Fixture f;
  build(f, 0);
  const std::string wal = file_name(FileKind::kWal, f.root.wal_file_id);
  const uint64_t blocks = f.root.wal_position.blocks;
  REQUIRE(blocks >= 2);
  const std::vector<std::pair<const char*, std::function<void(host::MemoryStore&)>>> attacks = {
      {"flip first block",
       [&](host::MemoryStore& s) { edit(s, wal, [](Bytes& b) { b.at(100) ^= 1; }); }},
      {"flip last block",
       [&](host::MemoryStore& s) {
         edit(s, wal, [&](Bytes& b) { b.at((blocks - 1) * 4096 + 30) ^= 1; });
       }},
      {"truncate",
       [&](host::MemoryStore& s) { edit(s, wal, [](Bytes& b) { b.resize(b.size() - 4096); }); }},
      {"delete", [&](host::MemoryStore& s) { JD_REQUIRE_OK(s.remove(wal)); }},
      {"rolled back to the previous commit",
       [&](host::MemoryStore& s) { put_raw(s, wal, f.wal_at_previous); }},
      {"drop a middle block",
       [&](host::MemoryStore& s) {
         edit(s, wal, [](Bytes& b) { b.erase(b.begin() + 4096, b.begin() + 8192); });
       }},
  };
  for (const auto& [what, attack] : attacks) {
    CAPTURE(what);
    auto copy = f.store.clone();
    attack(*copy);
    CHECK(detected(*copy, f.root, f.model));
  }
  // The rolled-back WAL is exactly what the previous root committed: with that root it is
  // fine, which is why freshness rests on the root (the disk layer's anchor), not the file.
  auto copy = f.store.clone();
  put_raw(*copy, wal, f.wal_at_previous);
  CHECK(LsmIndex::open(*copy, f.previous_root, tamper_options()).is_ok());
}

}  // namespace
}  // namespace jindisk::index::testing
