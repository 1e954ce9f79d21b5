// disk-cleaner: the segment cleaner and the space policy. Host usage follows live data (thin
// provisioning, trim that gives space back, bounded usage under steady overwrite at several
// fullness levels), moved blocks are never returned stale, the segment summary leaks nothing
// and cannot be used to corrupt data, and a full host gives kNoSpace without losing anything.
// Crashes inside cleaning are explored by disk-crash (its workload has cleaning passes).
#include <doctest/doctest.h>

#include <atomic>
#include <random>
#include <thread>

#include "crypto/aead.hpp"
#include "disk_test_util.hpp"

namespace jindisk::disk::test {
namespace {

uint64_t segment_file_bytes(MemoryStore& store) {
  // A background cleaner may remove a file between the listing and the read: skip it.
  uint64_t sum = 0;
  for (const auto& n : names_with_prefix(store, "seg-")) {
    if (auto bytes = store.read_all(n); bytes.is_ok()) sum += bytes->size();
  }
  return sum;
}

uint64_t segment_bytes_each(const DiskConfig& cfg) {
  return SegmentSummary::area_bytes(cfg.segment_blocks) + uint64_t(cfg.segment_blocks) * kBlockSize;
}

// Runs cleaning steps until the cleaner has nothing to do (what the background thread does
// after each commit). Returns the number of steps that did work.
uint64_t clean_until_idle(SecureDisk& d, uint64_t limit = 100000) {
  uint64_t steps = 0;
  for (; steps < limit; ++steps) {
    auto more = d.clean_step();
    REQUIRE_MESSAGE(more.is_ok(), more.status().to_string());
    if (!*more) break;
  }
  REQUIRE(steps < limit);
  return steps;
}

void check_content(SecureDisk& d, const RefState& ref, const std::string& when) {
  const auto content = read_device(d);
  const auto bad = first_mismatch(content, ref);
  REQUIRE_MESSAGE(!bad, when << ": wrong content at lba " << *bad);
}

// Writes every LBA of [0, blocks) once in random 1-8 block runs, flushing every ~300 blocks.
void fill_region(SecureDisk& d, RefState& ref, uint64_t blocks, uint64_t& version,
                 std::mt19937_64& rng) {
  std::vector<uint64_t> starts;
  for (uint64_t lba = 0; lba < blocks; lba += 8) starts.push_back(lba);
  std::shuffle(starts.begin(), starts.end(), rng);
  uint64_t since = 0;
  for (uint64_t lba : starts) {
    const uint64_t n = std::min<uint64_t>(8, blocks - lba);
    JD_REQUIRE_OK(d.write(lba, pattern(lba, n, ++version)));
    ref.write(lba, n, version);
    if ((since += n) >= 300) {
      since = 0;
      JD_REQUIRE_OK(d.flush());
    }
  }
  JD_REQUIRE_OK(d.flush());
}

}  // namespace

TEST_CASE("a new disk of any size occupies a small fixed amount of host space") {
  for (uint64_t logical : {uint64_t{4} << 20, uint64_t{1} << 30, uint64_t{1} << 40}) {
    CAPTURE(logical);
    DiskConfig cfg;
    cfg.logical_bytes = logical;
    cfg.segment_blocks = 1024;
    MemoryStore store;
    DiskPtr d = create_disk(store, cfg);
    JD_REQUIRE_OK(d->flush());
    CHECK(names_with_prefix(store, "seg-").empty());
    CHECK(total_host_bytes(store) <= 64u << 10);
    // Segment files appear as data is written, not before.
    JD_REQUIRE_OK(d->write(d->block_count() - 1, pattern(d->block_count() - 1, 1, 1)));
    JD_REQUIRE_OK(d->flush());
    CHECK(names_with_prefix(store, "seg-").size() == 1);
    CHECK(total_host_bytes(store) <= (64u << 10) + 2 * segment_bytes_each(cfg));
    MESSAGE("logical " << (logical >> 20) << " MiB: host " << total_host_bytes(store)
                       << " bytes after one written block");
  }
}

TEST_CASE("trimming everything and cleaning brings the host back near a fresh disk") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 32u << 20;
  cfg.segment_blocks = 64;
  cfg.memtable_entries = 512;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  JD_REQUIRE_OK(d->flush());
  const uint64_t fresh = total_host_bytes(store);
  RefState ref;
  uint64_t version = 0;
  fill_region(*d, ref, cfg.blocks(), version, rng);
  const uint64_t full = total_host_bytes(store);
  // Trim in pieces with flushes between them (as fstrim does), cleaning in between.
  for (uint64_t lba = 0; lba < cfg.blocks(); lba += 1000) {
    const uint64_t n = std::min<uint64_t>(1000, cfg.blocks() - lba);
    JD_REQUIRE_OK(d->trim(lba, n));
    ref.trim(lba, n);
    JD_REQUIRE_OK(d->flush());
    clean_until_idle(*d);
  }
  JD_REQUIRE_OK(d->index_for_tests().compact_now());
  JD_REQUIRE_OK(d->flush());
  clean_until_idle(*d);
  const uint64_t after = total_host_bytes(store);
  const auto st = d->index_for_tests().stats();
  MESSAGE("fresh " << fresh << " bytes, full " << full << ", after trimming everything " << after
                   << "; index: " << st.sst_files << " files, " << st.sst_entries << " entries, "
                   << st.levels << " levels, " << st.memtable_entries << " in the memtable:\n"
                   << d->describe_files());
  CHECK(after <= fresh + (2u << 20));
  CHECK(d->info().host_bytes == after);
  check_content(*d, ref, "after trim");
  close_disk(d);
  d = open_disk(store, cfg);
  check_content(*d, ref, "after reopen");
}

TEST_CASE("after trimming half of every segment, cleaning shrinks the host to live data") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 32u << 20;
  cfg.segment_blocks = 64;
  cfg.memtable_entries = 512;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  RefState ref;
  uint64_t version = 0;
  fill_region(*d, ref, cfg.blocks(), version, rng);
  // Every other 4-block run: garbage spread over all segments, none of them empty.
  for (uint64_t lba = 0; lba < cfg.blocks(); lba += 8) {
    JD_REQUIRE_OK(d->trim(lba, 4));
    ref.trim(lba, 4);
  }
  JD_REQUIRE_OK(d->flush());
  const uint64_t live = ref.version.size() * kBlockSize;
  const uint64_t before = segment_file_bytes(store);
  const uint64_t written_before = d->info().host_bytes_written;
  const uint64_t steps = clean_until_idle(*d);
  const uint64_t after = segment_file_bytes(store);
  const DiskInfo info = d->info();
  MESSAGE("live " << live << " bytes; segments " << before << " -> " << after << " bytes in "
                  << steps << " steps, " << info.blocks_moved << " blocks moved, garbage ratio "
                  << info.garbage_ratio << ", host bytes written by cleaning "
                  << info.host_bytes_written - written_before);
  CHECK(before >= live * 18 / 10);
  CHECK(steps > 0);
  CHECK(info.segments_cleaned > 0);
  CHECK(after <= live * 13 / 10 + 3 * segment_bytes_each(cfg));
  CHECK(info.garbage_ratio < 0.25);
  check_content(*d, ref, "after cleaning");
  auto report = d->check(nullptr);
  JD_REQUIRE_OK(report.status());
  CHECK(report->clean());
  close_disk(d);
  d = open_disk(store, cfg);
  check_content(*d, ref, "after reopen");
}

TEST_CASE("steady random overwrite at 50, 80 and 95% fullness keeps host usage bounded") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  for (int percent : {50, 80, 95}) {
    CAPTURE(percent);
    std::mt19937_64 rng(seed + percent);
    DiskConfig cfg;
    cfg.logical_bytes = 16u << 20;  // 4096 blocks
    cfg.segment_blocks = 64;
    cfg.memtable_entries = 1024;
    cfg.write_buffer_bytes = 256u << 10;
    cfg.background_compaction = true;  // as in the daemon: the index stays compact
    MemoryStore store;
    DiskPtr d = create_disk(store, cfg);
    RefState ref;
    uint64_t version = 0;
    const uint64_t region = cfg.blocks() * percent / 100;
    fill_region(*d, ref, region, version, rng);
    const uint64_t user_before = d->info().user_bytes_written;
    const uint64_t host_before = d->info().host_bytes_written;
    const uint64_t live = region * kBlockSize;
    // Segments: 1.3x the live data plus the two heads; other files: the index (about 60 bytes
    // an entry, more before compaction), root, header: a fixed allowance.
    const uint64_t segment_bound = live * 13 / 10 + 3 * segment_bytes_each(cfg);
    const uint64_t meta_bound = 1u << 20;
    uint64_t peak_segments = 0, peak_total = 0;
    const uint64_t target = region * scaled(6, 2);
    for (uint64_t n = 0; n < target; ++n) {
      const uint64_t lba = rng() % region;
      const Status s = d->write(lba, pattern(lba, 1, ++version));
      REQUIRE_MESSAGE(s.is_ok(), "write " << n << ": " << s.to_string());
      ref.write(lba, 1, version);
      if (n % 128 == 127) {
        JD_REQUIRE_OK(d->flush());
        clean_until_idle(*d);
        const uint64_t segs = segment_file_bytes(store);
        const uint64_t total = total_host_bytes(store);
        peak_segments = std::max(peak_segments, segs);
        peak_total = std::max(peak_total, total);
        REQUIRE_MESSAGE(segs <= segment_bound, "after " << n << " overwrites the segments hold "
                                                        << segs << " bytes for " << live);
        REQUIRE_MESSAGE(total - segs <= meta_bound,
                        "metadata " << total - segs << " bytes:\n" << d->describe_files());
      }
    }
    JD_REQUIRE_OK(d->flush());
    const DiskInfo info = d->info();
    const double waf = double(info.host_bytes_written - host_before) /
                       double(info.user_bytes_written - user_before);
    MESSAGE(percent << "% full: " << target << " random 4K overwrites; peak segments "
                    << peak_segments << " bytes (" << double(peak_segments) / live
                    << "x live), peak host " << peak_total << " bytes; " << info.blocks_moved
                    << " blocks moved by the cleaner; write amplification " << waf);
    CHECK(waf < 2.0);
    check_content(*d, ref, "after the overwrites");
    close_disk(d);
    d = open_disk(store, cfg);
    check_content(*d, ref, "after reopen");
  }
}

TEST_CASE("a block the cleaner moves is never read stale, under concurrent reads and writes") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 8u << 20;  // 2048 blocks
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 256;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  constexpr uint64_t kBlocks = 1024;
  // completed[lba]: the newest version whose write returned; started[lba]: the newest begun.
  std::vector<std::atomic<uint64_t>> completed(kBlocks), started(kBlocks);
  for (uint64_t lba = 0; lba < kBlocks; ++lba) {
    JD_REQUIRE_OK(d->write(lba, pattern(lba, 1, 1)));
    completed[lba] = started[lba] = 1;
  }
  JD_REQUIRE_OK(d->flush());

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, stale{0}, moved_steps{0};
  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mu;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(failure_mu);
    if (failures++ == 0) first_failure = what;
  };
  const uint64_t writes_target = scaled(20000, 4000);
  std::thread writer([&] {
    std::mt19937_64 rng(seed);
    for (uint64_t n = 0; n < writes_target && !failures; ++n) {
      const uint64_t lba = rng() % kBlocks;
      const uint64_t v = started[lba] + 1;
      started[lba] = v;
      const Status s = d->write(lba, pattern(lba, 1, v));
      if (!s.is_ok()) fail("write: " + s.to_string());
      completed[lba] = v;
      if (n % 64 == 63) {
        const Status f = d->flush();
        if (!f.is_ok()) fail("flush: " + f.to_string());
      }
    }
    stop = true;
  });
  std::thread cleaner([&] {
    while (!stop) {
      auto r = d->clean_step(/*force=*/true);
      if (!r.is_ok()) fail("clean_step: " + r.status().to_string());
      else if (*r) ++moved_steps;
      else std::this_thread::yield();
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      std::vector<uint8_t> got(kBlockSize), want(kBlockSize);
      while (!stop) {
        const uint64_t lba = rng() % kBlocks;
        const uint64_t lo = completed[lba];
        const Status s = d->read(lba, got);
        const uint64_t hi = started[lba];
        ++reads;
        if (!s.is_ok()) {
          fail("read lba " + std::to_string(lba) + ": " + s.to_string());
          continue;
        }
        bool ok = false;
        for (uint64_t v = lo; v <= hi && !ok; ++v) {
          fill_pattern(want.data(), lba, v);
          ok = got == want;
        }
        if (!ok) {
          ++stale;
          fail("lba " + std::to_string(lba) + " read none of versions " + std::to_string(lo) +
               ".." + std::to_string(hi));
        }
      }
    });
  }
  writer.join();
  cleaner.join();
  for (auto& r : readers) r.join();
  MESSAGE(writes_target << " writes, " << reads.load() << " concurrent reads, "
                        << moved_steps.load() << " cleaning steps, "
                        << d->info().blocks_moved << " blocks moved; stale reads: " << stale.load());
  CHECK_MESSAGE(failures == 0, first_failure);
  CHECK(moved_steps > 10);
  JD_REQUIRE_OK(d->flush());
  RefState ref;
  for (uint64_t lba = 0; lba < kBlocks; ++lba) ref.write(lba, 1, completed[lba]);
  check_content(*d, ref, "at the end");
  close_disk(d);
  d = open_disk(store, cfg);
  check_content(*d, ref, "after reopen");
}

TEST_CASE("the background cleaner shrinks the host on its own after a trim and a flush") {
  DiskConfig cfg;
  cfg.logical_bytes = 16u << 20;
  cfg.segment_blocks = 64;
  cfg.background_cleaning = true;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  std::mt19937_64 rng(test_seed());
  RefState ref;
  uint64_t version = 0;
  fill_region(*d, ref, cfg.blocks(), version, rng);
  for (uint64_t lba = 0; lba < cfg.blocks(); lba += 4) {
    JD_REQUIRE_OK(d->trim(lba, 3));
    ref.trim(lba, 3);
  }
  JD_REQUIRE_OK(d->flush());
  const uint64_t live = ref.version.size() * kBlockSize;
  const uint64_t bound = live * 13 / 10 + 3 * segment_bytes_each(cfg);
  uint64_t segs = segment_file_bytes(store);
  for (int i = 0; i < 200 && segs > bound; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    segs = segment_file_bytes(store);
  }
  MESSAGE("live " << live << " bytes; segments after background cleaning " << segs << " bytes; "
                  << d->info().segments_cleaned << " segments cleaned");
  CHECK(segs <= bound);
  check_content(*d, ref, "after background cleaning");
}

TEST_CASE("a damaged or altered segment summary never changes data; the cleaner skips it") {
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 16;
  MemoryStore store;
  Warnings warnings;
  DiskPtr d = create_disk(store, cfg, warnings);
  RefState ref;
  for (uint64_t lba = 0; lba < 256; ++lba) {
    JD_REQUIRE_OK(d->write(lba, pattern(lba, 1, 1)));
    ref.write(lba, 1, 1);
  }
  JD_REQUIRE_OK(d->flush());
  for (uint64_t lba = 0; lba < 256; lba += 2) {
    JD_REQUIRE_OK(d->trim(lba, 1));
    ref.trim(lba, 1);
  }
  JD_REQUIRE_OK(d->flush());
  close_disk(d);
  // Scramble every entry of every summary, then swap two segments' summaries: the cleaner must
  // find that no entry matches the index and leave those segments alone.
  const auto segs = names_with_prefix(store, "seg-");
  REQUIRE(segs.size() >= 4);
  const uint64_t area = SegmentSummary::area_bytes(cfg.segment_blocks);
  for (size_t i = 0; i < segs.size(); ++i) {
    auto bytes = raw(store, segs[i]);
    if (i % 2 == 0) {
      for (uint64_t off = 8; off < area; off += SegmentSummary::kEntrySize) bytes[off] ^= 0x5a;
    } else if (i + 1 < segs.size()) {
      auto other = raw(store, segs[i + 1]);
      std::copy_n(other.begin(), area, bytes.begin());
    }
    put_raw(store, segs[i], bytes);
  }
  d = open_disk(store, cfg, warnings);
  check_content(*d, ref, "after altering the summaries");
  uint64_t steps = 0;
  for (; steps < 1000; ++steps) {
    auto more = d->clean_step(/*force=*/true);
    JD_REQUIRE_OK(more.status());
    if (!*more) break;
  }
  CHECK(steps < 1000);
  CHECK(warnings.contains("does not match the index"));
  check_content(*d, ref, "after cleaning attempts");
  auto report = d->check(nullptr);
  JD_REQUIRE_OK(report.status());
  CHECK(report->clean());
  close_disk(d);
  d = open_disk(store, cfg);
  check_content(*d, ref, "after reopen");
}

TEST_CASE("summary entries reveal no LBA: one LBA written twice gives unrelated entries") {
  const crypto::SecretKey key = crypto::SecretKey::random();
  SegmentSummary summary(crypto::SecretKey::from_bytes(key.bytes()));
  std::array<uint8_t, SegmentSummary::kEntrySize> a{}, b{}, c{};
  // Salts drawn as a drain draws them: one stream for all entries.
  std::array<std::array<uint8_t, SegmentSummary::kSaltSize>, 3> salts;
  crypto::random_bulk({salts[0].data(), sizeof salts});
  summary.encode(100, 42, salts[0], a);
  summary.encode(100, 42, salts[1], b);  // the same LBA at the same HBA again
  summary.encode(101, 42, salts[2], c);
  CHECK(a != b);
  CHECK(a != c);
  CHECK(summary.decode(100, a) == 42);
  CHECK(summary.decode(100, b) == 42);
  CHECK(summary.decode(101, c) == 42);
  // Without the key, the entry is not the LBA in clear and decodes to something else.
  SegmentSummary other(crypto::SecretKey::random());
  CHECK(other.decode(100, a) != 42);
  uint64_t masked;
  std::memcpy(&masked, a.data() + 8, 8);
  CHECK(masked != 42);
}

TEST_CASE("a full host gives kNoSpace, keeps every flush, and writing resumes after a trim") {
  DiskConfig cfg;
  cfg.logical_bytes = 16u << 20;
  cfg.segment_blocks = 64;
  cfg.space_reserve_bytes = cfg.write_buffer_bytes + (1u << 20);
  MemoryStore store;
  Warnings warnings;
  DiskPtr d = create_disk(store, cfg, warnings);
  CHECK(raw(store, kReserveName).size() == cfg.space_reserve_bytes);
  RefState flushed, ref;
  uint64_t version = 0;
  // Room for about 6 MiB of host files.
  store.set_capacity(total_host_bytes(store) + (6u << 20));
  Status s;
  uint64_t lba = 0;
  for (; lba + 8 <= cfg.blocks(); lba += 8) {
    s = d->write(lba, pattern(lba, 8, ++version));
    if (s.is_ok()) {
      ref.write(lba, 8, version);
      if (lba % 64 == 56) {
        s = d->flush();
        if (s.is_ok()) flushed = ref;
      }
    }
    if (!s.is_ok()) break;
  }
  REQUIRE_MESSAGE(s.code() == Code::kNoSpace, s.to_string());
  MESSAGE("host full after " << lba << " blocks: " << s.to_string());
  CHECK(!d->info().read_only);
  // Give space back by trimming half of what was flushed; writes then succeed again.
  for (uint64_t t = 0; t < lba / 2; t += 8) {
    JD_REQUIRE_OK(d->trim(t, 8));
    ref.trim(t, 8);
  }
  // The flush commits the trims (using the reserve for the buffered blocks), which frees space.
  JD_REQUIRE_OK(d->flush());
  CHECK(warnings.contains("space reserve"));
  flushed = ref;
  clean_until_idle(*d);
  for (uint64_t t = 0; t < 256; t += 8) {
    JD_REQUIRE_OK(d->write(t, pattern(t, 8, ++version)));
    ref.write(t, 8, version);
  }
  JD_REQUIRE_OK(d->flush());
  check_content(*d, ref, "after resuming");
  close_disk(d);
  store.set_capacity(UINT64_MAX);
  d = open_disk(store, cfg);
  check_content(*d, ref, "after reopen");
}

}  // namespace jindisk::disk::test
