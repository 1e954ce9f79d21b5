// FaultInjectingStore over a MemoryStore: counting, each fault kind, prefixes, read failures,
// and the crash-exploration loop the wrapper exists for.
#include "host/fault_store.hpp"

#include <doctest/doctest.h>

#include <string>

#include "host/memory_store.hpp"
#include "test_util.hpp"

namespace jindisk::host {
namespace {

using test::bytes;
using test::put_file;
using test::read_file;
using test::text;

std::unique_ptr<File> must_open(Store& store, std::string_view name, OpenMode mode) {
  auto f = store.open(name, mode);
  REQUIRE_MESSAGE(f.is_ok(), f.status().to_string());
  return std::move(f).value();
}

std::string current(MemoryStore& s, std::string_view name) {
  auto all = s.read_all(name);
  REQUIRE_MESSAGE(all.is_ok(), all.status().to_string());
  return text(*all);
}

TEST_CASE("exactly the mutating operations are counted") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  auto f = must_open(s, "a", OpenMode::kCreateNew);  // 1
  REQUIRE(f->write_at(0, bytes("abc")).is_ok());     // 2
  REQUIRE(f->sync().is_ok());                        // 3
  REQUIRE(f->truncate(2).is_ok());                   // 4
  auto g = must_open(s, "a", OpenMode::kExisting);   // not counted
  std::vector<uint8_t> buf(2);
  REQUIRE(g->read_exact(0, buf).is_ok());                 // not counted
  REQUIRE(g->size().is_ok());                             // not counted
  REQUIRE(s.open("a", OpenMode::kCreateOrOpen).is_ok());  // 5, though "a" exists
  REQUIRE(s.rename("a", "b").is_ok());                    // 6
  REQUIRE(s.sync_dir().is_ok());                          // 7
  REQUIRE(s.exists("b").is_ok());                         // not counted
  REQUIRE(s.list().is_ok());                              // not counted
  REQUIRE(s.space().is_ok());                             // not counted
  REQUIRE(s.lock("lock").is_ok());                        // not counted
  REQUIRE(s.remove("b").is_ok());                         // 8
  CHECK(s.ops() == 8);
  CHECK_FALSE(s.fault_fired());
  CHECK_FALSE(s.crashed());
}

TEST_CASE("an injected EIO fails exactly the chosen operation") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  s.set_plan({.at_op = 2, .kind = FaultKind::kIoError});
  auto f = must_open(s, "a", OpenMode::kCreateNew);  // op 1
  Status st = f->write_at(0, bytes("lost"));         // op 2
  CHECK(st.code() == Code::kIoError);
  CHECK(st.message() == "injected EIO at op 2");
  CHECK(current(inner, "a").empty());  // the inner store never saw it
  CHECK(s.fault_fired());
  CHECK_FALSE(s.crashed());
  CHECK(f->write_at(0, bytes("kept")).is_ok());  // op 3
  CHECK(current(inner, "a") == "kept");
}

TEST_CASE("an injected ENOSPC fails exactly the chosen operation with kNoSpace") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  s.set_plan({.at_op = 1, .kind = FaultKind::kNoSpace});
  Status st = s.open("a", OpenMode::kCreateNew).status();
  CHECK(st.code() == Code::kNoSpace);
  CHECK(st.message() == "injected ENOSPC at op 1");
  CHECK_FALSE(*inner.exists("a"));
  CHECK(s.open("a", OpenMode::kCreateNew).is_ok());
  CHECK(s.ops() == 2);
}

TEST_CASE("a crash fails the operation and everything after it") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  put_file(s, "a", "v1");         // ops 1-4 (open, truncate, write, sync)
  REQUIRE(s.sync_dir().is_ok());  // op 5
  auto f = must_open(s, "a", OpenMode::kExisting);
  REQUIRE(f->write_at(0, bytes("v2")).is_ok());  // op 6
  s.set_plan({.at_op = 7, .kind = FaultKind::kCrash});
  CHECK(f->sync().code() == Code::kIoError);  // op 7: the sync never happens
  CHECK(s.crashed());
  CHECK(s.fault_fired());

  std::vector<uint8_t> buf(2);
  CHECK(f->read_at(0, buf).status().code() == Code::kIoError);
  CHECK(f->size().status().code() == Code::kIoError);
  CHECK(f->write_at(0, bytes("v3")).code() == Code::kIoError);
  CHECK(s.open("a", OpenMode::kExisting).status().code() == Code::kIoError);
  CHECK(s.exists("a").status().code() == Code::kIoError);
  CHECK(s.list().status().code() == Code::kIoError);
  CHECK(s.lock("lock").status().code() == Code::kIoError);
  CHECK(s.space().status().code() == Code::kIoError);
  CHECK(s.sync_dir().code() == Code::kIoError);
  CHECK(s.remove("a").code() == Code::kIoError);
  CHECK(s.ops() == 7);                 // nothing counted after the crash
  CHECK(current(inner, "a") == "v2");  // the write before the crash reached the inner store

  inner.simulate_crash();
  CHECK(current(inner, "a") == "v1");  // but was never synced
}

TEST_CASE("a torn write lands exactly its prefix, then the store is dead") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  auto f = must_open(s, "a", OpenMode::kCreateNew);      // op 1
  REQUIRE(f->write_at(0, bytes("0123456789")).is_ok());  // op 2
  s.set_plan({.at_op = 3, .kind = FaultKind::kTornWrite, .torn_bytes = 3});
  CHECK(f->write_at(4, bytes("abcdef")).code() == Code::kIoError);  // op 3
  CHECK(current(inner, "a") == "0123abc789");
  CHECK(s.crashed());
  CHECK(f->write_at(0, bytes("z")).code() == Code::kIoError);
  CHECK(current(inner, "a") == "0123abc789");
}

TEST_CASE("a torn write longer than the data writes all of it; on a non-write it is a crash") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  auto f = must_open(s, "a", OpenMode::kCreateNew);  // op 1
  s.set_plan({.at_op = 2, .kind = FaultKind::kTornWrite, .torn_bytes = 100});
  CHECK(f->write_at(0, bytes("short")).code() == Code::kIoError);
  CHECK(current(inner, "a") == "short");

  s.reset();
  CHECK_FALSE(s.crashed());
  CHECK(s.ops() == 0);
  auto g = must_open(s, "b", OpenMode::kCreateNew);  // op 1
  REQUIRE(g->write_at(0, bytes("data")).is_ok());    // op 2
  s.set_plan({.at_op = 3, .kind = FaultKind::kTornWrite, .torn_bytes = 2});
  CHECK(g->truncate(1).code() == Code::kIoError);  // op 3: no effect, crash
  CHECK(s.crashed());
  CHECK(current(inner, "b") == "data");
}

TEST_CASE("only_prefix counts only operations on matching names") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  s.set_plan({.at_op = 3, .kind = FaultKind::kIoError, .only_prefix = "log-"});
  auto meta = must_open(s, "meta", OpenMode::kCreateNew);  // not counted
  auto log = must_open(s, "log-1", OpenMode::kCreateNew);  // 1
  REQUIRE(meta->write_at(0, bytes("m")).is_ok());          // not counted
  REQUIRE(s.sync_dir().is_ok());                           // no name: not counted
  REQUIRE(log->write_at(0, bytes("l")).is_ok());           // 2
  REQUIRE(meta->sync().is_ok());                           // not counted
  CHECK(s.ops() == 2);
  CHECK(s.rename("tmp-2", "log-2").code() == Code::kIoError);  // 3: the target matches
  CHECK(s.fault_fired());
  REQUIRE(s.rename("meta", "meta-2").is_ok());  // not counted
  CHECK(s.ops() == 3);
}

TEST_CASE("fail_reads fails reads of matching files only") {
  MemoryStore inner;
  FaultInjectingStore s(inner);
  put_file(s, "seg-1", "segment");
  put_file(s, "meta", "meta");
  s.fail_reads("seg-");
  auto seg = must_open(s, "seg-1", OpenMode::kExisting);
  std::vector<uint8_t> buf(4);
  Status st = seg->read_exact(0, buf);
  CHECK(st.code() == Code::kIoError);
  CHECK(st.message().find("injected read EIO") != std::string::npos);
  CHECK(seg->write_at(0, bytes("SEG")).is_ok());  // writes are unaffected
  CHECK(read_file(s, "meta") == "meta");
  CHECK_FALSE(s.crashed());

  s.fail_reads("");
  CHECK(read_file(s, "seg-1") == "SEGment");
}

// The loop the wrapper is built for: count the operations of a workload, then crash at each
// one in turn and check that the atomic-replace protocol leaves old or new content, never a mix.
TEST_CASE("crash exploration of write-sync-rename-sync_dir keeps the file old or new") {
  auto workload = [](Store& s) -> Status {
    JD_ASSIGN_OR_RETURN(auto f, s.open("tmp", OpenMode::kCreateNew));
    JD_TRY(f->write_at(0, bytes("new-content")));
    JD_TRY(f->sync());
    JD_TRY(s.rename("tmp", "current"));
    return s.sync_dir();
  };
  auto prepare = [](MemoryStore& m) { REQUIRE(m.write_all("current", bytes("old")).is_ok()); };

  MemoryStore probe_inner;
  prepare(probe_inner);
  FaultInjectingStore probe(probe_inner);
  REQUIRE(workload(probe).is_ok());
  const uint64_t count = probe.ops();
  CHECK(count == 5);

  int saw_old = 0;
  int saw_new = 0;
  for (uint64_t n = 1; n <= count; ++n) {
    for (FaultKind kind : {FaultKind::kCrash, FaultKind::kTornWrite}) {
      CAPTURE(n);
      MemoryStore inner;
      prepare(inner);
      FaultInjectingStore s(inner);
      s.set_plan({.at_op = n, .kind = kind, .torn_bytes = 4});
      CHECK_FALSE(workload(s).is_ok());
      CHECK(s.fault_fired());
      inner.simulate_crash(CrashMode::kDropUnsynced);
      std::string got = current(inner, "current");
      CHECK((got == "old" || got == "new-content"));
      (got == "old" ? saw_old : saw_new) += 1;
    }
  }
  CHECK(saw_old > 0);
  CHECK(saw_new == 0);  // the final sync_dir is the commit point, and every run crashed by then
}

}  // namespace
}  // namespace jindisk::host
