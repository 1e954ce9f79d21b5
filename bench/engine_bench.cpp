// engine_bench: the secure disk through its C++ API on a real directory, next to plain
// pwrite/pread on a host file of the same size in the same directory (O_DIRECT, so neither
// side is measured against the page cache on reads of the raw file).
//
//   engine_bench [--dir DIR] [--size MiB] [--seconds S] [--threads N]
//
// Workloads as in the seeds' fio table: seq write 1M, random write 4K/32K/256K, seq read 1M,
// random read 4K/32K/256K, each for a fixed time over a region of --size MiB (written in full
// first for the reads), plus flush latency (4K write + flush, p50/p99). Writes include the
// final flush. Not a test: prints a Markdown table.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jindisk/disk.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace jindisk;

struct Target {
  virtual ~Target() = default;
  virtual bool write(uint64_t off, const uint8_t* p, size_t n) = 0;
  virtual bool read(uint64_t off, uint8_t* p, size_t n) = 0;
  virtual bool flush() = 0;
};

struct DiskTarget : Target {
  explicit DiskTarget(Disk& d) : disk(d) {}
  bool write(uint64_t off, const uint8_t* p, size_t n) override {
    return disk.write(off / kBlockSize, {p, n}).is_ok();
  }
  bool read(uint64_t off, uint8_t* p, size_t n) override {
    return disk.read(off / kBlockSize, {p, n}).is_ok();
  }
  bool flush() override { return disk.flush().is_ok(); }
  Disk& disk;
};

struct FileTarget : Target {
  explicit FileTarget(int f) : fd(f) {}
  bool write(uint64_t off, const uint8_t* p, size_t n) override {
    return pwrite(fd, p, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  bool read(uint64_t off, uint8_t* p, size_t n) override {
    return pread(fd, p, n, static_cast<off_t>(off)) == static_cast<ssize_t>(n);
  }
  bool flush() override { return fdatasync(fd) == 0; }
  int fd;
};

struct Job {
  const char* name;
  bool write;
  bool random;
  size_t io;
};

// Runs `job` for `seconds` with `threads` clients; returns MiB/s (0 on error).
double run(Target& t, const Job& job, uint64_t region, double seconds, int threads) {
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      std::vector<uint8_t> buf(job.io + 4096);
      uint8_t* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 4095) & ~uintptr_t{4095});
      std::mt19937_64 rng(1234 + k);
      for (size_t i = 0; i < job.io; ++i) p[i] = static_cast<uint8_t>(rng());
      const uint64_t slots = region / job.io;
      uint64_t next = (slots / threads) * k;
      while (Clock::now() < deadline && !failed) {
        const uint64_t slot = job.random ? rng() % slots : (next++ % slots);
        const bool ok = job.write ? t.write(slot * job.io, p, job.io) : t.read(slot * job.io, p, job.io);
        if (!ok) failed = true;
        bytes += job.io;
      }
    });
  }
  for (auto& th : pool) th.join();
  if (job.write && !t.flush()) failed = true;
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return failed ? 0 : double(bytes) / (1 << 20) / secs;
}

void flush_latency(Target& t, uint64_t region, double& p50, double& p99) {
  std::vector<double> us;
  std::vector<uint8_t> buf(8192);
  uint8_t* p = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(buf.data()) + 4095) & ~uintptr_t{4095});
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const uint64_t off = (rng() % (region / 4096)) * 4096;
    const auto a = Clock::now();
    if (!t.write(off, p, 4096) || !t.flush()) break;
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  std::sort(us.begin(), us.end());
  p50 = us.empty() ? 0 : us[us.size() / 2];
  p99 = us.empty() ? 0 : us[us.size() * 99 / 100];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/jindisk-engine-bench";
  uint64_t size_mib = 1024;
  double seconds = 3;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    else if (a == "--size") size_mib = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: engine_bench [--dir DIR] [--size MiB] [--seconds S] [--threads N]\n");
      return 2;
    }
  }
  const uint64_t region = size_mib << 20;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  uint8_t key_bytes[32];
  std::random_device rd;
  for (auto& b : key_bytes) b = static_cast<uint8_t>(rd());
  CreateOptions co;
  co.logical_bytes = region;
  OpenOptions oo;
  oo.anchor = AnchorMode::kNone;
  auto disk = Disk::create(dir + "/secure", KeySource::key_file_bytes(key_bytes), co, oo);
  if (!disk.is_ok()) {
    std::fprintf(stderr, "engine_bench: %s\n", disk.status().to_string().c_str());
    return 1;
  }
  const std::string raw_path = dir + "/raw.img";
  const int fd = ::open(raw_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(region)) != 0) {
    std::perror("engine_bench: raw file");
    return 1;
  }
  DiskTarget secure(**disk);
  FileTarget raw(fd);

  const Job jobs[] = {
      {"seq-write 1M", true, false, 1 << 20},   {"rnd-write 4K", true, true, 4096},
      {"rnd-write 32K", true, true, 32768},     {"rnd-write 256K", true, true, 262144},
      {"seq-read 1M", false, false, 1 << 20},   {"rnd-read 4K", false, true, 4096},
      {"rnd-read 32K", false, true, 32768},     {"rnd-read 256K", false, true, 262144},
  };
  // Fill both targets so reads find data everywhere.
  run(secure, {"fill", true, false, 1 << 20}, region, double(region) / (200 << 20) + 1, 1);
  run(raw, {"fill", true, false, 1 << 20}, region, double(region) / (200 << 20) + 1, 1);

  std::printf("engine_bench: %llu MiB region, %.1f s per job, %d client thread(s), dir %s\n\n",
              static_cast<unsigned long long>(size_mib), seconds, threads, dir.c_str());
  std::printf("| workload | secure disk MiB/s | raw host file MiB/s | ratio |\n|---|---|---|---|\n");
  for (const Job& job : jobs) {
    // Alternate which target goes first so drift spreads evenly.
    const double a = run(secure, job, region, seconds, threads);
    const double b = run(raw, job, region, seconds, threads);
    std::printf("| %s | %.0f | %.0f | %.2fx |\n", job.name, a, b, b > 0 ? a / b : 0.0);
    std::fflush(stdout);
  }
  double s50, s99, r50, r99;
  flush_latency(secure, region, s50, s99);
  flush_latency(raw, region, r50, r99);
  std::printf("| 4K write + flush latency p50 / p99 (µs) | %.0f / %.0f | %.0f / %.0f | |\n", s50, s99, r50, r99);
  const DiskInfo info = (*disk)->info();
  std::printf("\nsecure disk after the run: %.3f write amplification, %llu live blocks, %llu host bytes\n",
              info.write_amplification, static_cast<unsigned long long>(info.live_blocks),
              static_cast<unsigned long long>(info.host_bytes));
  (void)(*disk)->close();
  ::close(fd);
  std::filesystem::remove_all(dir);
  return 0;
}
