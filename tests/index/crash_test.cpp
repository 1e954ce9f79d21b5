// Crash exploration: a workload of puts, trims, compactions and commits runs over a
// FaultInjectingStore that "crashes" at its N-th mutating host operation, for every N. The
// host then forgets what a power cut may lose, and the index must open from the last root
// whose commit returned OK (the test keeps that root, standing in for the root slots) and
// equal the model as of that commit; then it must keep working.
#include <doctest/doctest.h>

#include <optional>
#include <random>

#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

constexpr uint64_t kLbaSpace = 120;

IndexOptions crash_options() {
  IndexOptions o = small_options(12);
  o.max_wal_blocks = 2;
  return o;
}

struct Outcome {
  std::optional<IndexRoot> root;  // last root whose commit returned OK
  Model model;                    // the model as of that root
  int commits = 0;
};

// Deterministic workload; stops at the first host error (after a crash every operation fails).
Outcome workload(host::Store& store) {
  Outcome out;
  std::mt19937_64 rng(7);
  auto created = LsmIndex::create(store, crash_options());
  if (!created.is_ok()) return out;
  std::unique_ptr<LsmIndex> idx = std::move(created).value();
  Model model;
  uint64_t version = 0;
  for (int c = 0; c < 32; ++c) {
    const int n = static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      const uint64_t lba = rng() % kLbaSpace;
      Status st;
      if (rng() % 5 == 0) {
        st = idx->remove(lba);
        model.erase(lba);
      } else {
        model[lba] = make_ref(lba, ++version);
        st = idx->put(lba, model[lba]);
      }
      if (!st.is_ok()) return out;
    }
    if (c % 7 == 6 && !idx->compact_now().is_ok()) return out;
    auto root = idx->prepare_commit();
    if (!root.is_ok()) return out;
    // The root slot write is simulated and always succeeds once prepare_commit did.
    idx->commit_succeeded(*root);
    out.root = *root;
    out.model = model;
    ++out.commits;
  }
  return out;
}

void check_recovers(host::MemoryStore& inner, const Outcome& out, uint64_t n) {
  CAPTURE(n);
  if (!out.root) return;  // nothing was ever committed: the disk would be formatted again
  auto idx = LsmIndex::open(inner, *out.root, crash_options());
  REQUIRE_MESSAGE(idx.is_ok(), idx.status().to_string());
  check_equal(**idx, out.model, kLbaSpace);
  remove_unreferenced(inner, **idx);
  // Life goes on after recovery: new files must not collide with anything left behind.
  Model model = out.model;
  for (uint64_t lba = 0; lba < 30; ++lba) {
    JD_REQUIRE_OK((*idx)->put(lba, make_ref(lba, 1u << 30)));
    model[lba] = make_ref(lba, 1u << 30);
  }
  const IndexRoot root = commit(**idx);
  idx->reset();
  inner.simulate_crash(host::CrashMode::kDropUnsynced);
  auto again = LsmIndex::open(inner, root, crash_options());
  REQUIRE_MESSAGE(again.is_ok(), again.status().to_string());
  check_equal(**again, model, kLbaSpace);
}

void explore(host::CrashMode mode) {
  uint64_t total = 0;
  {
    host::MemoryStore inner;
    host::FaultInjectingStore fs(inner);
    const Outcome full = workload(fs);
    REQUIRE(full.commits == 32);
    total = fs.ops();
    MESSAGE("crash exploration over ", total, " host operations");
  }
  REQUIRE(total > 200);
  for (uint64_t n = 1; n <= total; ++n) {
    host::MemoryStore inner;
    Outcome out;
    {
      host::FaultInjectingStore fs(inner);
      fs.set_plan(host::FaultPlan{n, host::FaultKind::kCrash, 0, ""});
      out = workload(fs);
      REQUIRE(fs.fault_fired());
    }
    inner.simulate_crash(mode, n);
    check_recovers(inner, out, n);
  }
}

TEST_CASE("crash at every host operation, unsynced writes dropped, recovers the last commit") {
  explore(host::CrashMode::kDropUnsynced);
}

TEST_CASE("crash at every host operation, a random subset of unsynced writes kept") {
  explore(host::CrashMode::kRandomSubset);
}

TEST_CASE("crash at every host operation with a torn write") {
  uint64_t total = 0;
  {
    host::MemoryStore inner;
    host::FaultInjectingStore fs(inner);
    (void)workload(fs);
    total = fs.ops();
  }
  for (uint64_t n = 1; n <= total; n += 3) {
    host::MemoryStore inner;
    Outcome out;
    {
      host::FaultInjectingStore fs(inner);
      fs.set_plan(host::FaultPlan{n, host::FaultKind::kTornWrite, 1000, ""});
      out = workload(fs);
    }
    inner.simulate_crash(host::CrashMode::kKeepUnsynced);
    check_recovers(inner, out, n);
  }
}

}  // namespace
}  // namespace jindisk::index::testing
