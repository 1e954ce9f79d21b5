// Read-ahead: recognising sequential scans (SequentialReads), and what the data path then asks
// of the host (whole segments for a scan, only the blocks needed otherwise). Prefetching is a
// hint, so these tests watch the hints through a store that records them.
#include "disk/sequential_reads.hpp"

#include <doctest/doctest.h>

#include <random>

#include "disk/segment_files.hpp"
#include "disk_test_util.hpp"

namespace jindisk::disk {
namespace {

using test::DiskConfig;

TEST_CASE("a run of large reads in order is a scan from its third read on") {
  SequentialReads seq;
  CHECK_FALSE(seq.observe(0, 256));
  CHECK_FALSE(seq.observe(256, 256));
  CHECK(seq.observe(512, 256));
  CHECK(seq.observe(768, 256));
}

TEST_CASE("reads in flight that arrive slightly out of order still continue the scan") {
  SequentialReads seq;
  CHECK_FALSE(seq.observe(1000, 256));
  CHECK_FALSE(seq.observe(1512, 256));  // one request overtook another
  CHECK(seq.observe(1256, 256));
  CHECK(seq.observe(1768, 256));
}

TEST_CASE("small reads are never a scan, however sequential") {
  SequentialReads seq;
  for (uint64_t lba = 0; lba < 4096; lba += SequentialReads::kMinBlocks - 1) {
    CHECK_FALSE(seq.observe(lba, SequentialReads::kMinBlocks - 1));
  }
}

TEST_CASE("two interleaved scans are both recognised") {
  SequentialReads seq;
  const uint64_t a = 0, b = 1u << 30;
  for (uint64_t i = 0; i < 2; ++i) {
    CHECK_FALSE(seq.observe(a + i * 64, 64));
    CHECK_FALSE(seq.observe(b + i * 64, 64));
  }
  CHECK(seq.observe(a + 128, 64));
  CHECK(seq.observe(b + 128, 64));
}

TEST_CASE("random 256 KiB reads over a 16 GiB disk are almost never a scan") {
  SequentialReads seq;
  std::mt19937_64 rng(7);
  const uint64_t blocks = (16ull << 30) / 4096;
  int scans = 0;
  for (int i = 0; i < 20000; ++i) scans += seq.observe(rng() % (blocks - 64), 64);
  CHECK(scans < 20);  // 0.1%
}

// ---- What reaches the host

struct Hint {
  std::string name;
  uint64_t offset;
  size_t bytes;
};

class HintLog {
 public:
  void add(Hint h) {
    std::lock_guard lock(mu_);
    hints_.push_back(std::move(h));
  }
  std::vector<Hint> take() {
    std::lock_guard lock(mu_);
    return std::exchange(hints_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Hint> hints_;
};

class HintRecordingFile final : public host::File {
 public:
  HintRecordingFile(std::unique_ptr<host::File> inner, std::string name, HintLog& log)
      : inner_(std::move(inner)), name_(std::move(name)), log_(log) {}
  Result<size_t> read_at(uint64_t offset, std::span<uint8_t> out) override {
    return inner_->read_at(offset, out);
  }
  Status write_at(uint64_t offset, std::span<const uint8_t> data) override {
    return inner_->write_at(offset, data);
  }
  Status sync() override { return inner_->sync(); }
  Result<uint64_t> size() override { return inner_->size(); }
  Status truncate(uint64_t size) override { return inner_->truncate(size); }
  void prefetch(uint64_t offset, size_t bytes) override { log_.add({name_, offset, bytes}); }

 private:
  std::unique_ptr<host::File> inner_;
  std::string name_;
  HintLog& log_;
};

class HintRecordingStore final : public host::Store {
 public:
  Result<std::unique_ptr<host::File>> open(std::string_view name, host::OpenMode mode) override {
    JD_ASSIGN_OR_RETURN(auto f, inner_.open(name, mode));
    return std::unique_ptr<host::File>(new HintRecordingFile(std::move(f), std::string(name), log));
  }
  Status remove(std::string_view name) override { return inner_.remove(name); }
  Status rename(std::string_view from, std::string_view to) override {
    return inner_.rename(from, to);
  }
  Result<bool> exists(std::string_view name) override { return inner_.exists(name); }
  Result<std::vector<std::string>> list() override { return inner_.list(); }
  Status sync_dir() override { return inner_.sync_dir(); }
  Result<std::unique_ptr<host::DirLock>> lock(std::string_view name) override {
    return inner_.lock(name);
  }
  Result<host::SpaceInfo> space() override { return inner_.space(); }
  std::string describe() const override { return inner_.describe(); }

  HintLog log;

 private:
  host::MemoryStore inner_;
};

constexpr uint32_t kSegmentBlocks = 16;

TEST_CASE("a segment is prefetched whole, and not again while the first hint is recent") {
  HintRecordingStore store;
  SegmentFiles files(store, kSegmentBlocks);
  std::vector<uint8_t> blocks(4 * 4096, 1), entries(4 * SegmentSummary::kEntrySize, 0);
  REQUIRE(files.write(3 * kSegmentBlocks, blocks, entries).is_ok());
  store.log.take();
  files.prefetch_segment(3);
  files.prefetch_segment(3);
  const auto hints = store.log.take();
  REQUIRE(hints.size() == 1);
  CHECK(hints[0].name == SegmentFiles::name(3));
  CHECK(hints[0].offset == 0);
  CHECK(hints[0].bytes == SegmentFiles::slot_offset(kSegmentBlocks, kSegmentBlocks));
}

TEST_CASE("the disk asks the host for whole segments during a scan, for single blocks otherwise") {
  HintRecordingStore store;
  DiskConfig cfg;
  cfg.logical_bytes = 8u << 20;
  cfg.segment_blocks = kSegmentBlocks;
  cfg.write_buffer_bytes = 1u << 20;
  auto disk = test::create_disk(store, cfg);
  const uint64_t n = cfg.blocks();
  std::vector<uint8_t> data(n * kBlockSize);
  for (uint64_t lba = 0; lba < n; ++lba) test::fill_pattern(data.data() + lba * kBlockSize, lba, 1);
  JD_REQUIRE_OK(disk->write(0, data));
  JD_REQUIRE_OK(disk->flush());
  store.log.take();

  auto whole_segment_hints = [&] {
    size_t whole = 0;
    for (const Hint& h : store.log.take()) {
      whole +=
          h.offset == 0 && h.bytes == SegmentFiles::slot_offset(kSegmentBlocks, kSegmentBlocks);
    }
    return whole;
  };

  // Random reads of 64 KiB: scattered blocks are prefetched, never a whole segment.
  std::mt19937_64 rng(3);
  std::vector<uint8_t> out(64 * kBlockSize), expect(kBlockSize);
  for (int i = 0; i < 100; ++i) {
    const uint64_t lba = rng() % (n - 16);
    JD_REQUIRE_OK(disk->read(lba, std::span(out).first(16 * kBlockSize)));
  }
  CHECK(whole_segment_hints() == 0);

  // A scan in 256 KiB reads: from the third read on, the segments it touches come whole.
  for (uint64_t lba = 0; lba < n; lba += 64) {
    JD_REQUIRE_OK(disk->read(lba, out));
    for (uint64_t i = 0; i < 64; ++i) {
      test::fill_pattern(expect.data(), lba + i, 1);
      REQUIRE(std::memcmp(out.data() + i * kBlockSize, expect.data(), kBlockSize) == 0);
    }
  }
  // Every segment holding data is asked for once (the first two reads' segments may be
  // asked again later in the scan, the interval keeps it to once).
  const size_t segments = n / kSegmentBlocks;
  const size_t whole = whole_segment_hints();
  CHECK(whole >= segments * 9 / 10);
  CHECK(whole <= segments + 2);
  test::close_disk(disk);
}

}  // namespace
}  // namespace jindisk::disk
