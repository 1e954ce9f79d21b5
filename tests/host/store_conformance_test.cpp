// The Store contract, written once and run against every implementation (the CryFS habit):
// PosixStore over a temporary directory, MemoryStore, and FaultInjectingStore with no plan.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "host/posix_store.hpp"
#include "host/store.hpp"
#include "test_util.hpp"

namespace jindisk::host {
namespace {

using test::bytes;
using test::put_file;
using test::read_file;
using test::text;

struct PosixFixture {
  test::TempDir dir;
  std::unique_ptr<PosixStore> posix;
  PosixFixture() {
    auto s = PosixStore::open_dir(dir.path());
    REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
    posix = std::move(s).value();
  }
  Store& store() { return *posix; }
};

struct MemoryFixture {
  MemoryStore memory;
  Store& store() { return memory; }
};

struct FaultFixture {
  MemoryStore memory;
  FaultInjectingStore faulty{memory};
  Store& store() { return faulty; }
};

std::unique_ptr<File> must_open(Store& store, std::string_view name, OpenMode mode) {
  auto f = store.open(name, mode);
  REQUIRE_MESSAGE(f.is_ok(), f.status().to_string());
  return std::move(f).value();
}

std::vector<std::string> sorted_list(Store& store) {
  auto names = store.list();
  REQUIRE(names.is_ok());
  std::vector<std::string> v = *names;
  std::sort(v.begin(), v.end());
  return v;
}

#define STORE_TYPES PosixFixture, MemoryFixture, FaultFixture

TEST_CASE_TEMPLATE("open modes enforce existence", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  CHECK(s.open("a", OpenMode::kExisting).status().code() == Code::kNotFound);
  CHECK(s.open("a", OpenMode::kCreateNew).is_ok());
  CHECK(s.open("a", OpenMode::kCreateNew).status().code() == Code::kAlreadyExists);
  CHECK(s.open("a", OpenMode::kExisting).is_ok());
  CHECK(s.open("b", OpenMode::kCreateOrOpen).is_ok());
  CHECK(*s.exists("b"));

  // Opening an existing file never truncates it.
  put_file(s, "c", "keep");
  CHECK(s.open("c", OpenMode::kCreateOrOpen).is_ok());
  CHECK(read_file(s, "c") == "keep");
}

TEST_CASE_TEMPLATE("written bytes read back, gaps read as zeros", F, STORE_TYPES) {
  F fx;
  auto f = must_open(fx.store(), "data", OpenMode::kCreateNew);
  REQUIRE(f->write_at(0, bytes("head")).is_ok());
  REQUIRE(f->write_at(10, bytes("tail")).is_ok());
  REQUIRE(f->write_at(2, bytes("XY")).is_ok());  // overwrite inside
  CHECK(*f->size() == 14);

  std::vector<uint8_t> buf(14);
  auto n = f->read_at(0, buf);
  REQUIRE(n.is_ok());
  CHECK(*n == 14);
  CHECK(text(buf) == std::string("heXY\0\0\0\0\0\0tail", 14));
  // An empty write is a no-op, as pwrite(2) with count 0: it does not extend the file.
  CHECK(f->write_at(100, std::span<const uint8_t>()).is_ok());
  CHECK(*f->size() == 14);

  // A second handle sees the same content (writes are visible before sync).
  auto g = must_open(fx.store(), "data", OpenMode::kExisting);
  std::vector<uint8_t> part(4);
  REQUIRE(g->read_exact(10, part).is_ok());
  CHECK(text(part) == "tail");
}

TEST_CASE_TEMPLATE("read past end returns a short count, read_exact reports corruption", F,
                   STORE_TYPES) {
  F fx;
  auto f = must_open(fx.store(), "short", OpenMode::kCreateNew);
  REQUIRE(f->write_at(0, bytes("0123456789")).is_ok());
  std::vector<uint8_t> buf(8);
  CHECK(*f->read_at(6, buf) == 4);
  CHECK(text(std::span(buf).first(4)) == "6789");
  CHECK(*f->read_at(10, buf) == 0);
  CHECK(*f->read_at(1000, buf) == 0);

  Status st = f->read_exact(6, buf);
  CHECK(st.code() == Code::kCorruption);
  CHECK(st.message().find("offset 6") != std::string::npos);
  std::vector<uint8_t> four(4);
  CHECK(f->read_exact(6, four).is_ok());
  CHECK(f->read_exact(0, std::span<uint8_t>()).is_ok());
}

TEST_CASE_TEMPLATE("prefetch is only a hint: contents, size and errors are unchanged", F,
                   STORE_TYPES) {
  F fx;
  auto f = must_open(fx.store(), "hinted", OpenMode::kCreateNew);
  REQUIRE(f->write_at(0, bytes("0123456789")).is_ok());
  f->prefetch(0, 10);
  f->prefetch(4, 1 << 20);               // past the end
  f->prefetch(uint64_t(1) << 62, 4096);  // far past the end
  f->prefetch(UINT64_MAX - 10, 4096);    // beyond what the host can address
  std::vector<uint8_t> buf(10);
  REQUIRE(f->read_exact(0, buf).is_ok());
  CHECK(text(buf) == "0123456789");
  CHECK(*f->size() == 10);
  CHECK(f->read_exact(4, std::span(buf).first(8)).code() == Code::kCorruption);
}

TEST_CASE_TEMPLATE("truncate shrinks and grows with zeros", F, STORE_TYPES) {
  F fx;
  auto f = must_open(fx.store(), "t", OpenMode::kCreateNew);
  REQUIRE(f->write_at(0, bytes("abcdefgh")).is_ok());
  REQUIRE(f->truncate(3).is_ok());
  CHECK(*f->size() == 3);
  REQUIRE(f->truncate(6).is_ok());
  CHECK(*f->size() == 6);
  std::vector<uint8_t> buf(6);
  REQUIRE(f->read_exact(0, buf).is_ok());
  CHECK(text(buf) == std::string("abc\0\0\0", 6));  // the cut bytes do not come back
  REQUIRE(f->sync().is_ok());
}

TEST_CASE_TEMPLATE("rename replaces the target", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  put_file(s, "current", "old");
  put_file(s, "next", "new");
  auto old_handle = must_open(s, "current", OpenMode::kExisting);

  REQUIRE(s.rename("next", "current").is_ok());
  REQUIRE(s.sync_dir().is_ok());
  CHECK(read_file(s, "current") == "new");
  CHECK_FALSE(*s.exists("next"));
  // A handle opened before keeps the replaced file, as on POSIX.
  std::vector<uint8_t> buf(3);
  REQUIRE(old_handle->read_exact(0, buf).is_ok());
  CHECK(text(buf) == "old");

  CHECK(s.rename("missing", "x").code() == Code::kNotFound);
  CHECK(s.rename("current", "current").is_ok());
  CHECK(read_file(s, "current") == "new");
}

TEST_CASE_TEMPLATE("remove deletes the name", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  put_file(s, "gone", "x");
  CHECK(*s.exists("gone"));
  REQUIRE(s.remove("gone").is_ok());
  CHECK_FALSE(*s.exists("gone"));
  CHECK(s.open("gone", OpenMode::kExisting).status().code() == Code::kNotFound);
  CHECK(s.remove("gone").code() == Code::kNotFound);
}

TEST_CASE_TEMPLATE("list names every file", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  CHECK(sorted_list(s).empty());
  put_file(s, "b.log", "1");
  put_file(s, "a-1", "2");
  put_file(s, "c_2", "3");
  REQUIRE(s.remove("c_2").is_ok());
  CHECK(sorted_list(s) == std::vector<std::string>{"a-1", "b.log"});
}

TEST_CASE_TEMPLATE("invalid names are rejected everywhere", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  const std::string too_long(65, 'a');
  for (std::string bad : {std::string(".."), std::string("."), std::string("a/b"), std::string(""),
                          std::string("Upper"), too_long, std::string("sp ace")}) {
    CAPTURE(bad);
    CHECK(s.open(bad, OpenMode::kCreateOrOpen).status().code() == Code::kInvalidArgument);
    CHECK(s.remove(bad).code() == Code::kInvalidArgument);
    CHECK(s.rename(bad, "ok").code() == Code::kInvalidArgument);
    CHECK(s.rename("ok", bad).code() == Code::kInvalidArgument);
    CHECK(s.exists(bad).status().code() == Code::kInvalidArgument);
    CHECK(s.lock(bad).status().code() == Code::kInvalidArgument);
  }
  CHECK(s.open(std::string(64, 'a'), OpenMode::kCreateNew).is_ok());
  CHECK(sorted_list(s) == std::vector<std::string>{std::string(64, 'a')});
}

TEST_CASE("valid_name accepts exactly the store alphabet") {
  CHECK(valid_name("seg-000001.log"));
  CHECK(valid_name("a_b.c-d9"));
  CHECK(valid_name("..."));
  CHECK(valid_name(std::string(64, 'z')));
  CHECK_FALSE(valid_name(std::string(65, 'z')));
  CHECK_FALSE(valid_name(""));
  CHECK_FALSE(valid_name("."));
  CHECK_FALSE(valid_name(".."));
  CHECK_FALSE(valid_name("A"));
  CHECK_FALSE(valid_name("a/b"));
  CHECK_FALSE(valid_name(std::string("a\0b", 3)));
}

TEST_CASE_TEMPLATE("lock is exclusive, names the holder and is released on destruction", F,
                   STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  const std::string me = std::to_string(::getpid());
  {
    auto held = s.lock("lock");
    REQUIRE_MESSAGE(held.is_ok(), held.status().to_string());
    CHECK(read_file(s, "lock") == me + "\n");

    auto second = s.lock("lock");
    REQUIRE_FALSE(second.is_ok());
    CHECK(second.status().code() == Code::kBusy);
    CHECK(second.status().message().find("process " + me) != std::string::npos);

    // Another lock name is independent.
    CHECK(s.lock("other").is_ok());

    REQUIRE((*held)->set_owner(424242).is_ok());
    CHECK(read_file(s, "lock") == "424242\n");
    auto third = s.lock("lock");
    REQUIRE_FALSE(third.is_ok());
    CHECK(third.status().message().find("process 424242") != std::string::npos);
  }
  auto again = s.lock("lock");
  CHECK_MESSAGE(again.is_ok(), again.status().to_string());
  // The lock is a file of the store and stays listed.
  CHECK(*s.exists("lock"));
}

TEST_CASE_TEMPLATE("synced content survives reopening", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  {
    auto f = must_open(s, "persist", OpenMode::kCreateNew);
    REQUIRE(f->write_at(0, bytes("durable")).is_ok());
    REQUIRE(f->sync().is_ok());
  }
  REQUIRE(s.sync_dir().is_ok());
  CHECK(read_file(s, "persist") == "durable");
}

TEST_CASE_TEMPLATE("space reports free bytes within total", F, STORE_TYPES) {
  F fx;
  auto info = fx.store().space();
  REQUIRE(info.is_ok());
  CHECK(info->total_bytes > 0);
  CHECK(info->free_bytes <= info->total_bytes);
  CHECK_FALSE(fx.store().describe().empty());
  CHECK(fx.store().open_file_budget() >= 32);
}

TEST_CASE_TEMPLATE("distinct files can be used from several threads", F, STORE_TYPES) {
  F fx;
  Store& s = fx.store();
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&s, &ok, t] {
      std::string name = "thread-" + std::to_string(t);
      auto f = s.open(name, OpenMode::kCreateNew);
      if (!f.is_ok()) return;
      std::vector<uint8_t> block(4096, static_cast<uint8_t>(t));
      for (uint64_t i = 0; i < 16; ++i) {
        if (!(*f)->write_at(i * block.size(), block).is_ok()) return;
      }
      if (!(*f)->sync().is_ok()) return;
      std::vector<uint8_t> back(block.size() * 16);
      if (!(*f)->read_exact(0, back).is_ok()) return;
      ok[t] = std::all_of(back.begin(), back.end(), [t](uint8_t b) { return b == t; });
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>(4, 1));
  CHECK(sorted_list(s).size() == 4);
}

}  // namespace
}  // namespace jindisk::host
