// ChainLog against an attacker who edits the host file while the committed position (held in
// the authenticated root) stays fixed. Every edit must be kCorruption, and no record may reach
// visit() from a log that does not verify.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "chain_log_helpers.hpp"
#include "crypto/aead.hpp"
#include "host/memory_store.hpp"
#include "log/chain_log.hpp"

namespace jindisk::log::testing {
namespace {

constexpr uint64_t kLogId = 21;

struct Fixture {
  host::MemoryStore store;
  crypto::KeyBytes key = crypto::random_key();
  std::vector<Bytes> recs = records(0, 60, 3);
  ChainPosition pos;
  Bytes good;

  Fixture() {
    pos = write_log(store, "wal", key, kLogId, recs);
    REQUIRE(pos.blocks >= 8);
    good = raw(store, "wal");
    REQUIRE(replay_as(good).status.is_ok());
  }

  // Replaces the log file with `bytes` and opens it at the committed position.
  Replayed replay_as(const Bytes& bytes, const ChainPosition* at = nullptr) {
    put_raw(store, "wal", bytes);
    return replay(store, "wal", key, kLogId, at != nullptr ? *at : pos);
  }

  // Opens `bytes` and requires kCorruption with nothing visited.
  void expect_rejected(const Bytes& bytes, const ChainPosition* at = nullptr) {
    Replayed r = replay_as(bytes, at);
    CHECK_MESSAGE(r.status.code() == Code::kCorruption, "got: ", r.status.to_string());
    CHECK(r.records.empty());
  }

  Bytes block(const Bytes& file, uint64_t i) const {
    return Bytes(file.begin() + long(i * kLogBlock), file.begin() + long((i + 1) * kLogBlock));
  }
  static void put_block(Bytes& file, uint64_t i, const Bytes& b) {
    std::copy(b.begin(), b.end(), file.begin() + long(i * kLogBlock));
  }
};

TEST_CASE("chain log rejects a flipped byte in the nonce, ciphertext or tag of any block") {
  Fixture f;
  const uint64_t last = f.pos.blocks - 1;
  const size_t offsets[] = {0, 11, 23, 24, 25, 1000, 4055, 4079, 4080, 4088, 4095};
  for (uint64_t b : {uint64_t{0}, uint64_t{1}, last / 2, last}) {
    for (size_t off : offsets) {
      CAPTURE(b);
      CAPTURE(off);
      Bytes bad = f.good;
      bad[b * kLogBlock + off] ^= 0x01;
      f.expect_rejected(bad);
    }
  }
  Replayed r = f.replay_as(f.good);  // the untouched file still opens
  CHECK(r.status.is_ok());
  CHECK(r.records == f.recs);
}

TEST_CASE("chain log rejects truncation by a block, a byte, or to nothing") {
  Fixture f;
  f.expect_rejected(Bytes(f.good.begin(), f.good.end() - long(kLogBlock)));
  f.expect_rejected(Bytes(f.good.begin(), f.good.end() - 1));
  f.expect_rejected(Bytes{});
  // Dropping the first block and shifting the rest down is a truncation too.
  Bytes shifted(f.good.begin() + long(kLogBlock), f.good.end());
  shifted.resize(f.good.size());
  f.expect_rejected(shifted);
}

TEST_CASE("chain log rejects swapped or duplicated blocks") {
  Fixture f;
  const uint64_t last = f.pos.blocks - 1;
  for (auto [a, b] : {std::pair<uint64_t, uint64_t>{2, 3}, {0, 1}, {0, last}, {last - 1, last}}) {
    CAPTURE(a);
    CAPTURE(b);
    Bytes bad = f.good;
    Fixture::put_block(bad, a, f.block(f.good, b));
    Fixture::put_block(bad, b, f.block(f.good, a));
    f.expect_rejected(bad);
  }
  Bytes dup = f.good;
  Fixture::put_block(dup, 3, f.block(f.good, 2));
  f.expect_rejected(dup);
}

TEST_CASE("chain log rejects a rollback of the whole file to an older commit") {
  Fixture f;
  // Keep a copy at position P1, append more, commit P2, then put the P1 copy back.
  const Bytes old_copy = f.good;
  auto log = ChainLog::open(open_file(f.store, "wal", host::OpenMode::kExisting), f.key, kLogId,
                            f.pos, [](std::span<const uint8_t>) { return Status::ok(); });
  REQUIRE(log.is_ok());
  append_all(*log, records(100, 40, 3));
  JD_REQUIRE_OK(log->sync());
  const ChainPosition p2 = log->position();
  f.expect_rejected(old_copy, &p2);
  // Padding the old copy to the new length does not help either.
  Bytes padded = old_copy;
  padded.resize(p2.blocks * kLogBlock, 0);
  f.expect_rejected(padded, &p2);
}

TEST_CASE("chain log rejects an older version of a block from an abandoned tail") {
  Fixture f;
  // Timeline A writes blocks past the committed position, then is abandoned (never committed).
  auto a = ChainLog::open(open_file(f.store, "wal", host::OpenMode::kExisting), f.key, kLogId,
                          f.pos, [](std::span<const uint8_t>) { return Status::ok(); });
  REQUIRE(a.is_ok());
  append_all(*a, records(200, 30, 4));
  JD_REQUIRE_OK(a->sync());
  const Bytes timeline_a = raw(f.store, "wal");
  // Timeline B reopens at the committed position and overwrites those blocks, then commits.
  auto b = ChainLog::open(open_file(f.store, "wal", host::OpenMode::kExisting), f.key, kLogId,
                          f.pos, [](std::span<const uint8_t>) { return Status::ok(); });
  REQUIRE(b.is_ok());
  append_all(*b, records(300, 30, 5));
  JD_REQUIRE_OK(b->sync());
  const ChainPosition pb = b->position();
  const Bytes timeline_b = raw(f.store, "wal");
  REQUIRE(pb.blocks >= f.pos.blocks + 3);

  // Block f.pos.blocks of A opens with B's chain AD (same index, same previous tag): only the
  // next block or the committed tag can tell, and no record may be visited before that.
  Bytes bad = timeline_b;
  Fixture::put_block(bad, f.pos.blocks, f.block(timeline_a, f.pos.blocks));
  f.expect_rejected(bad, &pb);
  // The whole of A's tail in place of B's: the committed last tag does not match.
  bad = timeline_b;
  for (uint64_t i = f.pos.blocks; i < pb.blocks; ++i)
    Fixture::put_block(bad, i, f.block(timeline_a, i));
  f.expect_rejected(bad, &pb);
  // B itself is fine.
  Replayed r = f.replay_as(timeline_b, &pb);
  CHECK(r.status.is_ok());
  CHECK(r.records == concat(f.recs, records(300, 30, 5)));
}

TEST_CASE("chain log rejects blocks spliced from another log id or sealed under another key") {
  Fixture f;
  // Another log with the same key and records but a different id.
  const ChainPosition other_pos = write_log(f.store, "other", f.key, kLogId + 1, f.recs);
  const Bytes other = raw(f.store, "other");
  Bytes bad = f.good;
  Fixture::put_block(bad, 2, f.block(other, 2));
  f.expect_rejected(bad);
  f.expect_rejected(other, &other_pos);  // the whole file, with its own position

  // The same id under a different key.
  const ChainPosition foreign_pos =
      write_log(f.store, "foreign", crypto::random_key(), kLogId, f.recs);
  const Bytes foreign = raw(f.store, "foreign");
  bad = f.good;
  Fixture::put_block(bad, 0, f.block(foreign, 0));
  f.expect_rejected(bad);
  f.expect_rejected(foreign, &foreign_pos);
}

TEST_CASE("chain log rejects a committed position that does not match the file") {
  Fixture f;
  ChainPosition wrong_tag = f.pos;
  wrong_tag.last_tag[5] ^= 0x80;
  f.expect_rejected(f.good, &wrong_tag);
  ChainPosition longer = f.pos;
  longer.blocks += 1;
  f.expect_rejected(f.good, &longer);
  ChainPosition shorter = f.pos;  // the right tag at the wrong length
  shorter.blocks -= 1;
  f.expect_rejected(f.good, &shorter);
  ChainPosition empty_with_tag;
  empty_with_tag.last_tag = f.pos.last_tag;
  f.expect_rejected(f.good, &empty_with_tag);
  ChainPosition absurd;
  absurd.blocks = ~uint64_t{0};
  f.expect_rejected(f.good, &absurd);
}

TEST_CASE("chain log ignores uncommitted or torn blocks after the committed prefix") {
  Fixture f;
  // An uncommitted but valid tail plus a torn partial block of garbage after it.
  auto log = ChainLog::open(open_file(f.store, "wal", host::OpenMode::kExisting), f.key, kLogId,
                            f.pos, [](std::span<const uint8_t>) { return Status::ok(); });
  REQUIRE(log.is_ok());
  append_all(*log, records(400, 25, 6));
  JD_REQUIRE_OK(log->sync());
  Bytes tail = raw(f.store, "wal");
  const Bytes garbage = pattern(1234, 99);
  tail.insert(tail.end(), garbage.begin(), garbage.end());

  put_raw(f.store, "wal", tail);
  std::vector<Bytes> seen;
  auto reopened = ChainLog::open(open_file(f.store, "wal", host::OpenMode::kExisting), f.key,
                                 kLogId, f.pos, [&](std::span<const uint8_t> rec) {
                                   seen.emplace_back(rec.begin(), rec.end());
                                   return Status::ok();
                                 });
  REQUIRE_MESSAGE(reopened.is_ok(), reopened.status().to_string());
  CHECK(seen == f.recs);
  CHECK(reopened->position() == f.pos);

  // New appends overwrite the stale blocks and replay correctly.
  const std::vector<Bytes> fresh = records(700, 20, 7);
  append_all(*reopened, fresh);
  JD_REQUIRE_OK(reopened->sync());
  const ChainPosition p = reopened->position();
  const Bytes now = raw(f.store, "wal");
  CHECK(std::memcmp(now.data() + f.pos.blocks * kLogBlock, tail.data() + f.pos.blocks * kLogBlock,
                    kLogBlock) != 0);
  Replayed r = replay(f.store, "wal", f.key, kLogId, p);
  REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
  CHECK(r.records == concat(f.recs, fresh));
}

}  // namespace
}  // namespace jindisk::log::testing
