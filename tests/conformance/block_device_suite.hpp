// The block-device conformance suite, written once and instantiated for every implementation.
//
// A fixture type F provides:
//   explicit F(uint64_t blocks);   // a fresh device of `blocks` blocks
//   jindisk::BlockDevice& dev();
//   void reopen();                 // clean close (final flush) and open again
// Instantiate with TEST_CASE_TEMPLATE_INVOKE(block_device_conformance, F1, F2, ...).
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "jindisk/block_device.hpp"

namespace jindisk::conformance {

// Deterministic content for (lba, version): every byte depends on both, so a block from the
// wrong place or the wrong time never compares equal.
inline void fill_pattern(uint8_t* block, uint64_t lba, uint64_t version) {
  uint64_t x = (lba + 1) * 0x9E3779B97F4A7C15ull ^ (version + 1) * 0xC2B2AE3D27D4EB4Full;
  for (size_t i = 0; i < kBlockSize; i += 8) {
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
    const uint64_t v = x * 0x2545F4914F6CDD1Dull;
    std::memcpy(block + i, &v, 8);
  }
}

inline std::vector<uint8_t> pattern(uint64_t lba, uint64_t count, uint64_t version) {
  std::vector<uint8_t> out(count * kBlockSize);
  for (uint64_t i = 0; i < count; ++i) fill_pattern(out.data() + i * kBlockSize, lba + i, version);
  return out;
}

inline bool all_zero(const std::vector<uint8_t>& v) {
  for (uint8_t b : v) if (b != 0) return false;
  return true;
}

inline std::vector<uint8_t> read_blocks(BlockDevice& d, uint64_t lba, uint64_t count) {
  std::vector<uint8_t> out(count * kBlockSize, 0xAA);
  const Status s = d.read(lba, out);
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
  return out;
}

inline void write_blocks(BlockDevice& d, uint64_t lba, const std::vector<uint8_t>& data) {
  const Status s = d.write(lba, data);
  REQUIRE_MESSAGE(s.is_ok(), s.to_string());
}

}  // namespace jindisk::conformance

TEST_CASE_TEMPLATE_DEFINE("block device conformance", F, block_device_conformance) {
  using namespace jindisk;
  using namespace jindisk::conformance;
  constexpr uint64_t kBlocks = 512;
  F f(kBlocks);
  CHECK(f.dev().block_count() == kBlocks);

  SUBCASE("a fresh device reads zeros everywhere, including its last block") {
    CHECK(all_zero(read_blocks(f.dev(), 0, 8)));
    CHECK(all_zero(read_blocks(f.dev(), 200, 64)));
    CHECK(all_zero(read_blocks(f.dev(), kBlocks - 1, 1)));
  }

  SUBCASE("a written run reads back and its neighbours stay zero") {
    write_blocks(f.dev(), 3, pattern(3, 7, 1));
    const auto got = read_blocks(f.dev(), 1, 11);
    CHECK(all_zero(std::vector<uint8_t>(got.begin(), got.begin() + 2 * kBlockSize)));
    CHECK(std::vector<uint8_t>(got.begin() + 2 * kBlockSize, got.begin() + 9 * kBlockSize) ==
          pattern(3, 7, 1));
    CHECK(all_zero(std::vector<uint8_t>(got.begin() + 9 * kBlockSize, got.end())));
  }

  SUBCASE("an overwrite returns the newest data, also for a partly overlapping run") {
    write_blocks(f.dev(), 10, pattern(10, 4, 1));
    write_blocks(f.dev(), 12, pattern(12, 4, 2));
    CHECK(read_blocks(f.dev(), 10, 2) == pattern(10, 2, 1));
    CHECK(read_blocks(f.dev(), 12, 4) == pattern(12, 4, 2));
  }

  SUBCASE("the last block of the device can be written and read") {
    write_blocks(f.dev(), kBlocks - 2, pattern(kBlocks - 2, 2, 5));
    CHECK(read_blocks(f.dev(), kBlocks - 2, 2) == pattern(kBlocks - 2, 2, 5));
  }

  SUBCASE("out-of-range and malformed requests are refused with kInvalidArgument") {
    std::vector<uint8_t> one(kBlockSize, 7);
    std::vector<uint8_t> two(2 * kBlockSize, 7);
    std::vector<uint8_t> odd(kBlockSize + 512, 7);
    CHECK(f.dev().read(kBlocks, one).code() == Code::kInvalidArgument);
    CHECK(f.dev().read(kBlocks - 1, two).code() == Code::kInvalidArgument);
    CHECK(f.dev().read(0, odd).code() == Code::kInvalidArgument);
    CHECK(f.dev().read(UINT64_MAX, one).code() == Code::kInvalidArgument);
    CHECK(f.dev().write(kBlocks, one).code() == Code::kInvalidArgument);
    CHECK(f.dev().write(kBlocks - 1, two).code() == Code::kInvalidArgument);
    CHECK(f.dev().write(0, odd).code() == Code::kInvalidArgument);
    CHECK(f.dev().write(UINT64_MAX - 1, two).code() == Code::kInvalidArgument);
    CHECK(f.dev().trim(kBlocks - 1, 2).code() == Code::kInvalidArgument);
    CHECK(f.dev().trim(UINT64_MAX, 2).code() == Code::kInvalidArgument);
    // A refused write changed nothing.
    CHECK(all_zero(read_blocks(f.dev(), kBlocks - 1, 1)));
    CHECK(all_zero(read_blocks(f.dev(), 0, 1)));
  }

  SUBCASE("zero-length requests are accepted and do nothing") {
    std::vector<uint8_t> none;
    CHECK(f.dev().read(0, none).is_ok());
    CHECK(f.dev().write(5, none).is_ok());
    CHECK(f.dev().trim(5, 0).is_ok());
    CHECK(all_zero(read_blocks(f.dev(), 5, 1)));
  }

  SUBCASE("trim makes blocks read as zeros and a later write is visible again") {
    write_blocks(f.dev(), 20, pattern(20, 10, 1));
    REQUIRE(f.dev().trim(22, 3).is_ok());
    CHECK(read_blocks(f.dev(), 20, 2) == pattern(20, 2, 1));
    CHECK(all_zero(read_blocks(f.dev(), 22, 3)));
    CHECK(read_blocks(f.dev(), 25, 5) == pattern(25, 5, 1));
    write_blocks(f.dev(), 23, pattern(23, 1, 2));
    CHECK(read_blocks(f.dev(), 23, 1) == pattern(23, 1, 2));
    CHECK(all_zero(read_blocks(f.dev(), 22, 1)));
  }

  SUBCASE("flushed writes and trims survive a reopen") {
    write_blocks(f.dev(), 0, pattern(0, 32, 1));
    REQUIRE(f.dev().trim(8, 8).is_ok());
    REQUIRE(f.dev().flush().is_ok());
    f.reopen();
    CHECK(read_blocks(f.dev(), 0, 8) == pattern(0, 8, 1));
    CHECK(all_zero(read_blocks(f.dev(), 8, 8)));
    CHECK(read_blocks(f.dev(), 16, 16) == pattern(16, 16, 1));
  }

  SUBCASE("a clean close keeps writes made after the last flush") {
    write_blocks(f.dev(), 40, pattern(40, 4, 1));
    REQUIRE(f.dev().flush().is_ok());
    write_blocks(f.dev(), 42, pattern(42, 4, 2));
    f.reopen();
    CHECK(read_blocks(f.dev(), 40, 2) == pattern(40, 2, 1));
    CHECK(read_blocks(f.dev(), 42, 4) == pattern(42, 4, 2));
  }

  SUBCASE("many rewrites of a few blocks across flushes keep the newest version") {
    for (uint64_t v = 1; v <= 40; ++v) {
      write_blocks(f.dev(), 100 + v % 5, pattern(100 + v % 5, 1, v));
      if (v % 7 == 0) REQUIRE(f.dev().flush().is_ok());
    }
    f.reopen();
    for (uint64_t b = 0; b < 5; ++b) {
      const uint64_t newest = b == 0 ? 40 : 35 + b;
      CHECK(read_blocks(f.dev(), 100 + b, 1) == pattern(100 + b, 1, newest));
    }
  }

  SUBCASE("concurrent writers, flushers and readers: every block holds one whole write") {
    constexpr int kThreads = 4;
    constexpr uint64_t kRegion = 32;  // blocks per thread, plus a shared hot region
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t round = 1; round <= 30; ++round) {
          const uint64_t lba = t * kRegion + round % kRegion;
          if (!f.dev().write(lba, pattern(lba, 1, round)).is_ok()) ++failures;
          // The hot region [300, 304) is written by everyone with their own version tag.
          const uint64_t hot = 300 + round % 4;
          if (!f.dev().write(hot, pattern(hot, 1, 1000 * (t + 1) + round)).is_ok()) ++failures;
          std::vector<uint8_t> buf(kBlockSize);
          if (!f.dev().read(hot, buf).is_ok()) ++failures;
          if (round % 10 == 0 && !f.dev().flush().is_ok()) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
    for (int t = 0; t < kThreads; ++t) {
      for (uint64_t round = 1; round <= 30; ++round) {
        const uint64_t lba = t * kRegion + round % kRegion;
        CHECK(read_blocks(f.dev(), lba, 1) == pattern(lba, 1, round));
      }
    }
    // Each hot block equals exactly one writer's whole block.
    for (uint64_t hot = 300; hot < 304; ++hot) {
      const auto got = read_blocks(f.dev(), hot, 1);
      bool matched = false;
      for (int t = 0; t < kThreads && !matched; ++t) {
        for (uint64_t round = 1; round <= 30 && !matched; ++round) {
          if (round % 4 == hot - 300) matched = got == pattern(hot, 1, 1000 * (t + 1) + round);
        }
      }
      CHECK_MESSAGE(matched, "hot block " << hot << " is not one writer's whole block");
    }
  }
}
