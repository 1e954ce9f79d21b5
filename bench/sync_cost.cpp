// sync_cost: what one durable write costs on the host file system, by kind of write. A flush
// of the secure disk is a chain of such writes (docs/design.md, Commit), so these latencies
// bound its fsync=1 rate from below; the output is a Markdown table.
//
//   sync_cost [--dir DIR] [--count N]
//
// Kinds, each N times in a fresh file in DIR (default /var/tmp), 4 KiB per write:
//   overwrite   pwrite in place into a file written and synced beforehand, then fdatasync
//               (what a peer that encrypts in place pays per fsync)
//   append      pwrite at the end of the file, then fdatasync (the size changes: the file
//               system journals it)
//   append x2   two files, each appended to and fdatasync'ed one after the other
//   append ||2  the same two appends and syncs run on two threads at once
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kWrite = 4096;

[[noreturn]] void die(const std::string& what) {
  std::perror(what.c_str());
  std::exit(1);
}

class TempFile {
 public:
  TempFile(const std::string& dir, const char* tag) : path_(dir + "/sync_cost." + tag + ".XXXXXX") {
    fd_ = mkstemp(path_.data());
    if (fd_ < 0) die("mkstemp " + path_);
  }
  ~TempFile() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }

 private:
  std::string path_;
  int fd_ = -1;
};

void write_sync(int fd, const std::vector<char>& buf, off_t off) {
  if (pwrite(fd, buf.data(), buf.size(), off) != static_cast<ssize_t>(buf.size())) die("pwrite");
  if (fdatasync(fd) != 0) die("fdatasync");
}

struct Stats {
  double p50_us, p99_us, mean_us;
};

template <typename F>
Stats measure(int count, F&& one) {
  std::vector<double> us;
  us.reserve(count);
  for (int i = 0; i < count; ++i) {
    const auto t0 = Clock::now();
    one(i);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double sum = 0;
  for (double u : us) sum += u;
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)], sum / count};
}

void row(const char* kind, const Stats& s) {
  std::printf("| %s | %.0f | %.0f | %.0f | %.0f |\n", kind, s.p50_us, s.p99_us, s.mean_us,
              1e6 / s.mean_us);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/var/tmp";
  int count = 500;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    else if (a == "--count" && i + 1 < argc) count = std::max(10, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: sync_cost [--dir DIR] [--count N]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  std::vector<char> buf(kWrite, 'x');
  std::printf("fdatasync after one 4 KiB write, %d times each, in %s\n\n", count, dir.c_str());
  std::printf("| write | p50 µs | p99 µs | mean µs | per second |\n|---|---|---|---|---|\n");
  {
    TempFile f(dir, "overwrite");
    for (int i = 0; i < 256; ++i) {
      if (pwrite(f.fd(), buf.data(), kWrite, off_t{i} * kWrite) != kWrite) die("pwrite");
    }
    if (fsync(f.fd()) != 0) die("fsync");
    row("overwrite", measure(count, [&](int i) { write_sync(f.fd(), buf, off_t{(i * 97) % 256} * kWrite); }));
  }
  {
    TempFile f(dir, "append");
    row("append", measure(count, [&](int i) { write_sync(f.fd(), buf, off_t{i} * kWrite); }));
  }
  {
    TempFile a(dir, "a"), b(dir, "b");
    row("append x2 (one after the other)", measure(count, [&](int i) {
          write_sync(a.fd(), buf, off_t{i} * kWrite);
          write_sync(b.fd(), buf, off_t{i} * kWrite);
        }));
  }
  {
    TempFile a(dir, "pa"), b(dir, "pb");
    row("append ||2 (two threads)", measure(count, [&](int i) {
          std::thread t([&] { write_sync(a.fd(), buf, off_t{i} * kWrite); });
          write_sync(b.fd(), buf, off_t{i} * kWrite);
          t.join();
        }));
  }
  return 0;
}
