// ChainLog: round trips, the append contract, write failures, crashes and a real directory.
#include "log/chain_log.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "chain_log_helpers.hpp"
#include "crypto/aead.hpp"
#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "host/posix_store.hpp"

namespace jindisk::log::testing {
namespace {

TEST_CASE("chain log replays every record in order across many blocks and flushes") {
  host::MemoryStore store;
  const crypto::KeyBytes key = crypto::random_key();
  ChainLog log = ChainLog::create(open_file(store, "wal"), key, 7);
  CHECK(log.position() == ChainPosition{});
  CHECK(log.log_id() == 7);

  const std::vector<Bytes> all = records(0, 1500);
  struct Snapshot {
    ChainPosition pos;
    size_t count;
  };
  std::vector<Snapshot> snapshots;
  for (size_t i = 0; i < all.size(); ++i) {
    JD_REQUIRE_OK(log.append(all[i]));
    if (i % 97 == 96) {
      JD_REQUIRE_OK(log.write_pending());
      snapshots.push_back({log.position(), i + 1});
    }
    if (i % 301 == 300) {
      JD_REQUIRE_OK(log.sync());
      snapshots.push_back({log.position(), i + 1});
    }
  }
  JD_REQUIRE_OK(log.sync());
  const ChainPosition end = log.position();
  CHECK(end.blocks > 200);
  // A second write_pending with nothing buffered writes nothing.
  JD_REQUIRE_OK(log.write_pending());
  CHECK(log.position() == end);
  CHECK(raw(store, "wal").size() == end.blocks * kLogBlock);

  Replayed r = replay(store, "wal", key, 7, end);
  REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
  CHECK(r.records == all);

  // Every intermediate flush point is itself a valid commit point replaying exactly its prefix.
  for (const Snapshot& s : snapshots) {
    Replayed p = replay(store, "wal", key, 7, s.pos);
    REQUIRE_MESSAGE(p.status.is_ok(), p.status.to_string());
    CHECK(p.records == std::vector<Bytes>(all.begin(), all.begin() + long(s.count)));
  }
  Replayed empty = replay(store, "wal", key, 7, ChainPosition{});
  CHECK(empty.status.is_ok());
  CHECK(empty.records.empty());
}

TEST_CASE("chain log reopened at its committed position appends after it") {
  host::MemoryStore store;
  const crypto::KeyBytes key = crypto::random_key();
  const std::vector<Bytes> first = records(0, 300);
  const ChainPosition p1 = write_log(store, "wal", key, 1, first);

  std::vector<Bytes> seen;
  auto log = ChainLog::open(open_file(store, "wal", host::OpenMode::kExisting), key, 1, p1,
                            [&](std::span<const uint8_t> rec) {
                              seen.emplace_back(rec.begin(), rec.end());
                              return Status::ok();
                            });
  REQUIRE_MESSAGE(log.is_ok(), log.status().to_string());
  CHECK(seen == first);
  CHECK(log->position() == p1);
  const std::vector<Bytes> second = records(300, 200);
  append_all(*log, second);
  JD_REQUIRE_OK(log->sync());
  CHECK(log->position().blocks > p1.blocks);

  Replayed r = replay(store, "wal", key, 1, log->position());
  REQUIRE(r.status.is_ok());
  CHECK(r.records == concat(first, second));
}

TEST_CASE("chain log append rejects empty and oversize records without side effects") {
  host::MemoryStore store;
  ChainLog log = ChainLog::create(open_file(store, "wal"), crypto::random_key(), 1);
  JD_CHECK_CODE(log.append(Bytes(ChainLog::kMaxRecordSize + 1, 1)), Code::kInvalidArgument);
  JD_CHECK_CODE(log.append(Bytes(60000, 1)), Code::kInvalidArgument);
  JD_CHECK_CODE(log.append(Bytes{}), Code::kInvalidArgument);
  JD_REQUIRE_OK(log.write_pending());
  CHECK(log.position().blocks == 0);
  JD_REQUIRE_OK(log.append(Bytes(ChainLog::kMaxRecordSize, 2)));
  JD_REQUIRE_OK(log.append(Bytes(ChainLog::kMaxRecordSize, 3)));  // exactly one per block
  CHECK(log.position().blocks == 1);
}

TEST_CASE("chain log visit error stops the replay and is returned") {
  host::MemoryStore store;
  const crypto::KeyBytes key = crypto::random_key();
  const ChainPosition pos = write_log(store, "wal", key, 1, records(0, 100));
  int calls = 0;
  auto log = ChainLog::open(open_file(store, "wal", host::OpenMode::kExisting), key, 1, pos,
                            [&](std::span<const uint8_t>) {
                              return ++calls == 10 ? Status::not_found("stop") : Status::ok();
                            });
  CHECK(log.status().code() == Code::kNotFound);
  CHECK(calls == 10);
}

TEST_CASE("chain log position does not advance when a write fails, and a retry succeeds") {
  for (host::FaultKind kind : {host::FaultKind::kIoError, host::FaultKind::kNoSpace}) {
    CAPTURE(int(kind));
    host::MemoryStore mem;
    host::FaultInjectingStore fis(mem);
    const crypto::KeyBytes key = crypto::random_key();
    ChainLog log = ChainLog::create(open_file(fis, "wal"), key, 3);
    const std::vector<Bytes> recs = records(0, 40);

    // A partial block whose write fails: nothing moves, and write_pending can be retried.
    JD_REQUIRE_OK(log.append(recs[0]));
    fis.reset();
    fis.set_plan({.at_op = 1, .kind = kind});
    CHECK_FALSE(log.write_pending().is_ok());
    CHECK(fis.fault_fired());
    CHECK(log.position() == ChainPosition{});
    JD_REQUIRE_OK(log.write_pending());
    CHECK(log.position().blocks == 1);

    // A full block written by append: the failing append buffers nothing and can be retried.
    size_t i = 1;
    for (; i < recs.size(); ++i) {
      const ChainPosition before = log.position();
      fis.reset();
      fis.set_plan({.at_op = 1, .kind = kind});
      Status st = log.append(recs[i]);
      if (fis.fault_fired()) {
        CHECK_FALSE(st.is_ok());
        CHECK(log.position() == before);
        break;
      }
      JD_REQUIRE_OK(st);
    }
    REQUIRE(i < recs.size());
    fis.reset();
    for (; i < recs.size(); ++i) JD_REQUIRE_OK(log.append(recs[i]));
    JD_REQUIRE_OK(log.sync());

    Replayed r = replay(mem, "wal", key, 3, log.position());
    REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
    CHECK(r.records == recs);  // each record exactly once, in order
  }
}

TEST_CASE("chain log reopens at its last synced position after a crash") {
  const crypto::KeyBytes key = crypto::random_key();
  const std::vector<Bytes> synced = records(0, 120, 1);
  const std::vector<Bytes> unsynced = records(120, 150, 1);
  const std::vector<Bytes> later = records(500, 90, 2);
  struct Mode {
    host::CrashMode mode;
    uint64_t seed;
  };
  std::vector<Mode> modes = {{host::CrashMode::kDropUnsynced, 0}};
  for (uint64_t seed = 1; seed <= 12; ++seed)
    modes.push_back({host::CrashMode::kRandomSubset, seed});

  for (const Mode& m : modes) {
    CAPTURE(int(m.mode));
    CAPTURE(m.seed);
    host::MemoryStore store;
    ChainLog log = ChainLog::create(open_file(store, "wal"), key, 9);
    append_all(log, synced);
    JD_REQUIRE_OK(log.sync());
    const ChainPosition durable = log.position();
    append_all(log, unsynced);
    JD_REQUIRE_OK(log.write_pending());
    const ChainPosition lost = log.position();
    REQUIRE(lost.blocks > durable.blocks + 5);

    store.simulate_crash(m.mode, m.seed);
    if (m.mode == host::CrashMode::kDropUnsynced) {
      // The unsynced blocks are really gone: their position no longer opens.
      CHECK(replay(store, "wal", key, 9, lost).status.code() == Code::kCorruption);
    }
    std::vector<Bytes> seen;
    auto reopened = ChainLog::open(open_file(store, "wal", host::OpenMode::kExisting), key, 9,
                                   durable, [&](std::span<const uint8_t> rec) {
                                     seen.emplace_back(rec.begin(), rec.end());
                                     return Status::ok();
                                   });
    REQUIRE_MESSAGE(reopened.is_ok(), reopened.status().to_string());
    CHECK(seen == synced);
    // Whatever survived of the unsynced tail is overwritten by the next appends.
    append_all(*reopened, later);
    JD_REQUIRE_OK(reopened->sync());
    Replayed r = replay(store, "wal", key, 9, reopened->position());
    REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
    CHECK(r.records == concat(synced, later));
  }
}

// A temporary directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/jd-log-test-XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_CASE("chain log round trip over a real directory") {
  TempDir dir;
  const crypto::KeyBytes key = crypto::random_key();
  const std::vector<Bytes> recs = records(0, 400, 5);
  ChainPosition pos;
  {
    auto store = host::PosixStore::open_dir(dir.path());
    REQUIRE_MESSAGE(store.is_ok(), store.status().to_string());
    pos = write_log(**store, "wal", key, 11, recs);
  }
  CHECK(std::filesystem::file_size(dir.path() + "/wal") == pos.blocks * kLogBlock);
  auto store = host::PosixStore::open_dir(dir.path());
  REQUIRE(store.is_ok());
  Replayed r = replay(**store, "wal", key, 11, pos);
  REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
  CHECK(r.records == recs);
  // The same bytes under another log id do not open.
  CHECK(replay(**store, "wal", key, 12, pos).status.code() == Code::kCorruption);
}

}  // namespace
}  // namespace jindisk::log::testing
