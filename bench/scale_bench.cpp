// scale_bench: memory does not grow with the logical size. Creates a 1 TiB disk with the
// default options, writes --gib GiB (default 16) in 1 MiB writes at random 1 MiB-aligned places
// across the whole TiB (index entries spread over the full range), flushing every 256 MiB;
// reports peak RSS, then close and reopen time. Not a test: prints a table.
//   scale_bench [--dir DIR] [--gib N]
#include <sys/resource.h>

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
double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

int main(int argc, char** argv) {
  using namespace jindisk;
  std::string dir = "/var/tmp/jindisk-scale-bench";
  uint64_t gib = 16;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--gib")) gib = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::filesystem::remove_all(dir);
  uint8_t key_bytes[32];
  std::random_device rd;
  for (auto& b : key_bytes) b = static_cast<uint8_t>(rd());
  const KeySource key = KeySource::key_file_bytes(key_bytes);
  CreateOptions co;
  co.logical_bytes = 1ull << 40;
  OpenOptions oo;  // defaults: the cache the daemon uses
  oo.anchor = AnchorMode::kNone;
  auto disk = Disk::create(dir, key, co, oo);
  if (!disk.is_ok()) {
    std::fprintf(stderr, "scale_bench: %s\n", disk.status().to_string().c_str());
    return 1;
  }
  std::vector<uint8_t> buf(1 << 20);
  std::mt19937_64 rng(42);
  const uint64_t slots = co.logical_bytes >> 20;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < gib * 1024; ++i) {
    const uint64_t slot = rng() % slots;
    for (size_t j = 0; j < buf.size(); j += 8) std::memcpy(&buf[j], &i, 8);  // cheap, unique
    Status s = (*disk)->write(slot << 8, buf);
    if (s.is_ok() && i % 256 == 255) s = (*disk)->flush();
    if (!s.is_ok()) {
      std::fprintf(stderr, "scale_bench: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  const double write_s = seconds_since(start);
  const DiskInfo info = (*disk)->info();
  const double rss_written = peak_rss_mib();
  auto t = std::chrono::steady_clock::now();
  if (Status s = (*disk)->close(); !s.is_ok()) return 1;
  const double close_s = seconds_since(t);
  disk = Result<std::unique_ptr<Disk>>(Status::invalid_argument("closed"));
  t = std::chrono::steady_clock::now();
  auto reopened = Disk::open(dir, key, oo);
  const double open_s = seconds_since(t);
  if (!reopened.is_ok()) return 1;
  std::printf("| measure | value |\n|---|---|\n");
  std::printf("| logical size | 1 TiB |\n| written | %llu GiB in %.1f s (%.0f MiB/s) |\n",
              static_cast<unsigned long long>(gib), write_s, gib * 1024 / write_s);
  std::printf("| live blocks | %llu |\n| index files | %llu |\n",
              static_cast<unsigned long long>(info.live_blocks),
              static_cast<unsigned long long>(info.index_files));
  std::printf("| peak RSS after writing | %.0f MiB |\n| close (final commit) | %.2f s |\n", rss_written, close_s);
  std::printf("| reopen | %.2f s |\n| peak RSS after reopen | %.0f MiB |\n", open_s, peak_rss_mib());
  (void)(*reopened)->close();
  std::filesystem::remove_all(dir);
  return 0;
}
