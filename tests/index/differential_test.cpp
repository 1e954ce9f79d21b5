// Randomized differential test against std::map: puts, trims, gets, scans, commits, reopens
// and compactions in a random mix, with a tiny memtable so that dumps, WAL rotations and
// multi-level compactions happen many times. After each reopen the index must equal the
// model as of the last commit. JINDISK_SEED replays a failing run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

uint64_t seed_from_env(uint64_t fallback) {
  const char* s = std::getenv("JINDISK_SEED");
  return s != nullptr ? std::strtoull(s, nullptr, 0) : fallback;
}

void run_differential(uint64_t seed, uint64_t ops, IndexOptions opt, uint64_t lba_space) {
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  host::MemoryStore store;
  auto idx = create_index(store, opt);
  Model model;
  Model committed_model;
  uint64_t version = 0;
  uint64_t reopens = 0, commits = 0, compactions = 0, dumps = 0;

  for (uint64_t op = 0; op < ops; ++op) {
    CAPTURE(op);
    const uint64_t dice = rng() % 1000;
    const uint64_t lba = rng() % lba_space;
    if (dice < 450) {
      const BlockRef ref = make_ref(lba, ++version);
      const uint64_t before = idx->stats().memtable_entries;
      JD_REQUIRE_OK(idx->put(lba, ref));
      if (idx->stats().memtable_entries < before) ++dumps;
      model[lba] = ref;
    } else if (dice < 550) {
      JD_REQUIRE_OK(idx->remove(lba));
      model.erase(lba);
    } else if (dice < 800) {
      auto got = idx->get(lba);
      REQUIRE_MESSAGE(got.is_ok(), got.status().to_string());
      auto it = model.find(lba);
      if (it == model.end()) {
        REQUIRE_FALSE(got->has_value());
      } else {
        REQUIRE(got->has_value());
        REQUIRE(**got == it->second);
      }
    } else if (dice < 850) {
      const uint64_t last = lba + rng() % 200;
      std::vector<std::pair<uint64_t, BlockRef>> want;
      for (auto it = model.lower_bound(lba); it != model.end() && it->first <= last; ++it) {
        want.emplace_back(it->first, it->second);
      }
      REQUIRE(scan_all(*idx, lba, last) == want);
    } else if (dice < 960) {
      commit(*idx);
      committed_model = model;
      ++commits;
      // Right after a commit nothing may be left over: every index file is in use.
      REQUIRE(idx->unreferenced_files(list_names(store)).empty());
    } else if (dice < 980) {
      JD_REQUIRE_OK(idx->compact_now());
    } else {
      const IndexRoot root = idx->committed_root();
      compactions += idx->stats().compactions;
      idx.reset();
      if (root.next_file_id == 1) {
        idx = create_index(store, opt);  // nothing committed yet: the disk would start over
      } else {
        idx = open_index(store, root, opt);
      }
      remove_unreferenced(store, *idx);
      model = committed_model;
      ++reopens;
      check_equal(*idx, model, lba_space, std::max<uint64_t>(7, lba_space / 150));
    }
  }
  check_equal(*idx, model, lba_space);
  const IndexStats s = idx->stats();
  compactions += s.compactions;
  MESSAGE("seed ", seed, ": ", commits, " commits, ", reopens, " reopens, ", dumps, " dumps, ",
          compactions, " compactions; now ", s.sst_files, " SSTs, depth ", s.levels);
  CHECK(reopens > 10);
  CHECK(dumps > 100);
  CHECK(compactions > 100);
  CHECK(s.levels >= 3);
}

TEST_CASE("differential: random operations match std::map across commits and reopens") {
  const uint64_t seed = seed_from_env(std::random_device{}());
  IndexOptions opt = small_options(24);
  opt.max_wal_blocks = 3;
  run_differential(seed, 60000, opt, 1500);
}

TEST_CASE("differential: a fixed seed with a single-entry level 0 trigger and a large space") {
  IndexOptions opt = small_options(40);
  opt.level0_files = 1;
  opt.level_ratio = 2;
  opt.block_cache_bytes = 0;  // every read goes to the host
  run_differential(seed_from_env(20240601), 30000, opt, 6000);
}

}  // namespace
}  // namespace jindisk::index::testing
