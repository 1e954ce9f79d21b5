// The mapping contract: put/get/remove/scan with tombstones and overwrites, across the
// memtable and several SST levels; statistics; the memory bound of the memtable.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

TEST_CASE("a new index maps nothing and commits an empty root") {
  host::MemoryStore store;
  auto idx = create_index(store, small_options());
  auto got = idx->get(0);
  REQUIRE(got.is_ok());
  CHECK_FALSE(got->has_value());
  CHECK(scan_all(*idx).empty());
  const IndexRoot root = commit(*idx);
  CHECK(root.manifest.file_id == 0);  // no SSTs yet
  CHECK(root.wal_file_id != 0);
  auto reopened = open_index(store, root, small_options());
  CHECK(scan_all(*reopened).empty());
}

TEST_CASE("put, overwrite and remove are visible at once, newest wins") {
  host::MemoryStore store;
  auto idx = create_index(store, small_options());
  JD_REQUIRE_OK(idx->put(5, make_ref(5, 1)));
  JD_REQUIRE_OK(idx->put(3, make_ref(3, 1)));
  JD_REQUIRE_OK(idx->put(5, make_ref(5, 2)));
  CHECK(idx->get(5).value() == make_ref(5, 2));
  CHECK(idx->get(3).value() == make_ref(3, 1));
  JD_REQUIRE_OK(idx->remove(3));
  CHECK_FALSE(idx->get(3).value().has_value());
  JD_REQUIRE_OK(idx->remove(4));  // trimming an unmapped lba is fine
  CHECK_FALSE(idx->get(4).value().has_value());
  const auto all = scan_all(*idx);
  REQUIRE(all.size() == 1);
  CHECK(all[0].first == 5);
  CHECK(all[0].second == make_ref(5, 2));
  // The all-ones hba is reserved for tombstones.
  BlockRef bad = make_ref(1, 1);
  bad.hba = UINT64_MAX;
  CHECK(idx->put(1, bad).code() == Code::kInvalidArgument);
}

TEST_CASE("exchange puts a batch and returns what each LBA mapped to, from memtable or SSTs") {
  host::MemoryStore store;
  // A memtable larger than a batch and smaller than two rounds: old values come from the
  // memtable (live or trimmed), from SSTs, and from nowhere.
  auto idx = create_index(store, small_options(700));
  Model model;
  std::mt19937_64 rng(7);
  size_t from_memtable = 0;  // old values the memtable held (counted before the batch)
  for (uint64_t round = 1; round <= 6; ++round) {
    std::vector<uint64_t> lbas;
    for (uint64_t lba = round % 2; lba < 600; lba += 1 + round % 3) lbas.push_back(lba);
    std::shuffle(lbas.begin(), lbas.end(), rng);
    for (size_t first = 0; first < lbas.size(); first += 50) {
      const size_t count = std::min<size_t>(50, lbas.size() - first);
      std::span<const uint64_t> batch(lbas.data() + first, count);
      std::vector<BlockRef> refs;
      for (uint64_t lba : batch) refs.push_back(make_ref(lba, round));
      const size_t mem_before = idx->stats().memtable_entries;
      std::vector<Result<std::optional<BlockRef>>> previous;
      JD_REQUIRE_OK(idx->exchange(batch, refs, previous));
      const size_t mem_after = idx->stats().memtable_entries;
      // Without a dump, the memtable grew by the LBAs it lacked: the rest it held already.
      if (mem_after >= mem_before) from_memtable += mem_before + count - mem_after;
      REQUIRE(previous.size() == count);
      for (size_t i = 0; i < count; ++i) {
        CAPTURE(batch[i]);
        JD_REQUIRE_OK(previous[i].status());
        auto it = model.find(batch[i]);
        if (it == model.end()) {
          CHECK_FALSE(previous[i]->has_value());
        } else {
          REQUIRE(previous[i]->has_value());
          CHECK(**previous[i] == it->second);
        }
        model[batch[i]] = refs[i];
      }
    }
    for (uint64_t lba = round; lba < 600; lba += 37) {
      JD_REQUIRE_OK(idx->remove(lba));
      model.erase(lba);
    }
  }
  check_equal(*idx, model, 600);
  // Enough memtable hits that live ones are among them (trims are 1 LBA in 37).
  MESSAGE(from_memtable << " old values came from the memtable");
  CHECK(from_memtable >= 200);
  // Whole batches are checked before anything changes.
  std::vector<Result<std::optional<BlockRef>>> previous;
  BlockRef bad = make_ref(1, 9);
  bad.hba = UINT64_MAX;
  const std::vector<uint64_t> two{1, 2};
  CHECK(idx->exchange(two, std::vector<BlockRef>{make_ref(1, 9), bad}, previous).code() ==
        Code::kInvalidArgument);
  CHECK(idx->exchange(two, std::vector<BlockRef>{make_ref(1, 9)}, previous).code() ==
        Code::kInvalidArgument);
  check_equal(*idx, model, 600);
}

TEST_CASE("entries spread over memtable and several SST levels read back newest first") {
  host::MemoryStore store;
  IndexOptions opt = small_options(64);
  auto idx = create_index(store, opt);
  Model model;
  // Round r writes every 1 + r % 3 lba of [0, 1000) with version r, and trims some; each
  // round spills several memtables, so older rounds sink into deeper levels.
  for (uint64_t round = 1; round <= 8; ++round) {
    for (uint64_t lba = round % 3; lba < 1000; lba += 1 + round % 3) {
      if ((lba + round) % 11 == 0) {
        JD_REQUIRE_OK(idx->remove(lba));
        model.erase(lba);
      } else {
        JD_REQUIRE_OK(idx->put(lba, make_ref(lba, round)));
        model[lba] = make_ref(lba, round);
      }
    }
    // The last rounds stay in level 0, above the compacted ones.
    if (round <= 6) JD_REQUIRE_OK(idx->compact_now());
  }
  // A last few puts stay in the memtable, above everything.
  for (uint64_t lba = 0; lba < 20; ++lba) {
    JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 99)));
    model[lba] = make_ref(lba, 99);
  }
  const IndexStats s = idx->stats();
  CHECK(s.levels >= 3);
  CHECK(s.sst_files >= 2);
  CHECK(s.compactions > 0);
  CHECK(s.memtable_entries > 0);
  CHECK(s.sst_entries >= model.size() - 20);
  check_equal(*idx, model, 1100);

  // Sub-ranges: edges inside and outside, a single lba, an empty range.
  for (auto [first, last] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 0}, {10, 30}, {500, 777}, {990, 5000}, {2000, 3000}, {7, 7}}) {
    std::vector<std::pair<uint64_t, BlockRef>> want;
    for (auto it = model.lower_bound(first); it != model.end() && it->first <= last; ++it) {
      want.emplace_back(it->first, it->second);
    }
    CHECK(scan_all(*idx, first, last) == want);
  }
  CHECK(scan_all(*idx, 10, 9).empty());

  // The same after a commit and reopen.
  const IndexRoot root = commit(*idx);
  idx.reset();
  auto reopened = open_index(store, root, opt);
  check_equal(*reopened, model, 1100);
}

TEST_CASE("a tombstone in a newer level hides the older mapping below it") {
  host::MemoryStore store;
  IndexOptions opt = small_options(16);
  opt.level0_files = 2;
  auto idx = create_index(store, opt);
  for (uint64_t lba = 0; lba < 64; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
  JD_REQUIRE_OK(idx->compact_now());  // into level 1
  for (uint64_t lba = 0; lba < 64; lba += 2) JD_REQUIRE_OK(idx->remove(lba));
  // Filler so the tombstones leave the memtable for level 0.
  for (uint64_t lba = 1000; lba < 1016; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
  CHECK(idx->stats().memtable_entries < 16);
  for (uint64_t lba = 0; lba < 64; ++lba) {
    auto got = idx->get(lba);
    REQUIRE(got.is_ok());
    CHECK(got->has_value() == (lba % 2 == 1));
  }
  const auto all = scan_all(*idx, 0, 63);
  CHECK(all.size() == 32);
  // A visit error stops the scan and comes back.
  int visits = 0;
  Status st = idx->scan(0, 100, [&](uint64_t, const BlockRef&) {
    return ++visits == 3 ? Status::io_error("stop") : Status::ok();
  });
  CHECK(st.code() == Code::kIoError);
  CHECK(visits == 3);
}

TEST_CASE("compaction into the bottom level drops tombstones and shadowed versions") {
  host::MemoryStore store;
  IndexOptions opt = small_options(32);
  opt.level0_files = 2;
  auto idx = create_index(store, opt);
  for (int round = 0; round < 4; ++round) {
    for (uint64_t lba = 0; lba < 32; ++lba) {
      if (round == 3) {
        JD_REQUIRE_OK(idx->remove(lba));
      } else {
        JD_REQUIRE_OK(idx->put(lba, make_ref(lba, round)));
      }
    }
  }
  JD_REQUIRE_OK(idx->compact_now());
  const IndexStats s = idx->stats();
  // 4 x 32 entries went in; all versions and the tombstones are gone.
  CHECK(s.sst_entries == 0);
  CHECK(s.sst_files == 0);
  CHECK(scan_all(*idx).empty());
  const IndexRoot root = commit(*idx);
  CHECK(root.manifest.file_id == 0);
  auto reopened = open_index(store, root, opt);
  CHECK(scan_all(*reopened).empty());
}

TEST_CASE("memtable memory stays bounded over 200k distinct puts") {
  host::MemoryStore store;
  IndexOptions opt;
  opt.memtable_entries = 1024;
  opt.background_compaction = true;
  opt.block_cache_bytes = 1 << 20;
  auto idx = create_index(store, opt);
  uint64_t max_seen = 0;
  for (uint64_t lba = 0; lba < 200000; ++lba) {
    JD_REQUIRE_OK(idx->put(lba * 7, make_ref(lba * 7, 1)));
    max_seen = std::max(max_seen, idx->stats().memtable_entries);
    if (lba % 20000 == 19999) commit(*idx);
  }
  CHECK(max_seen <= 1024);
  CHECK(max_seen >= 1023);  // it did fill up (the 1024th put dumps), so the bound was exercised
  JD_REQUIRE_OK(idx->compact_now());
  const IndexStats s = idx->stats();
  CHECK(s.memtable_entries <= 1024);
  CHECK(s.sst_entries >= 200000 - 1024);
  CHECK(s.host_bytes_written > s.sst_bytes);
  // Spot checks after all that.
  for (uint64_t lba : {0u, 7u, 7u * 123456u, 7u * 199999u}) {
    CHECK(idx->get(lba).value() == make_ref(lba, 1));
  }
  CHECK_FALSE(idx->get(1).value().has_value());
}

}  // namespace
}  // namespace jindisk::index::testing
