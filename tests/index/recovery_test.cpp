// Recovery: what a committed root brings back, what it does not, leftovers of uncommitted
// work, failed root writes, and host errors (EIO, ENOSPC) during dumps and commits.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

std::set<std::string> as_set(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

TEST_CASE("recovery: open brings back the last commit exactly, not what came after") {
  host::MemoryStore store;
  const IndexOptions opt = small_options(16);
  auto idx = create_index(store, opt);
  Model model;
  for (uint64_t lba = 0; lba < 50; ++lba) {
    JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
    model[lba] = make_ref(lba, 1);
  }
  JD_REQUIRE_OK(idx->remove(7));
  model.erase(7);
  const IndexRoot r1 = commit(*idx);
  const Model at_r1 = model;
  const std::set<std::string> files_r1 = as_set(list_names(store));

  // Uncommitted: overwrites, trims and new lbas, several dumps, a compaction.
  for (uint64_t lba = 30; lba < 150; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 2)));
  JD_REQUIRE_OK(idx->remove(3));
  JD_REQUIRE_OK(idx->compact_now());
  CHECK(idx->stats().compactions > 0);
  // A second commit attempt whose root write "fails": its files exist, but they are not
  // committed (and the root may or may not have landed).
  auto r2 = idx->prepare_commit();
  REQUIRE(r2.is_ok());
  idx->commit_failed();
  Model at_r2 = model;
  for (uint64_t lba = 30; lba < 150; ++lba) at_r2[lba] = make_ref(lba, 2);
  at_r2.erase(3);
  for (uint64_t lba = 200; lba < 210; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 3)));
  idx.reset();  // the process dies without another commit

  // A root that landed despite the reported failure is still whole...
  {
    auto landed = open_index(store, *r2, opt);
    check_equal(*landed, at_r2, 300);
  }
  // ...and the last acknowledged one is exactly r1.
  auto reopened = open_index(store, r1, opt);
  check_equal(*reopened, at_r1, 300);
  const auto leftovers = reopened->unreferenced_files(list_names(store));
  CHECK(leftovers.size() >= 4);  // dumped SSTs, compaction output, the new WAL, a manifest
  for (const std::string& n : leftovers) {
    CHECK(is_index_file(n));
    CHECK_FALSE(files_r1.contains(n));
  }
  // Names that are not the index's are never listed.
  CHECK(reopened->unreferenced_files({"root", "seg-0000000000000001", "lock"}).empty());
  CHECK(remove_unreferenced(store, *reopened) == leftovers.size());
  CHECK(as_set(list_names(store)) == files_r1);

  // Still opens after the cleanup, and keeps working from there.
  reopened.reset();
  auto again = open_index(store, r1, opt);
  check_equal(*again, at_r1, 300);
  for (uint64_t lba = 0; lba < 40; ++lba) {
    JD_REQUIRE_OK(again->put(lba, make_ref(lba, 4)));
    model[lba] = make_ref(lba, 4);
  }
  Model final_model = at_r1;
  for (uint64_t lba = 0; lba < 40; ++lba) final_model[lba] = make_ref(lba, 4);
  const IndexRoot r3 = commit(*again);
  again.reset();
  auto last = open_index(store, r3, opt);
  check_equal(*last, final_model, 300);
}

TEST_CASE("recovery: a new WAL is started when the old one outgrows max_wal_blocks") {
  host::MemoryStore store;
  IndexOptions opt = small_options(100000);  // never dumps because of size
  opt.max_wal_blocks = 4;
  auto idx = create_index(store, opt);
  Model model;
  std::set<uint64_t> wal_ids;
  for (int round = 0; round < 20; ++round) {
    for (uint64_t lba = 0; lba < 100; ++lba) {
      JD_REQUIRE_OK(idx->put(lba + round, make_ref(lba + round, round)));
      model[lba + round] = make_ref(lba + round, round);
    }
    const IndexRoot r = commit(*idx);
    wal_ids.insert(r.wal_file_id);
    CHECK(r.wal_position.blocks <= opt.max_wal_blocks + 3);
  }
  CHECK(wal_ids.size() > 3);
  CHECK(index_files(store, FileKind::kWal).size() == 1);  // old WALs removed
  const IndexRoot root = idx->committed_root();
  idx.reset();
  check_equal(*open_index(store, root, opt), model, 200);
}

TEST_CASE("recovery: prepare_commit may be repeated after a failed root write") {
  host::MemoryStore store;
  const IndexOptions opt = small_options(8);
  auto idx = create_index(store, opt);
  Model model;
  IndexRoot last{};
  for (uint64_t round = 0; round < 30; ++round) {
    for (uint64_t lba = round; lba < round + 6; ++lba) {
      JD_REQUIRE_OK(idx->put(lba, make_ref(lba, round)));
      model[lba] = make_ref(lba, round);
    }
    auto r = idx->prepare_commit();
    REQUIRE(r.is_ok());
    if (round % 3 == 0) {
      idx->commit_failed();
    } else if (round % 3 == 1) {
      // No verdict at all before the next attempt: also a failure.
    } else {
      idx->commit_succeeded(*r);
      last = *r;
      // Every prepared-but-failed attempt's files are gone once a commit succeeded.
      CHECK(idx->unreferenced_files(list_names(store)).empty());
    }
  }
  idx.reset();
  check_equal(*open_index(store, last, opt), model, 60);
}

// Runs puts that dump twice, then a prepare_commit, with the k-th mutating host operation
// failing; returns false once k is past the last operation of the workload.
bool run_with_fault(host::FaultKind kind, uint64_t k) {
  CAPTURE(k);
  host::MemoryStore inner;
  host::FaultInjectingStore fs(inner);
  const IndexOptions opt = small_options(16);
  auto idx = create_index(fs, opt);
  Model model;
  for (uint64_t lba = 0; lba < 30; ++lba) {
    JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
    model[lba] = make_ref(lba, 1);
  }
  commit(*idx);

  fs.set_plan(host::FaultPlan{fs.ops() + k, kind, 0, ""});
  const Code want = kind == host::FaultKind::kNoSpace ? Code::kNoSpace : Code::kIoError;
  int errors = 0;
  for (uint64_t lba = 20; lba < 60; ++lba) {
    Status st = idx->put(lba, make_ref(lba, 2));
    model[lba] = make_ref(lba, 2);  // even a failed dump keeps the entry in the memtable
    if (!st.is_ok()) {
      CHECK(st.code() == want);
      ++errors;
    }
  }
  JD_REQUIRE_OK(idx->remove(3));
  model.erase(3);
  auto r = idx->prepare_commit();
  if (!r.is_ok()) {
    CHECK(r.status().code() == want);
    ++errors;
  }
  const bool fired = fs.fault_fired();
  fs.set_plan(host::FaultPlan{});
  if (!fired) {
    idx->commit_succeeded(*r);
    return false;
  }
  // No operation of a dump or a commit may fail silently.
  CHECK(errors > 0);
  if (r.is_ok()) idx->commit_succeeded(*r);
  // The index still answers everything from memory...
  check_equal(*idx, model, 80);
  // ...and the next commit, with the host healthy again, makes all of it durable.
  const IndexRoot root = commit(*idx);
  idx.reset();
  inner.simulate_crash(host::CrashMode::kDropUnsynced);
  auto reopened = open_index(inner, root, opt);
  check_equal(*reopened, model, 80);
  remove_unreferenced(inner, *reopened);
  reopened.reset();
  check_equal(*open_index(inner, root, opt), model, 80);
  return true;
}

TEST_CASE("fault_injection: EIO at each host operation of dumps and prepare_commit") {
  uint64_t k = 1;
  while (run_with_fault(host::FaultKind::kIoError, k)) ++k;
  CHECK(k > 15);
}

TEST_CASE("fault_injection: ENOSPC at each host operation of dumps and prepare_commit") {
  uint64_t k = 1;
  while (run_with_fault(host::FaultKind::kNoSpace, k)) ++k;
  CHECK(k > 15);
}

TEST_CASE("fault_injection: a full host fails the commit, and freeing space lets it through") {
  host::MemoryStore store;
  auto idx = create_index(store, small_options(32));
  Model model;
  for (uint64_t lba = 0; lba < 20; ++lba) {
    JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
    model[lba] = make_ref(lba, 1);
  }
  commit(*idx);
  store.set_capacity(1);  // far below what is already there: every growth fails
  Status dump_error;
  for (uint64_t lba = 100; lba < 200; ++lba) {
    Status st = idx->put(lba, make_ref(lba, 1));
    model[lba] = make_ref(lba, 1);
    if (!st.is_ok()) dump_error = st;
  }
  CHECK(dump_error.code() == Code::kNoSpace);
  CHECK(idx->stats().memtable_entries == 120);  // nothing lost, nothing dumped
  CHECK(idx->prepare_commit().status().code() == Code::kNoSpace);
  check_equal(*idx, model, 250);
  store.set_capacity(0);
  const IndexRoot root = commit(*idx);
  idx.reset();
  check_equal(*open_index(store, root, small_options(32)), model, 250);
}

TEST_CASE("fault_injection: a failing SST read is an error, never a wrong answer") {
  host::MemoryStore inner;
  host::FaultInjectingStore fs(inner);
  IndexOptions opt = small_options(16);
  opt.block_cache_bytes = 0;
  auto idx = create_index(fs, opt);
  for (uint64_t lba = 0; lba < 40; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
  fs.fail_reads("sst-");
  CHECK(idx->get(0).status().code() == Code::kIoError);
  CHECK(idx->scan(0, 100, [](uint64_t, const BlockRef&) { return Status::ok(); }).code() ==
        Code::kIoError);
  CHECK(idx->get(39).value() == make_ref(39, 1));  // still in the memtable
  fs.fail_reads("");
  CHECK(idx->get(0).value() == make_ref(0, 1));
}

}  // namespace
}  // namespace jindisk::index::testing

namespace jindisk::index::testing {
namespace {

TEST_CASE("recovery: files already named like the next ids are stepped over, never reused") {
  host::MemoryStore store;
  const IndexOptions opt = small_options(8);
  auto idx = create_index(store, opt);
  for (uint64_t lba = 0; lba < 4; ++lba) JD_REQUIRE_OK(idx->put(lba, make_ref(lba, 1)));
  const IndexRoot r1 = commit(*idx);
  idx.reset();

  // Leftovers right at the counter (as a crash leaves them) and a planted far-away id.
  const Bytes junk(100, 0xab);
  for (uint64_t id = r1.next_file_id; id < r1.next_file_id + 3; ++id) {
    put_raw(store, file_name(FileKind::kSst, id), junk);
  }
  put_raw(store, file_name(FileKind::kWal, UINT64_MAX - 2), junk);

  auto reopened = open_index(store, r1, opt);
  Model model;
  for (uint64_t lba = 0; lba < 40; ++lba) {
    JD_REQUIRE_OK(reopened->put(lba, make_ref(lba, 2)));
    model[lba] = make_ref(lba, 2);
  }
  const IndexRoot r2 = commit(*reopened);
  CHECK(r2.next_file_id < r1.next_file_id + 1000);  // the planted id did not move the counter
  // The junk is untouched and still reported as leftovers; the new files are elsewhere.
  for (uint64_t id = r1.next_file_id; id < r1.next_file_id + 3; ++id) {
    CHECK(raw(store, file_name(FileKind::kSst, id)) == junk);
  }
  const auto leftovers = reopened->unreferenced_files(list_names(store));
  CHECK(leftovers.size() == 4);
  remove_unreferenced(store, *reopened);
  reopened.reset();
  check_equal(*open_index(store, r2, opt), model, 50);
}

}  // namespace
}  // namespace jindisk::index::testing
