// PosixStore behaviour that only a real directory has: modes, symlinks, cross-process locks,
// a full file system.
#include "host/posix_store.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace jindisk::host {
namespace {

using test::bytes;
using test::put_file;
using test::read_file;
using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<PosixStore> must_open_dir(const std::string& path) {
  auto s = PosixStore::open_dir(path);
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  return std::move(s).value();
}

TEST_CASE("create_dir makes a private directory and tolerates an existing one") {
  TempDir tmp;
  const std::string path = tmp.path() + "/secure.d";
  auto s = PosixStore::create_dir(path);
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK((st.st_mode & 07777) == 0700);
  CHECK((*s)->describe() == path);

  put_file(**s, "keep", "x");
  auto again = PosixStore::create_dir(path);
  REQUIRE(again.is_ok());
  CHECK(read_file(**again, "keep") == "x");

  CHECK(PosixStore::create_dir(tmp.path() + "/no/such/parent").status().code() == Code::kNotFound);
}

TEST_CASE("open_dir rejects a missing path and a regular file") {
  TempDir tmp;
  CHECK(PosixStore::open_dir(tmp.path() + "/missing").status().code() == Code::kNotFound);
  const std::string file = tmp.path() + "/plain";
  std::ofstream(file) << "x";
  CHECK(PosixStore::open_dir(file).status().code() == Code::kInvalidArgument);
  CHECK(PosixStore::create_dir(file).status().code() == Code::kInvalidArgument);
}

TEST_CASE("files are created mode 0600 and land in the directory") {
  TempDir tmp;
  auto s = must_open_dir(tmp.path());
  put_file(*s, "seg-1", "payload");
  struct stat st {};
  REQUIRE(::stat((tmp.path() + "/seg-1").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(slurp(tmp.path() + "/seg-1") == "payload");

  // Another store on the same directory sees it: the data is in the host file, not a cache.
  auto other = must_open_dir(tmp.path());
  CHECK(read_file(*other, "seg-1") == "payload");
}

TEST_CASE("preallocate reserves host blocks without changing the size or the contents") {
  TempDir tmp;
  auto s = must_open_dir(tmp.path());
  auto f = s->open("seg-2", OpenMode::kCreateOrOpen);
  REQUIRE(f.is_ok());
  const std::vector<uint8_t> head(100, 0x5a);
  REQUIRE((*f)->write_at(0, head).is_ok());
  (*f)->preallocate(1u << 20);
  CHECK((*f)->size().value() == 100);
  struct stat st {};
  REQUIRE(::stat((tmp.path() + "/seg-2").c_str(), &st) == 0);
  // Where this file system can preallocate (a probe file says; ext4, tmpfs and xfs can),
  // the blocks are there now.
  const std::string probe = tmp.path() + "/probe";
  const int fd = ::open(probe.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const bool can = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) == 0;
  const int probe_errno = errno;
  ::close(fd);
  if (can) {
    CHECK(uint64_t(st.st_blocks) * 512 >= (1u << 20));
  } else {
    MESSAGE("this file system does not preallocate (" << std::strerror(probe_errno) << "): not checked");
  }
  // Writes past the old end extend it as before; the gap reads as zeros.
  std::vector<uint8_t> block(4096, 0xc3);
  REQUIRE((*f)->write_at(8192, block).is_ok());
  CHECK((*f)->size().value() == 8192 + 4096);
  std::vector<uint8_t> back(8192 + 4096);
  CHECK((*f)->read_at(0, back).value() == back.size());
  CHECK(std::equal(head.begin(), head.end(), back.begin()));
  CHECK(std::all_of(back.begin() + 100, back.begin() + 8192, [](uint8_t b) { return b == 0; }));
  CHECK(std::all_of(back.begin() + 8192, back.end(), [](uint8_t b) { return b == 0xc3; }));
}

TEST_CASE("a planted symlink is not followed") {
  TempDir tmp;
  const std::string outside = tmp.path() + "/outside";
  std::ofstream(outside) << "victim";
  REQUIRE(::mkdir((tmp.path() + "/store").c_str(), 0700) == 0);
  REQUIRE(::symlink(outside.c_str(), (tmp.path() + "/store/link").c_str()) == 0);
  auto s = must_open_dir(tmp.path() + "/store");
  auto f = s->open("link", OpenMode::kCreateOrOpen);
  CHECK_FALSE(f.is_ok());
  CHECK(slurp(outside) == "victim");
  CHECK(*s->exists("link"));  // the entry exists, even if it cannot be opened
  // Nor by lock(), which writes the pid into its file.
  REQUIRE(::symlink(outside.c_str(), (tmp.path() + "/store/lock").c_str()) == 0);
  CHECK_FALSE(s->lock("lock").is_ok());
  CHECK(slurp(outside) == "victim");
}

TEST_CASE("lock file records the pid and survives release") {
  TempDir tmp;
  auto s = must_open_dir(tmp.path());
  const std::string lock_path = tmp.path() + "/lock";
  {
    auto held = s->lock("lock");
    REQUIRE(held.is_ok());
    CHECK(slurp(lock_path) == std::to_string(::getpid()) + "\n");
    REQUIRE((*held)->set_owner(7).is_ok());
    CHECK(slurp(lock_path) == "7\n");
    // A second store object on the same directory is a second open file description.
    auto other = must_open_dir(tmp.path());
    auto busy = other->lock("lock");
    CHECK(busy.status().code() == Code::kBusy);
    CHECK(busy.status().message() == tmp.path() + " is in use by process 7");
  }
  struct stat st {};
  CHECK(::stat(lock_path.c_str(), &st) == 0);  // not unlinked: that would race a new locker
  CHECK(s->lock("lock").is_ok());
}

TEST_CASE("lock with an unreadable pid still reports busy") {
  TempDir tmp;
  auto s = must_open_dir(tmp.path());
  auto held = s->lock("lock");
  REQUIRE(held.is_ok());
  REQUIRE(::truncate((tmp.path() + "/lock").c_str(), 0) == 0);
  auto busy = s->lock("lock");
  CHECK(busy.status().code() == Code::kBusy);
  CHECK(busy.status().message().find("another process") != std::string::npos);
}

TEST_CASE("lock held by another process is busy and names that process") {
  TempDir tmp;
  int to_parent[2];
  int to_child[2];
  REQUIRE(::pipe(to_parent) == 0);
  REQUIRE(::pipe(to_child) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe-ish work here, then _exit: no doctest in the child.
    auto s = PosixStore::open_dir(tmp.path());
    char ok = 0;
    std::unique_ptr<DirLock> held;
    if (s.is_ok()) {
      auto l = (*s)->lock("lock");
      if (l.is_ok()) {
        held = std::move(l).value();
        ok = 1;
      }
    }
    (void)!::write(to_parent[1], &ok, 1);
    char done;
    (void)!::read(to_child[0], &done, 1);
    ::_exit(0);
  }
  char ok = 0;
  REQUIRE(::read(to_parent[0], &ok, 1) == 1);
  CHECK(ok == 1);
  auto s = must_open_dir(tmp.path());
  auto busy = s->lock("lock");
  CHECK(busy.status().code() == Code::kBusy);
  CHECK(busy.status().message().find("process " + std::to_string(child)) != std::string::npos);

  char done = 1;
  REQUIRE(::write(to_child[1], &done, 1) == 1);
  int wstatus = 0;
  REQUIRE(::waitpid(child, &wstatus, 0) == child);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
  // The holder is gone, so its flock is gone with it.
  CHECK(s->lock("lock").is_ok());
}

// A 1 MiB tmpfs mounted for one test and unmounted (lazily, so open fds cannot block it) even
// when the test fails.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& path) : path_(path) {
    mounted_ = ::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=1m,mode=0700") == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

size_t open_descriptors() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += !e.path().empty();
  return n;
}

TEST_CASE("the open-file budget leaves three quarters of the descriptor limit free") {
  TempDir dir;
  auto store = must_open_dir(dir.path());
  struct rlimit saved {};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE(saved.rlim_max >= 1024);
  struct rlimit small = saved;
  small.rlim_cur = 1024;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &small) == 0);
  const size_t budget = store->open_file_budget();
  CHECK(budget == 128);
  // Keeping that many files open uses at most a quarter of the limit.
  const size_t before = open_descriptors();
  std::vector<std::unique_ptr<File>> files;
  for (size_t i = 0; i < budget; ++i) {
    auto f = store->open("f" + std::to_string(i), OpenMode::kCreateNew);
    REQUIRE(f.is_ok());
    files.push_back(std::move(f).value());
  }
  CHECK(open_descriptors() - before <= 1024 / 4);
  files.clear();
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max >= 1u << 20) {
    small.rlim_cur = 1u << 20;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &small) == 0);
    CHECK(store->open_file_budget() == 8192);  // capped: enough for 32 GiB of 4 MiB segments
  }
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
}

TEST_CASE("a full file system is reported as kNoSpace") {
  TempDir tmp;
  TmpfsMount mount(tmp.path());
  if (!mount.mounted()) {
    WARN_MESSAGE(false, "cannot mount tmpfs (" << mount.error() << "); skipping ENOSPC test");
    return;
  }
  auto s = must_open_dir(tmp.path());
  auto info = s->space();
  REQUIRE(info.is_ok());
  CHECK(info->total_bytes == 1024 * 1024);

  auto opened = s->open("big", OpenMode::kCreateNew);
  REQUIRE(opened.is_ok());
  std::unique_ptr<File> f = std::move(opened).value();
  std::vector<uint8_t> two_mib(2 * 1024 * 1024, 0xab);
  Status st = f->write_at(0, two_mib);
  CHECK(st.code() == Code::kNoSpace);
  CHECK(st.message().find(tmp.path() + "/big") != std::string::npos);
  // The part that fit is there: writes stop at the first error, they are not rolled back.
  auto size = f->size();
  REQUIRE(size.is_ok());
  CHECK(*size > 0);
  CHECK(*size <= 1024 * 1024);

  f.reset();  // an open file keeps its blocks even after unlink
  REQUIRE(s->remove("big").is_ok());
  auto after = s->space();
  REQUIRE(after.is_ok());
  CHECK(after->free_bytes > 0);
}

}  // namespace
}  // namespace jindisk::host
