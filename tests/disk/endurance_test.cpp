// disk-endurance: long overwrite runs on small disks keep working and keep host space bounded
// (freed blocks are reused, empty segments deleted, the index compacted); a full disk keeps
// accepting overwrites; a read-only open refuses writes and changes nothing on the host.
#include <doctest/doctest.h>

#include <random>

#include "disk_test_util.hpp"

namespace jindisk::disk::test {
namespace {

// Host space a disk of `logical` bytes may use: twice the data, plus fixed metadata
// (header, root, WAL, SSTs, manifest, partly used segments).
uint64_t space_bound(uint64_t logical) {
  return 2 * logical + (1u << 20);
}

}  // namespace

TEST_CASE("overwriting a small disk ten times over never fails and keeps host space bounded") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;  // 1024 blocks
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 256;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  RefState ref;
  const uint64_t blocks = cfg.blocks();
  const uint64_t target = blocks * scaled(10, 3);
  uint64_t written = 0, version = 0, flushes = 0, since_flush = 0, max_host = 0;
  while (written < target) {
    const uint64_t n = 1 + rng() % 8;
    const uint64_t lba = rng() % (blocks - n + 1);
    const Status s = d->write(lba, pattern(lba, n, ++version));
    REQUIRE_MESSAGE(s.is_ok(),
                    "seed " << seed << " after " << written << " blocks: " << s.to_string());
    ref.write(lba, n, version);
    written += n;
    since_flush += n;
    if (since_flush >= 300) {
      since_flush = 0;
      JD_REQUIRE_OK(d->flush());
      JD_REQUIRE_OK(d->index_for_tests().compact_now());
      ++flushes;
      const uint64_t host = total_host_bytes(store);
      max_host = std::max(max_host, host);
      REQUIRE_MESSAGE(
          host <= space_bound(cfg.logical_bytes),
          "seed " << seed << " after " << written << " blocks the host holds " << host << " bytes");
    }
  }
  JD_REQUIRE_OK(d->flush());
  JD_REQUIRE_OK(d->index_for_tests().compact_now());
  const DiskInfo info = d->info();
  CHECK(info.host_bytes == total_host_bytes(store));
  CHECK(info.live_blocks == ref.version.size());
  CHECK(info.user_bytes_written == written * kBlockSize);
  CHECK(!info.read_only);
  MESSAGE(written << " blocks written in " << flushes << " flushes; host peak " << max_host
                  << " bytes for " << cfg.logical_bytes << " logical; write amplification "
                  << info.write_amplification);
  close_disk(d);
  d = open_disk(store, cfg);
  CHECK(!first_mismatch(read_device(*d), ref));
}

TEST_CASE("a disk with every block live keeps accepting overwrites") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 2u << 20;  // 512 blocks
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 128;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  RefState ref;
  const uint64_t blocks = cfg.blocks();
  uint64_t version = 0;
  for (uint64_t lba = 0; lba < blocks; lba += 64) {
    JD_REQUIRE_OK(d->write(lba, pattern(lba, 64, ++version)));
    ref.write(lba, 64, version);
  }
  JD_REQUIRE_OK(d->flush());
  uint64_t max_host = 0;
  const uint64_t passes = scaled(8, 3);
  for (uint64_t pass = 0; pass < passes; ++pass) {
    CAPTURE(pass);
    // Every block once per pass, in random runs, flushing every 128 blocks.
    std::vector<uint64_t> starts;
    for (uint64_t lba = 0; lba < blocks; lba += 4) starts.push_back(lba);
    std::shuffle(starts.begin(), starts.end(), rng);
    uint64_t since = 0;
    for (uint64_t lba : starts) {
      const Status s = d->write(lba, pattern(lba, 4, ++version));
      REQUIRE_MESSAGE(s.is_ok(), "seed " << seed << ": " << s.to_string());
      ref.write(lba, 4, version);
      if ((since += 4) >= 128) {
        since = 0;
        JD_REQUIRE_OK(d->flush());
        JD_REQUIRE_OK(d->index_for_tests().compact_now());
        max_host = std::max(max_host, total_host_bytes(store));
      }
    }
    JD_REQUIRE_OK(d->flush());
    CHECK(d->info().live_blocks == blocks);
  }
  CHECK(max_host <= space_bound(cfg.logical_bytes));
  MESSAGE(passes << " full overwrite passes of a full disk; host peak " << max_host << " bytes");
  CHECK(!first_mismatch(read_device(*d), ref));
  close_disk(d);
  d = open_disk(store, cfg);
  CHECK(!first_mismatch(read_device(*d), ref));
}

TEST_CASE("trimming everything gives the space back") {
  DiskConfig cfg;
  cfg.logical_bytes = 2u << 20;
  cfg.segment_blocks = 16;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  JD_REQUIRE_OK(d->write(0, pattern(0, 512, 1)));
  JD_REQUIRE_OK(d->flush());
  const uint64_t full = total_host_bytes(store);
  JD_REQUIRE_OK(d->trim(0, 512));
  JD_REQUIRE_OK(d->flush());
  JD_REQUIRE_OK(d->flush());  // a second commit: blocks freed by the first are released
  const uint64_t empty = total_host_bytes(store);
  CHECK(d->info().live_blocks == 0);
  CHECK(d->info().allocated_blocks == 0);
  // Emptied segments are deleted, except the allocator's current head segment, which stays
  // for the next writes (block_allocator.cpp keeps it); it holds no live block.
  CHECK(names_with_prefix(store, "seg-").size() <= 1);
  CHECK(empty + 512 * kBlockSize / 2 < full);
  close_disk(d);
  d = open_disk(store, cfg);
  CHECK(conformance::all_zero(read_device(*d)));
  // Recovery deletes segments with no live block, the head included.
  CHECK(names_with_prefix(store, "seg-").empty());
}

TEST_CASE("a read-only open serves reads, refuses writes and changes nothing on the host") {
  DiskConfig cfg;
  cfg.logical_bytes = 2u << 20;
  MemoryStore store;
  RefState ref;
  {
    DiskPtr d = create_disk(store, cfg);
    JD_REQUIRE_OK(d->write(10, pattern(10, 30, 1)));
    ref.write(10, 30, 1);
    JD_REQUIRE_OK(d->flush());
    close_disk(d);
  }
  auto before = snapshot_files(store);
  before.erase("lock");
  DiskConfig ro = cfg;
  ro.read_only = true;
  DiskPtr d = open_disk(store, ro);
  CHECK(d->write(10, pattern(10, 1, 2)).code() == Code::kReadOnly);
  CHECK(d->write(0, pattern(0, 4, 2)).code() == Code::kReadOnly);
  CHECK(d->trim(10, 5).code() == Code::kReadOnly);
  CHECK(d->write_bytes(100, std::vector<uint8_t>(10, 1)).code() == Code::kReadOnly);
  CHECK(d->flush().is_ok());
  CHECK(!first_mismatch(read_device(*d), ref));
  const DiskInfo info = d->info();
  CHECK(info.read_only);
  CHECK(!info.read_only_reason.empty());
  JD_REQUIRE_OK(d->close());
  d.reset();
  auto after = snapshot_files(store);
  after.erase("lock");
  CHECK(before == after);
  // A read-write open afterwards still sees the same disk.
  d = open_disk(store, cfg);
  CHECK(!first_mismatch(read_device(*d), ref));
}

}  // namespace jindisk::disk::test
