// disk-differential: randomized differential test of the secure disk against the reference
// MemoryDisk. Random writes (1-64 blocks, content pattern(lba, n, version)), reads compared
// block for block with the reference, trims, flushes (each followed by compact_now, so index
// compactions interleave) and close+reopen cycles (a clean close, then open from the host).
// The seed comes from JINDISK_SEED or is random; it is printed with every failure.
#include <doctest/doctest.h>

#include <functional>
#include <random>

#include "disk_test_util.hpp"
#include "jindisk/memory_disk.hpp"

namespace jindisk::disk::test {
namespace {

// How a run gets its disk: make() for the first, reopen() after the previous one was closed.
struct DiskFactory {
  std::function<std::unique_ptr<Disk>()> make;
  std::function<std::unique_ptr<Disk>()> reopen;
};

struct Counts {
  uint64_t writes = 0, reads = 0, trims = 0, flushes = 0, reopens = 0, blocks_written = 0;
};

void compare_whole(Disk& d, MemoryDisk& ref, uint64_t seed, uint64_t op) {
  const uint64_t blocks = ref.block_count();
  std::vector<uint8_t> got(64 * kBlockSize), want(64 * kBlockSize);
  for (uint64_t lba = 0; lba < blocks; lba += 64) {
    const uint64_t n = std::min<uint64_t>(64, blocks - lba);
    std::span<uint8_t> g(got.data(), n * kBlockSize), w(want.data(), n * kBlockSize);
    const Status s = d.read(lba, g);
    REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << op << ": full read at " << lba << ": "
                                       << s.to_string());
    REQUIRE(ref.read(lba, w).is_ok());
    for (uint64_t i = 0; i < n; ++i) {
      REQUIRE_MESSAGE(std::equal(g.begin() + i * kBlockSize, g.begin() + (i + 1) * kBlockSize,
                                 w.begin() + i * kBlockSize),
                      "seed " << seed << " op " << op << ": block " << lba + i
                              << " differs from the reference (full comparison)");
    }
  }
}

Counts run_differential(uint64_t seed, uint64_t ops, uint64_t blocks, const DiskFactory& factory) {
  std::mt19937_64 rng(seed);
  MemoryDisk ref(blocks);
  std::unique_ptr<Disk> d = factory.make();
  REQUIRE(d->block_count() == blocks);
  Counts c;
  uint64_t version = 0;
  std::vector<uint8_t> got, want;
  auto size = [&] { return rng() % 2 ? 1 + rng() % 64 : 1 + rng() % 8; };
  for (uint64_t i = 0; i < ops; ++i) {
    const uint64_t r = rng() % 1000;
    if (r < 420) {
      const uint64_t n = size();
      const uint64_t lba = rng() % (blocks - n + 1);
      const auto data = pattern(lba, n, ++version);
      const Status s = d->write(lba, data);
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << i << ": write " << lba << " x" << n
                                         << ": " << s.to_string());
      REQUIRE(ref.write(lba, data).is_ok());
      ++c.writes;
      c.blocks_written += n;
    } else if (r < 850) {
      const uint64_t n = size();
      const uint64_t lba = rng() % (blocks - n + 1);
      got.assign(n * kBlockSize, 0xA5);
      want.assign(n * kBlockSize, 0);
      const Status s = d->read(lba, got);
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << i << ": read " << lba << " x" << n
                                         << ": " << s.to_string());
      REQUIRE(ref.read(lba, want).is_ok());
      if (got != want) {
        uint64_t bad = 0;
        for (; bad < n; ++bad) {
          if (!std::equal(got.begin() + bad * kBlockSize, got.begin() + (bad + 1) * kBlockSize,
                          want.begin() + bad * kBlockSize)) {
            break;
          }
        }
        FAIL("seed " << seed << " op " << i << ": read " << lba << " x" << n << ": block "
                     << lba + bad << " differs from the reference");
      }
      ++c.reads;
    } else if (r < 900) {
      const uint64_t n = 1 + rng() % 128;
      const uint64_t lba = rng() % (blocks - n + 1);
      const Status s = d->trim(lba, n);
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << i << ": trim " << lba << " x" << n
                                         << ": " << s.to_string());
      REQUIRE(ref.trim(lba, n).is_ok());
      ++c.trims;
    } else if (r < 998) {
      const Status s = d->flush();
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << i << ": flush: " << s.to_string());
      if (auto* sd = dynamic_cast<SecureDisk*>(d.get())) {
        const Status cs = sd->index_for_tests().compact_now();
        REQUIRE_MESSAGE(cs.is_ok(),
                        "seed " << seed << " op " << i << ": compact: " << cs.to_string());
      }
      ++c.flushes;
    } else {
      const Status s = d->close();
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << " op " << i << ": close: " << s.to_string());
      d.reset();
      d = factory.reopen();
      ++c.reopens;
      compare_whole(*d, ref, seed, i);
    }
  }
  compare_whole(*d, ref, seed, ops);
  JD_REQUIRE_OK(d->close());
  d.reset();
  d = factory.reopen();
  compare_whole(*d, ref, seed, ops);
  // The disk's own account of its content agrees with the reference.
  CHECK(d->info().live_blocks == ref.mapped_blocks());
  JD_REQUIRE_OK(d->close());
  return c;
}

void report(const std::string& what, const Counts& c) {
  MESSAGE(what << ": " << c.writes << " writes (" << c.blocks_written << " blocks), " << c.reads
               << " reads, " << c.trims << " trims, " << c.flushes << " flushes, " << c.reopens
               << " reopens");
}

}  // namespace

TEST_CASE("the secure disk over a memory store behaves exactly like the reference disk") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 8u << 20;
  cfg.segment_blocks = 64;
  cfg.memtable_entries = 256;
  cfg.write_buffer_bytes = 64u << 10;
  Warnings warnings;
  MemoryStore store;
  DiskFactory f{
      [&] { return std::unique_ptr<Disk>(create_disk(store, cfg, warnings)); },
      [&] { return std::unique_ptr<Disk>(open_disk(store, cfg, warnings)); },
  };
  const uint64_t ops = scaled(100000, 5000);
  const Counts c = run_differential(seed, ops, cfg.blocks(), f);
  report("memory store", c);
  CHECK(c.writes + c.reads + c.trims + c.flushes + c.reopens == ops);
  CHECK(warnings.messages().empty());
}

TEST_CASE("the secure disk with background compaction behaves exactly like the reference disk") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;
  cfg.write_buffer_bytes = 32u << 10;
  cfg.background_compaction = true;
  MemoryStore store;
  DiskFactory f{
      [&] { return std::unique_ptr<Disk>(create_disk(store, cfg)); },
      [&] { return std::unique_ptr<Disk>(open_disk(store, cfg)); },
  };
  report("memory store, background compaction",
         run_differential(seed, scaled(20000, 2000), cfg.blocks(), f));
}

TEST_CASE("the secure disk over a real directory behaves exactly like the reference disk") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  TempDir tmp;
  const std::string dir = tmp.file("secure");
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 64;
  cfg.memtable_entries = 128;
  DiskFactory f{
      [&] {
        auto d = Disk::create(dir, test_key(), cfg.create_options(), cfg.open_options());
        REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
        return std::move(d).value();
      },
      [&] {
        auto d = Disk::open(dir, test_key(), cfg.open_options());
        REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
        return std::move(d).value();
      },
  };
  report("posix store", run_differential(seed, scaled(5000, 1000), cfg.blocks(), f));
  auto state = inspect_dir(dir);
  REQUIRE(state.is_ok());
  CHECK(*state == DirState::kDisk);
}

}  // namespace jindisk::disk::test
