// disk-golden: format compatibility. tests/data/golden-v2/ is a small disk made by format
// version 2 and committed to the repository; every build must open it with its passphrase and
// read exactly the content it was made with. If this fails, the on-disk format changed: bump
// the format version (docs/format.md), keep reading the old one, and add a new golden image.
//
// JINDISK_MAKE_GOLDEN=DIR makes a new image in DIR (an empty or missing directory) instead.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "disk_test_util.hpp"

namespace jindisk::disk::test {
namespace {

constexpr char kGoldenPassphrase[] = "jindisk golden image, format 2";
constexpr uint64_t kGoldenBytes = 8u << 20;

// Self-contained content (not the test helpers' pattern, which may change): a readable line,
// then bytes derived from the LBA and version.
std::vector<uint8_t> golden_block(uint64_t lba, uint64_t version) {
  std::vector<uint8_t> b(kBlockSize);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(lba * 31 + version * 7 + i);
  char line[64];
  const int n = std::snprintf(line, sizeof line, "golden lba %llu version %llu\n",
                              static_cast<unsigned long long>(lba),
                              static_cast<unsigned long long>(version));
  std::memcpy(b.data(), line, static_cast<size_t>(n));
  return b;
}

// What the image holds: lba -> version (absent: zeros).
std::map<uint64_t, uint64_t> golden_content() {
  std::map<uint64_t, uint64_t> v;
  for (uint64_t lba = 0; lba < 100; ++lba) v[lba] = 1;
  for (uint64_t lba = 10; lba < 30; ++lba) v[lba] = 2;
  for (uint64_t lba = 50; lba < 60; ++lba) v.erase(lba);
  for (uint64_t lba = 2000; lba < 2011; ++lba) v[lba] = 3;
  return v;
}

}  // namespace

TEST_CASE("the golden image of format 2 opens and reads its known content") {
  if (const char* out = std::getenv("JINDISK_MAKE_GOLDEN"); out && *out) {
    CreateOptions co;
    co.logical_bytes = kGoldenBytes;
    co.kdf = KdfStrength::kTesting;
    co.segment_blocks = 16;
    OpenOptions oo;
    oo.anchor = AnchorMode::kNone;
    oo.space_reserve_bytes = 0;
    oo.memtable_entries = 32;
    auto d = Disk::create(out, KeySource::passphrase(kGoldenPassphrase), co, oo);
    JD_REQUIRE_OK(d.status());
    for (uint64_t lba = 0; lba < 100; ++lba) JD_REQUIRE_OK((*d)->write(lba, golden_block(lba, 1)));
    JD_REQUIRE_OK((*d)->flush());
    for (uint64_t lba = 10; lba < 30; ++lba) JD_REQUIRE_OK((*d)->write(lba, golden_block(lba, 2)));
    JD_REQUIRE_OK((*d)->flush());
    JD_REQUIRE_OK((*d)->trim(50, 10));
    JD_REQUIRE_OK((*d)->flush());
    for (uint64_t lba = 2000; lba < 2011; ++lba) {
      JD_REQUIRE_OK((*d)->write(lba, golden_block(lba, 3)));
    }
    JD_REQUIRE_OK((*d)->flush());
    JD_REQUIRE_OK((*d)->close());
    MESSAGE("made a golden image in " << out);
    return;
  }
  const char* data = std::getenv("JINDISK_TEST_DATA");
  REQUIRE_MESSAGE(data != nullptr, "JINDISK_TEST_DATA (tests/data) is not set");
  const std::filesystem::path golden = std::filesystem::path(data) / "golden-v2";
  REQUIRE_MESSAGE(std::filesystem::exists(golden / "header"), golden << " holds no disk");
  // Work on a copy: even a read-only open must never be able to change the committed image.
  TempDir tmp;
  const std::filesystem::path copy = std::filesystem::path(tmp.path()) / "disk";
  std::filesystem::copy(golden, copy);

  auto header = read_header_info(copy.string());
  JD_REQUIRE_OK(header.status());
  CHECK(header->format_version == 2);
  CHECK(header->logical_bytes == kGoldenBytes);
  CHECK(header->segment_blocks == 16);

  CHECK(Disk::open(copy.string(), KeySource::passphrase("not the passphrase"), OpenOptions{})
            .status()
            .code() == Code::kWrongKey);
  OpenOptions oo;
  oo.read_only = true;
  oo.anchor = AnchorMode::kNone;
  auto d = Disk::open(copy.string(), KeySource::passphrase(kGoldenPassphrase), oo);
  JD_REQUIRE_OK(d.status());
  const auto content = golden_content();
  std::vector<uint8_t> got(kBlockSize);
  const std::vector<uint8_t> zeros(kBlockSize, 0);
  for (uint64_t lba = 0; lba < kGoldenBytes / kBlockSize; ++lba) {
    CAPTURE(lba);
    JD_REQUIRE_OK((*d)->read(lba, got));
    auto it = content.find(lba);
    REQUIRE((it == content.end() ? got == zeros : got == golden_block(lba, it->second)));
  }
  auto report = (*d)->check(nullptr);
  JD_REQUIRE_OK(report.status());
  CHECK(report->clean());
  CHECK(report->live_blocks == content.size());
  JD_REQUIRE_OK((*d)->close());
}

}  // namespace jindisk::disk::test
