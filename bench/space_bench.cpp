// space_bench: write amplification, throughput and host usage under steady random 4K
// overwrite of a disk filled to 50%, 80% and 95% of its logical size, with the background
// cleaner running as in the daemon. Not a test: prints a Markdown table.
//
//   space_bench [--dir DIR] [--size MiB] [--passes N] [--flush-every KiB]
//
// For each fullness: a new disk of --size MiB on a real directory; the first `fullness` of it
// written once in 1 MiB writes; then random 4K overwrites inside that region totalling --passes
// times the region, with a flush every --flush-every KiB (as a file system's journal commits
// would). WAF = host bytes written / user bytes written during the overwrite phase (data,
// summaries, cleaner moves, index and root slots). Host usage is sampled after every flush.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "jindisk/disk.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace jindisk;

uint64_t dir_bytes(const std::string& dir) {
  uint64_t sum = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0) sum += uint64_t(st.st_blocks) * 512;
  }
  return sum;
}

struct Row {
  int percent;
  double mib_per_s, waf;
  uint64_t live, peak_host, end_host, reserve, moved, cleaned;
};

bool run(const std::string& dir, uint64_t size_mib, int percent, double passes,
         uint64_t flush_kib, Row& row) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  uint8_t key[32];
  std::random_device rd;
  for (auto& b : key) b = static_cast<uint8_t>(rd());
  CreateOptions co;
  co.logical_bytes = size_mib << 20;
  OpenOptions oo;
  oo.anchor = AnchorMode::kNone;
  auto opened = Disk::create(dir + "/secure", KeySource::key_file_bytes(key), co, oo);
  if (!opened.is_ok()) {
    std::fprintf(stderr, "space_bench: %s\n", opened.status().to_string().c_str());
    return false;
  }
  Disk& d = **opened;
  const uint64_t region_blocks = (size_mib << 20) / kBlockSize * percent / 100;
  std::vector<uint8_t> buf(1 << 20);
  std::mt19937_64 rng(percent);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (uint64_t lba = 0; lba < region_blocks; lba += 256) {
    const uint64_t n = std::min<uint64_t>(256, region_blocks - lba);
    if (!d.write(lba, std::span(buf.data(), n * kBlockSize)).is_ok()) return false;
  }
  if (!d.flush().is_ok()) return false;
  const DiskInfo start = d.info();
  const uint64_t reserve_bytes =
      std::filesystem::exists(dir + "/secure/reserve")
          ? std::filesystem::file_size(dir + "/secure/reserve")
          : 0;

  const uint64_t writes = uint64_t(double(region_blocks) * passes);
  const uint64_t flush_every = std::max<uint64_t>(1, flush_kib * 1024 / kBlockSize);
  uint64_t peak = 0;
  const auto t0 = Clock::now();
  for (uint64_t i = 0; i < writes; ++i) {
    const uint64_t lba = rng() % region_blocks;
    buf[0] = static_cast<uint8_t>(i);
    const Status s = d.write(lba, std::span(buf.data(), kBlockSize));
    if (!s.is_ok()) {
      std::fprintf(stderr, "space_bench: write %llu: %s\n", (unsigned long long)i,
                   s.to_string().c_str());
      return false;
    }
    if (i % flush_every == flush_every - 1) {
      if (!d.flush().is_ok()) return false;
      if ((i / flush_every) % 16 == 0) peak = std::max(peak, dir_bytes(dir + "/secure"));
    }
  }
  if (!d.flush().is_ok()) return false;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const DiskInfo end = d.info();
  peak = std::max(peak, dir_bytes(dir + "/secure"));
  row.percent = percent;
  row.mib_per_s = double(writes * kBlockSize) / (1 << 20) / secs;
  row.waf = double(end.host_bytes_written - start.host_bytes_written) /
            double(end.user_bytes_written - start.user_bytes_written);
  row.live = end.live_blocks * kBlockSize;
  row.peak_host = peak;
  row.end_host = dir_bytes(dir + "/secure");
  row.reserve = reserve_bytes;
  row.moved = end.blocks_moved;
  row.cleaned = end.segments_cleaned;
  return d.close().is_ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/jindisk-space-bench";
  uint64_t size_mib = 1024;
  double passes = 3;
  uint64_t flush_kib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    else if (a == "--size") size_mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--passes") passes = std::strtod(argv[i + 1], nullptr);
    else if (a == "--flush-every") flush_kib = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: space_bench [--dir DIR] [--size MiB] [--passes N] "
                           "[--flush-every KiB]\n");
      return 2;
    }
  }
  std::printf("Random 4K overwrite of a %llu MiB disk, %.1f x the written region, a flush every "
              "%llu KiB; background cleaner on. Host columns: the SECURE_DIR's allocated bytes minus the "
              "space reserve file.\n\n",
              (unsigned long long)size_mib, passes, (unsigned long long)flush_kib);
  std::printf("| fullness | MiB/s | WAF | live MiB | peak host MiB (x live) | end host MiB "
              "(x live) | blocks moved | segments cleaned |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (int percent : {50, 80, 95}) {
    Row r{};
    if (!run(dir, size_mib, percent, passes, flush_kib, r)) return 1;
    const double live = double(r.live) / (1 << 20);
    const double peak = double(r.peak_host - r.reserve) / (1 << 20);
    const double end = double(r.end_host - r.reserve) / (1 << 20);
    std::printf("| %d%% | %.0f | %.3f | %.0f | %.0f (%.2fx) | %.0f (%.2fx) | %llu | %llu |\n",
                r.percent, r.mib_per_s, r.waf, live, peak, peak / live, end, end / live,
                (unsigned long long)r.moved, (unsigned long long)r.cleaned);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
