// ChainLog's record parser on blocks that authenticate but are malformed. Only a key holder can
// produce these (a writer bug, or a compromised key), so the test seals them itself; the parser
// must still bound every count and length by the block and report corruption, never read past
// it (the sanitizer build checks the "never").
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <random>

#include "chain_log_helpers.hpp"
#include "crypto/aead.hpp"
#include "host/memory_store.hpp"
#include "log/chain_log.hpp"
#include "util/le.hpp"

namespace jindisk::log::testing {
namespace {

constexpr size_t kPlain = 4096 - 24 - 16;
constexpr uint64_t kId = 5;
using Plain = std::array<uint8_t, kPlain>;

// Seals `plain` as block 0 of log kId the way the writer would, stores it as the whole file,
// and returns the position that commits it.
ChainPosition forge_block0(host::MemoryStore& store, const crypto::KeyBytes& key,
                           const Plain& plain) {
  std::array<uint8_t, 40> ad{};
  std::memcpy(ad.data(), "JDCHAIN1", 8);
  util::put_u64(ad.data() + 8, kId);
  util::put_u64(ad.data() + 16, 0);  // block index; previous tag stays zero for block 0
  Bytes file(kLogBlock);
  crypto::ObjectNonce nonce{};
  crypto::Tag tag{};
  crypto::seal_object(key, ad, plain, std::span<uint8_t>(file.data() + 24, kPlain), nonce, tag);
  std::memcpy(file.data(), nonce.data(), 24);
  std::memcpy(file.data() + 24 + kPlain, tag.data(), 16);
  open_file(store, "wal");
  put_raw(store, "wal", file);
  return ChainPosition{1, tag};
}

Replayed replay_forged(const Plain& plain) {
  host::MemoryStore store;
  const crypto::KeyBytes key = crypto::random_key();
  const ChainPosition pos = forge_block0(store, key, plain);
  return replay(store, "wal", key, kId, pos);
}

// A block holding the given record lengths (contents 0xAB), as the writer would frame them.
Plain framed(std::initializer_list<size_t> lens) {
  Plain p{};
  util::put_u32(p.data(), uint32_t(lens.size()));
  size_t at = 4;
  for (size_t len : lens) {
    util::put_u16(p.data() + at, uint16_t(len));
    std::memset(p.data() + at + 2, 0xAB, len);
    at += 2 + len;
  }
  return p;
}

TEST_CASE("chain log forged well-framed block replays (the forging is right)") {
  Replayed r = replay_forged(framed({1, 10, 300}));
  REQUIRE_MESSAGE(r.status.is_ok(), r.status.to_string());
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[2] == Bytes(300, 0xAB));
  Replayed max = replay_forged(framed({ChainLog::kMaxRecordSize}));
  CHECK(max.status.is_ok());
}

TEST_CASE("chain log rejects authenticated blocks with malformed record framing") {
  auto expect_corrupt = [](const Plain& p) {
    Replayed r = replay_forged(p);
    CHECK_MESSAGE(r.status.code() == Code::kCorruption, "got: ", r.status.to_string());
    CHECK(r.records.empty());
  };
  Plain p = framed({1, 2, 3});
  util::put_u32(p.data(), 4);  // one more record than present: the next length reads as 0
  expect_corrupt(p);
  util::put_u32(p.data(), 0xFFFFFFFF);  // absurd count
  expect_corrupt(p);
  util::put_u32(p.data(), 1352);  // the most 1-byte records that fit is 1350
  expect_corrupt(p);

  p = framed({100});
  util::put_u16(p.data() + 4, 0);  // empty record
  expect_corrupt(p);
  util::put_u16(p.data() + 4, uint16_t(kPlain - 4 - 2 + 1));  // one byte past the block
  expect_corrupt(p);
  util::put_u16(p.data() + 4, 0xFFFF);
  expect_corrupt(p);

  p = framed({100});
  p[kPlain - 1] = 1;  // a stray byte after the last record
  expect_corrupt(p);
  p = framed({});
  p[4] = 1;
  expect_corrupt(p);
}

TEST_CASE("chain log parser survives random authenticated plaintexts") {
  std::mt19937_64 rng(20240611);
  int accepted = 0;
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    Plain p{};
    // Mostly plausible framing with random damage, so the parser gets deep into blocks.
    const size_t n = rng() % 40;
    util::put_u32(p.data(), uint32_t(n + (rng() % 4 == 0 ? rng() % 3 : 0)));
    size_t at = 4;
    for (size_t i = 0; i < n && at + 2 < kPlain; ++i) {
      const size_t len = 1 + rng() % 200;
      util::put_u16(p.data() + at, uint16_t(rng() % 8 == 0 ? rng() : len));
      at += 2 + len;
    }
    if (rng() % 2 == 0) p[rng() % kPlain] = uint8_t(rng());
    Replayed r = replay_forged(p);
    CHECK((r.status.is_ok() || r.status.code() == Code::kCorruption));
    if (r.status.is_ok())
      ++accepted;
    else
      CHECK(r.records.empty());
  }
  MESSAGE("accepted ", accepted, " of 300 random blocks");
}

}  // namespace
}  // namespace jindisk::log::testing
