// SealedFile: round trips, and an attacker editing the file while the parent's ref stays fixed.
#include "log/sealed_file.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <thread>

#include "crypto/aead.hpp"
#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "log_test_util.hpp"

namespace jindisk::log::testing {
namespace {

constexpr size_t kB = crypto::kBlockSize;
using Block = std::array<uint8_t, kB>;

Block content(uint64_t file_seed, uint64_t i) {
  Block b{};
  const Bytes p = pattern(kB, file_seed * 7919 + i);
  std::copy(p.begin(), p.end(), b.begin());
  return b;
}

SealedFileRef write_sealed(host::Store& store, std::string_view name, uint64_t file_id, uint64_t n,
                           uint64_t seed) {
  SealedFileWriter w(open_file(store, name), file_id);
  for (uint64_t i = 0; i < n; ++i) {
    const Block b = content(seed, i);
    JD_REQUIRE_OK(w.append(b));
  }
  CHECK(w.blocks_written() == n);
  auto ref = w.finish();
  REQUIRE_MESSAGE(ref.is_ok(), ref.status().to_string());
  CHECK(ref->blocks == n);
  CHECK(ref->file_id == file_id);
  return *ref;
}

Result<SealedFileReader> open_sealed(host::Store& store, std::string_view name,
                                     const SealedFileRef& ref) {
  return SealedFileReader::open(open_file(store, name, host::OpenMode::kExisting), ref);
}

TEST_CASE("sealed file round trip of 0, 1 and 300 blocks") {
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{300}}) {
    CAPTURE(n);
    host::MemoryStore store;
    const SealedFileRef ref = write_sealed(store, "sf", 40 + n, n, n);
    CHECK(raw(store, "sf").size() == n * (kB + 16));
    auto r = open_sealed(store, "sf", ref);
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    CHECK(r->blocks() == n);
    Block out{};
    for (uint64_t i = 0; i < n; ++i) {
      JD_REQUIRE_OK(r->read(i, out));
      CHECK(out == content(n, i));
    }
    JD_CHECK_CODE(r->read(n, out), Code::kInvalidArgument);
    JD_CHECK_CODE(r->read(~uint64_t{0}, out), Code::kInvalidArgument);
  }
}

TEST_CASE("sealed file reads are safe from several threads") {
  host::MemoryStore store;
  const SealedFileRef ref = write_sealed(store, "sf", 1, 64, 2);
  auto r = open_sealed(store, "sf", ref);
  REQUIRE(r.is_ok());
  const SealedFileReader& reader = *r;
  std::array<int, 4> bad{};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Block out{};
      for (int round = 0; round < 5; ++round) {
        for (uint64_t i = 0; i < 64; ++i) {
          if (!reader.read(i, out).is_ok() || out != content(2, i)) ++bad[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == std::array<int, 4>{});
}

TEST_CASE("sealed file detects a flipped byte in a block at read and in the tag table at open") {
  host::MemoryStore store;
  const uint64_t n = 5;
  const SealedFileRef ref = write_sealed(store, "sf", 3, n, 3);
  const Bytes good = raw(store, "sf");
  for (uint64_t b = 0; b < n; ++b) {
    for (size_t off : {size_t{0}, size_t{1}, size_t{2048}, kB - 1}) {
      CAPTURE(b);
      CAPTURE(off);
      Bytes bad = good;
      bad[b * kB + off] ^= 0x20;
      put_raw(store, "sf", bad);
      auto r = open_sealed(store, "sf", ref);
      REQUIRE(r.is_ok());  // the tag table is intact
      Block out{};
      out.fill(0xAA);
      JD_CHECK_CODE(r->read(b, out), Code::kCorruption);
      CHECK(out == Block{});  // nothing unauthenticated is handed out
      for (uint64_t other = 0; other < n; ++other) {
        if (other != b) JD_CHECK_CODE(r->read(other, out), Code::kOk);
      }
    }
  }
  for (size_t off = n * kB; off < good.size(); off += 7) {
    CAPTURE(off);
    Bytes bad = good;
    bad[off] ^= 0x01;
    put_raw(store, "sf", bad);
    auto r = open_sealed(store, "sf", ref);
    CHECK(r.status().code() == Code::kCorruption);
  }
}

TEST_CASE("sealed file rejects truncation, trailing garbage and swapped blocks") {
  host::MemoryStore store;
  const uint64_t n = 6;
  const SealedFileRef ref = write_sealed(store, "sf", 4, n, 4);
  const Bytes good = raw(store, "sf");
  auto expect_open_fails = [&](const Bytes& bytes) {
    put_raw(store, "sf", bytes);
    auto r = open_sealed(store, "sf", ref);
    CHECK_MESSAGE(r.status().code() == Code::kCorruption, "got: ", r.status().to_string());
  };
  expect_open_fails(Bytes(good.begin(), good.end() - 1));
  expect_open_fails(Bytes(good.begin(), good.end() - long(kB + 16)));
  expect_open_fails(Bytes(good.begin() + long(kB), good.end()));
  expect_open_fails(Bytes{});
  Bytes longer = good;
  longer.push_back(0);
  expect_open_fails(longer);
  longer.resize(good.size() + kB + 16, 0x5A);
  expect_open_fails(longer);

  // Swapped blocks: the tag table still matches, so open succeeds and each read fails.
  Bytes swapped = good;
  std::swap_ranges(swapped.begin() + long(1 * kB), swapped.begin() + long(2 * kB),
                   swapped.begin() + long(4 * kB));
  put_raw(store, "sf", swapped);
  auto r = open_sealed(store, "sf", ref);
  REQUIRE(r.is_ok());
  Block out{};
  JD_CHECK_CODE(r->read(1, out), Code::kCorruption);
  JD_CHECK_CODE(r->read(4, out), Code::kCorruption);
  JD_CHECK_CODE(r->read(0, out), Code::kOk);
  // Swapping the tag-table entries along with the blocks is caught by the file tag.
  Bytes both = swapped;
  std::swap_ranges(both.begin() + long(n * kB + 1 * 16), both.begin() + long(n * kB + 2 * 16),
                   both.begin() + long(n * kB + 4 * 16));
  expect_open_fails(both);
}

TEST_CASE("sealed file rejects another sealed file's bytes and a mismatched ref") {
  host::MemoryStore store;
  const SealedFileRef ref = write_sealed(store, "a", 5, 4, 5);
  // Same id, size and plaintext, but a different (random) key.
  const SealedFileRef other = write_sealed(store, "b", 5, 4, 5);
  CHECK(other.key != ref.key);
  CHECK(raw(store, "a") != raw(store, "b"));  // identical plaintext, different bytes
  put_raw(store, "a", raw(store, "b"));
  CHECK(open_sealed(store, "a", ref).status().code() == Code::kCorruption);

  const SealedFileRef fresh = write_sealed(store, "c", 6, 4, 6);
  REQUIRE(open_sealed(store, "c", fresh).is_ok());
  SealedFileRef wrong = fresh;
  wrong.key[0] ^= 1;
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
  wrong = fresh;
  wrong.file_id += 1;
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
  wrong = fresh;
  wrong.blocks -= 1;
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
  wrong = fresh;
  wrong.blocks += 1;
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
  wrong = fresh;
  wrong.blocks = ~uint64_t{0};
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
  wrong = fresh;
  wrong.file_tag[15] ^= 1;
  CHECK(open_sealed(store, "c", wrong).status().code() == Code::kCorruption);
}

TEST_CASE("sealed file writer refuses to continue after a failed write or after finish") {
  host::MemoryStore mem;
  host::FaultInjectingStore fis(mem);
  SealedFileWriter w(open_file(fis, "sf"), 8);
  const Block b = content(8, 0);
  JD_REQUIRE_OK(w.append(b));
  fis.reset();
  fis.set_plan({.at_op = 1, .kind = host::FaultKind::kIoError});
  CHECK(w.append(b).code() == Code::kIoError);
  // A retry would re-seal block 1 under the same nonce: the writer stays failed.
  CHECK(w.append(b).code() == Code::kIoError);
  CHECK(w.finish().status().code() == Code::kIoError);
  CHECK(w.blocks_written() == 1);

  SealedFileWriter done(open_file(mem, "done"), 9);
  REQUIRE(done.finish().is_ok());
  CHECK(done.append(b).code() == Code::kInvalidArgument);
}

TEST_CASE("sealed file writer trims a reused host file to exactly what it wrote") {
  host::MemoryStore store;
  open_file(store, "sf");  // create the name, then fill it with leftovers
  put_raw(store, "sf", pattern(3 * kB + 100, 1));
  const SealedFileRef ref = write_sealed(store, "sf", 10, 2, 10);
  auto r = open_sealed(store, "sf", ref);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  Block out{};
  JD_REQUIRE_OK(r->read(1, out));
  CHECK(out == content(10, 1));
}

}  // namespace
}  // namespace jindisk::log::testing
