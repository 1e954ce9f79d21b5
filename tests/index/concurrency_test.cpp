// Background compaction while one thread writes (puts, trims, commits) and two threads read.
// Readers check what they can without the writer's model: a value is always one the writer
// stored for that lba, and each reader never sees an lba go back to an older version. At the
// end the index must equal the model. Run under TSan/ASan to catch races.
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <thread>

#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

constexpr uint64_t kLbas = 2000;

// Version numbers are recoverable from a BlockRef by trying the candidates the writer could
// have produced: make_ref(lba, v) puts v in the high bits of hba.
uint64_t version_of(uint64_t lba, const BlockRef& ref) {
  return (ref.hba ^ (lba * 2654435761u)) >> 24;
}

TEST_CASE("concurrency: background compaction with a writer and two readers") {
  host::MemoryStore store;
  IndexOptions opt = small_options(128);
  opt.background_compaction = true;
  opt.level0_files = 2;
  opt.block_cache_bytes = 256 * 1024;
  auto idx = create_index(store, opt);

  std::atomic<bool> done{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<int> bad{0};
  auto reader = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> seen(kLbas, 0);
    while (!done) {
      const uint64_t lba = rng() % kLbas;
      if (rng() % 10 == 0) {
        Status st = idx->scan(lba, lba + 50, [&](uint64_t l, const BlockRef& ref) {
          if (ref != make_ref(l, version_of(l, ref))) ++bad;
          return Status::ok();
        });
        if (!st.is_ok()) ++bad;
        continue;
      }
      auto got = idx->get(lba);
      if (!got.is_ok()) {
        ++bad;
        continue;
      }
      ++reads;
      if (!got->has_value()) continue;  // trimmed or not yet written
      const uint64_t v = version_of(lba, **got);
      if (**got != make_ref(lba, v) || v < seen[lba]) ++bad;
      seen[lba] = v;
    }
  };

  std::thread r1(reader, 1);
  std::thread r2(reader, 2);
  Model model;
  std::mt19937_64 rng(3);
  for (uint64_t version = 1; version <= 60000; ++version) {
    const uint64_t lba = rng() % kLbas;
    if (rng() % 8 == 0) {
      JD_REQUIRE_OK(idx->remove(lba));
      model.erase(lba);
    } else {
      JD_REQUIRE_OK(idx->put(lba, make_ref(lba, version)));
      model[lba] = make_ref(lba, version);
    }
    if (version % 1000 == 0) commit(*idx);
    if (version % 97 == 0) {
      auto got = idx->get(lba);
      REQUIRE(got.is_ok());
      CHECK(got->has_value() == model.contains(lba));
    }
  }
  done = true;
  r1.join();
  r2.join();
  CHECK(bad == 0);
  CHECK(reads > 1000);
  CHECK(idx->stats().compactions > 0);
  check_equal(*idx, model, kLbas);

  const IndexRoot root = commit(*idx);
  idx.reset();  // stops the compaction thread
  auto reopened = open_index(store, root, opt);
  check_equal(*reopened, model, kLbas);
}

}  // namespace
}  // namespace jindisk::index::testing
