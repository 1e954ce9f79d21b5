// MemoryStore's crash model: what survives simulate_crash() in each mode, capacity, clone.
#include "host/memory_store.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

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

// "base" is durable (content and name); then `pending` runs without any sync.
template <typename Fn>
void with_durable_base(MemoryStore& s, Fn pending) {
  put_file(s, "base", "AAAA");
  REQUIRE(s.sync_dir().is_ok());
  pending();
}

TEST_CASE("an unsynced write is lost and a synced one kept under kDropUnsynced") {
  MemoryStore s;
  with_durable_base(s, [&] {
    auto f = must_open(s, "base", OpenMode::kExisting);
    REQUIRE(f->write_at(0, bytes("BB")).is_ok());
    REQUIRE(f->sync().is_ok());
    REQUIRE(f->write_at(2, bytes("CC")).is_ok());
    REQUIRE(f->truncate(3).is_ok());
  });
  CHECK(current(s, "base") == "BBC");
  s.simulate_crash(CrashMode::kDropUnsynced);
  CHECK(current(s, "base") == "BBAA");
}

TEST_CASE("a name not made durable by sync_dir disappears in a crash") {
  MemoryStore s;
  put_file(s, "fresh", "synced content");  // the file is synced, its directory entry is not
  s.simulate_crash();
  CHECK_FALSE(*s.exists("fresh"));
  CHECK(s.list()->empty());
}

TEST_CASE("a removal without sync_dir is undone, with the durable content") {
  MemoryStore s;
  with_durable_base(s, [&] {
    auto f = must_open(s, "base", OpenMode::kExisting);
    REQUIRE(f->write_at(0, bytes("ZZ")).is_ok());  // unsynced
    REQUIRE(s.remove("base").is_ok());
  });
  CHECK_FALSE(*s.exists("base"));
  s.simulate_crash();
  CHECK(current(s, "base") == "AAAA");

  REQUIRE(s.remove("base").is_ok());
  REQUIRE(s.sync_dir().is_ok());
  s.simulate_crash();
  CHECK_FALSE(*s.exists("base"));
}

TEST_CASE("a rename without sync_dir reverts, with sync_dir it holds") {
  MemoryStore s;
  with_durable_base(s, [&] {
    put_file(s, "next", "BBBB");
    REQUIRE(s.rename("next", "base").is_ok());
  });
  CHECK(current(s, "base") == "BBBB");
  s.simulate_crash();
  CHECK(current(s, "base") == "AAAA");
  CHECK_FALSE(*s.exists("next"));

  put_file(s, "next", "CCCC");
  REQUIRE(s.rename("next", "base").is_ok());
  REQUIRE(s.sync_dir().is_ok());
  s.simulate_crash();
  CHECK(current(s, "base") == "CCCC");
  CHECK_FALSE(*s.exists("next"));
}

TEST_CASE("kKeepUnsynced keeps every write and durable name") {
  MemoryStore s;
  with_durable_base(s, [&] {
    auto f = must_open(s, "base", OpenMode::kExisting);
    REQUIRE(f->write_at(4, bytes("BB")).is_ok());
    auto g = must_open(s, "unnamed", OpenMode::kCreateNew);  // name never synced
    REQUIRE(g->write_at(0, bytes("x")).is_ok());
  });
  s.simulate_crash(CrashMode::kKeepUnsynced);
  CHECK(current(s, "base") == "AAAABB");
  CHECK_FALSE(*s.exists("unnamed"));
  // What was kept is now durable: a second crash does not lose it.
  s.simulate_crash(CrashMode::kDropUnsynced);
  CHECK(current(s, "base") == "AAAABB");
}

// Runs the same two pending writes and crashes with `seed`.
std::string random_crash(uint64_t seed) {
  MemoryStore s;
  with_durable_base(s, [&] {
    auto f = must_open(s, "base", OpenMode::kExisting);
    REQUIRE(f->write_at(0, bytes("BB")).is_ok());
    REQUIRE(f->write_at(2, bytes("CC")).is_ok());
  });
  s.simulate_crash(CrashMode::kRandomSubset, seed);
  return current(s, "base");
}

TEST_CASE("kRandomSubset keeps an allowed subset of the pending writes, per seed") {
  const std::set<std::string> allowed = {"AAAA", "BBAA", "AACC", "BBCC"};
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    std::string got = random_crash(seed);
    CAPTURE(seed);
    CHECK(allowed.contains(got));
    CHECK(random_crash(seed) == got);  // a seed replays
    seen.insert(got);
  }
  CHECK(seen == allowed);  // 64 seeds reach every combination
}

TEST_CASE("a crash settles the pending writes: a second crash does not replay them") {
  for (uint64_t seed = 0; seed < 16; ++seed) {
    MemoryStore s;
    with_durable_base(s, [&] {
      auto f = must_open(s, "base", OpenMode::kExisting);
      REQUIRE(f->write_at(0, bytes("BB")).is_ok());
      REQUIRE(f->write_at(2, bytes("CC")).is_ok());
    });
    s.simulate_crash(CrashMode::kRandomSubset, seed);
    std::string first = current(s, "base");
    s.simulate_crash(CrashMode::kRandomSubset, seed + 1000);
    CHECK(current(s, "base") == first);
    s.simulate_crash(CrashMode::kKeepUnsynced);
    CHECK(current(s, "base") == first);
  }
}

TEST_CASE("kRandomSubset applies or drops a pending truncate, in order") {
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    MemoryStore s;
    with_durable_base(s, [&] {
      auto f = must_open(s, "base", OpenMode::kExisting);
      REQUIRE(f->truncate(1).is_ok());
    });
    s.simulate_crash(CrashMode::kRandomSubset, seed);
    seen.insert(current(s, "base"));
  }
  CHECK(seen == std::set<std::string>{"A", "AAAA"});
}

TEST_CASE("files opened before a crash fail afterwards; new ones work") {
  MemoryStore s;
  with_durable_base(s, [] {});
  auto old = must_open(s, "base", OpenMode::kExisting);
  s.simulate_crash();
  std::vector<uint8_t> buf(4);
  CHECK(old->read_at(0, buf).status().code() == Code::kIoError);
  CHECK(old->write_at(0, bytes("x")).code() == Code::kIoError);
  CHECK(old->sync().code() == Code::kIoError);
  CHECK(old->size().status().code() == Code::kIoError);
  CHECK(old->truncate(0).code() == Code::kIoError);
  CHECK(current(s, "base") == "AAAA");  // the failed calls changed nothing

  auto fresh = must_open(s, "base", OpenMode::kExisting);
  CHECK(fresh->read_exact(0, buf).is_ok());
}

TEST_CASE("a crash releases locks, and a stale DirLock does not release the new holder") {
  MemoryStore s;
  auto first = s.lock("lock");
  REQUIRE(first.is_ok());
  REQUIRE(s.sync_dir().is_ok());
  s.simulate_crash();
  auto second = s.lock("lock");
  REQUIRE(second.is_ok());
  CHECK((*first)->set_owner(1).code() == Code::kIoError);
  first->reset();  // destroying the pre-crash lock must leave the new one held
  CHECK(s.lock("lock").status().code() == Code::kBusy);
}

TEST_CASE("files and locks may outlive the store") {
  std::unique_ptr<File> f;
  std::unique_ptr<DirLock> l;
  {
    MemoryStore s;
    f = must_open(s, "orphan", OpenMode::kCreateNew);
    auto held = s.lock("lock");
    REQUIRE(held.is_ok());
    l = std::move(held).value();
  }
  CHECK(f->write_at(0, bytes("still here")).is_ok());
  std::vector<uint8_t> buf(10);
  CHECK(f->read_exact(0, buf).is_ok());
  CHECK(l->set_owner(2).is_ok());
}

TEST_CASE("capacity limits total bytes and a refused write has no effect") {
  MemoryStore s;
  s.set_capacity(100);
  auto a = must_open(s, "a", OpenMode::kCreateNew);
  REQUIRE(a->write_at(0, std::vector<uint8_t>(60, 1)).is_ok());
  auto b = must_open(s, "b", OpenMode::kCreateNew);
  REQUIRE(b->write_at(0, bytes("0123456789")).is_ok());

  CHECK(s.space()->total_bytes == 100);
  CHECK(s.space()->free_bytes == 30);

  CHECK(b->write_at(5, std::vector<uint8_t>(40, 2)).code() == Code::kNoSpace);
  CHECK(current(s, "b") == "0123456789");
  CHECK(b->truncate(41).code() == Code::kNoSpace);
  CHECK(*b->size() == 10);
  CHECK(s.write_all("c", std::vector<uint8_t>(31, 3)).code() == Code::kNoSpace);
  CHECK_FALSE(*s.exists("c"));

  // Overwrites and growth up to the limit still work.
  CHECK(b->write_at(0, bytes("abcdefghij")).is_ok());
  CHECK(b->write_at(10, std::vector<uint8_t>(30, 4)).is_ok());
  CHECK(s.space()->free_bytes == 0);
  // Freeing space by removing a file makes room again.
  REQUIRE(s.remove("a").is_ok());
  CHECK(b->write_at(40, bytes("more")).is_ok());

  s.set_capacity(0);
  CHECK(b->write_at(0, std::vector<uint8_t>(1000, 5)).is_ok());
}

TEST_CASE("write_all is durable and read_all sees the current content") {
  MemoryStore s;
  CHECK(s.read_all("x").status().code() == Code::kNotFound);
  REQUIRE(s.write_all("x", bytes("tampered")).is_ok());
  s.simulate_crash();
  CHECK(current(s, "x") == "tampered");

  auto f = must_open(s, "x", OpenMode::kExisting);
  REQUIRE(f->write_at(0, bytes("T")).is_ok());
  CHECK(current(s, "x") == "Tampered");  // read_all shows unsynced bytes too
  REQUIRE(s.write_all("x", bytes("new")).is_ok());
  s.simulate_crash();
  CHECK(current(s, "x") == "new");
}

TEST_CASE("clone copies the current state and is independent") {
  MemoryStore s;
  put_file(s, "synced", "one");
  REQUIRE(s.sync_dir().is_ok());
  auto f = must_open(s, "unsynced", OpenMode::kCreateNew);
  REQUIRE(f->write_at(0, bytes("two")).is_ok());
  auto held = s.lock("lock");
  REQUIRE(held.is_ok());

  std::unique_ptr<MemoryStore> copy = s.clone();
  CHECK(current(*copy, "synced") == "one");
  CHECK(current(*copy, "unsynced") == "two");
  CHECK(copy->lock("lock").is_ok());  // no locks come along

  REQUIRE(f->write_at(0, bytes("XXX")).is_ok());
  CHECK(current(*copy, "unsynced") == "two");
  REQUIRE(copy->write_all("synced", bytes("changed")).is_ok());
  CHECK(current(s, "synced") == "one");

  // In the clone everything copied is durable, names included.
  copy->simulate_crash();
  CHECK(current(*copy, "unsynced") == "two");
  CHECK(current(*copy, "synced") == "changed");
}

}  // namespace
}  // namespace jindisk::host
