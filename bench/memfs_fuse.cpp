// memfs_fuse: the FUSE ceiling for bench/suite.sh. Serves one file, MOUNTPOINT/disk.img, whose
// bytes live in memory: no crypto, no engine, no host I/O. Everything FUSE-related is set as in
// fusefs/ (image_fs.cpp, main.cpp) so that the difference between this and jindisk-fuse is the
// engine alone:
//   FUSE_USE_VERSION 312, low-level API, fuse_session_loop_mt with clone_fd off and 16 threads,
//   max_write = max_readahead = 1 MiB, max_background 128, congestion_threshold 96, async DIO,
//   no writeback cache, direct_io and no keep_cache on open, 1 s attribute and entry timeouts,
//   mount options fsname=...,subtype=...,default_permissions.
// One difference, in its favour: a read replies straight from memory, where jindisk-fuse must
// decrypt into a buffer first. That is the point of a ceiling.
//
// With --backing FILE it is a passthrough instead: the bytes live in FILE (created or truncated
// to the size), read with buffered pread into a buffer and written with O_DIRECT from an aligned
// copy, the way jindisk-fuse's host store reads and writes segments; still no crypto and no
// engine. It bounds any disk that keeps its data in host files that way: after writes, reads
// come from the host device, not the page cache.
//
//   memfs_fuse [--size BYTES[K|M|G]] [--backing FILE] [-f] MOUNTPOINT
//
// Daemonizes once mounted (so the caller knows the file is there when it returns), unless -f.
// Unmount with fusermount3 -u. Bench-only: not installed, not tested.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr fuse_ino_t kImageIno = 2;
constexpr unsigned kMaxWrite = 1u << 20;
constexpr const char* kImageName = "disk.img";

struct MemFile {
  uint8_t* bytes = nullptr;  // an anonymous mapping: pages appear as they are first written
  uint64_t size = 0;
  timespec time{};
  int buffered_fd = -1;  // --backing: reads
  int direct_fd = -1;    // --backing: writes of whole aligned pages (O_DIRECT)
};

// A per-thread page-aligned buffer of at least `size` bytes (O_DIRECT needs aligned memory).
uint8_t* thread_buffer(size_t size) {
  thread_local uint8_t* buffer = nullptr;
  thread_local size_t capacity = 0;
  if (capacity < size) {
    std::free(buffer);
    buffer = static_cast<uint8_t*>(std::aligned_alloc(4096, (size + 4095) / 4096 * 4096));
    capacity = buffer ? size : 0;
  }
  return buffer;
}

// Reads or writes all of [begin, begin + n) of the backing file; false on an error.
bool backing_io(int fd, bool write, uint8_t* buf, size_t n, uint64_t begin) {
  for (size_t done = 0; done < n;) {
    const ssize_t r = write ? ::pwrite(fd, buf + done, n - done, static_cast<off_t>(begin + done))
                            : ::pread(fd, buf + done, n - done, static_cast<off_t>(begin + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

MemFile& self(fuse_req_t req) {
  return *static_cast<MemFile*>(fuse_req_userdata(req));
}

struct stat attributes(const MemFile& f, fuse_ino_t ino) {
  struct stat st {};
  st.st_uid = getuid();
  st.st_gid = getgid();
  st.st_ino = ino;
  st.st_atim = st.st_mtim = st.st_ctim = f.time;
  if (ino == kRootIno) {
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
  } else {
    st.st_mode = S_IFREG | 0600;
    st.st_nlink = 1;
    st.st_size = static_cast<off_t>(f.size);
    st.st_blksize = 4096;
    st.st_blocks = static_cast<blkcnt_t>(f.size / 512);
  }
  return st;
}

void op_init(void*, fuse_conn_info* conn) {
  conn->max_write = kMaxWrite;
  conn->max_readahead = kMaxWrite;
  conn->max_background = 128;
  conn->congestion_threshold = 96;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != kRootIno || std::strcmp(name, kImageName) != 0) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e{};
  e.ino = kImageIno;
  e.attr = attributes(self(req), kImageIno);
  e.attr_timeout = 1.0;
  e.entry_timeout = 1.0;
  fuse_reply_entry(req, &e);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  if (ino != kRootIno && ino != kImageIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  const struct stat st = attributes(self(req), ino);
  fuse_reply_attr(req, &st, 1.0);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  MemFile& f = self(req);
  if (ino != kImageIno) {
    fuse_reply_err(req, ino == kRootIno ? EPERM : ENOENT);
    return;
  }
  if ((to_set & FUSE_SET_ATTR_SIZE) && static_cast<uint64_t>(attr->st_size) != f.size) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const struct stat st = attributes(f, ino);
  fuse_reply_attr(req, &st, 1.0);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kRootIno)
    fuse_reply_err(req, ENOTDIR);
  else
    fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  if (ino != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  const char* names[] = {".", "..", kImageName};
  const fuse_ino_t inos[] = {kRootIno, kRootIno, kImageIno};
  for (off_t i = off; i < 3; ++i) {
    struct stat st {};
    st.st_ino = inos[i];
    st.st_mode = i == 2 ? S_IFREG : S_IFDIR;
    const size_t need =
        fuse_add_direntry(req, buf.data() + used, size - used, names[i], &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kImageIno) {
    fuse_reply_err(req, ino == kRootIno ? EISDIR : ENOENT);
    return;
  }
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info*) {
  const MemFile& f = self(req);
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const uint64_t begin = static_cast<uint64_t>(off);
  const size_t n =
      begin >= f.size ? 0 : static_cast<size_t>(std::min<uint64_t>(size, f.size - begin));
  if (n == 0) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  if (f.buffered_fd >= 0) {
    uint8_t* buf = thread_buffer(n);
    if (buf == nullptr || !backing_io(f.buffered_fd, false, buf, n, begin)) {
      fuse_reply_err(req, EIO);
      return;
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(buf), n);
    return;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(f.bytes + begin), n);
}

// Concurrent overlapping writes race on the bytes, as they would on any disk; a bench does
// not care which one wins.
void op_write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off,
              fuse_file_info*) {
  const MemFile& f = self(req);
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const uint64_t begin = static_cast<uint64_t>(off);
  if (begin >= f.size && size > 0) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(size, f.size - begin));
  if (n == 0) {
    fuse_reply_write(req, 0);
    return;
  }
  if (f.buffered_fd >= 0) {
    const bool aligned = begin % 4096 == 0 && n % 4096 == 0;
    uint8_t* copy = thread_buffer(n);
    if (copy == nullptr) {
      fuse_reply_err(req, ENOMEM);
      return;
    }
    std::memcpy(copy, buf, n);
    if (!backing_io(aligned ? f.direct_fd : f.buffered_fd, true, copy, n, begin)) {
      fuse_reply_err(req, EIO);
      return;
    }
    fuse_reply_write(req, n);
    return;
  }
  std::memcpy(f.bytes + begin, buf, n);
  fuse_reply_write(req, n);
}

void op_ok(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  fuse_reply_err(req, 0);
}
void op_fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) {
  const MemFile& f = self(req);
  fuse_reply_err(req, f.buffered_fd >= 0 && ::fdatasync(f.buffered_fd) != 0 ? errno : 0);
}

void op_fallocate(fuse_req_t req, fuse_ino_t, int, off_t off, off_t len, fuse_file_info*) {
  const MemFile& f = self(req);
  if (off < 0 || len <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const uint64_t begin = static_cast<uint64_t>(off);
  if (f.buffered_fd >= 0) {
    const int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    fuse_reply_err(req, ::fallocate(f.buffered_fd, mode, off, len) == 0 ? 0 : errno);
    return;
  }
  if (begin < f.size) std::memset(f.bytes + begin, 0, std::min<uint64_t>(len, f.size - begin));
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  const MemFile& f = self(req);
  struct statvfs st {};
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_blocks = f.size / 4096;
  st.f_files = 2;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

bool parse_size(const char* text, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  uint64_t v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text) return false;
  switch (*end) {
    case 'K':
    case 'k':
      v <<= 10;
      ++end;
      break;
    case 'M':
    case 'm':
      v <<= 20;
      ++end;
      break;
    case 'G':
    case 'g':
      v <<= 30;
      ++end;
      break;
    default:
      break;
  }
  if (*end != '\0' || v == 0 || v % 4096 != 0) return false;
  out = v;
  return true;
}

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: memfs_fuse [--size BYTES[K|M|G]] [--backing FILE] [-f] MOUNTPOINT\n"
               "  (size default 1G, a multiple of 4096; --backing: serve FILE, a passthrough)\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  MemFile file;
  file.size = 1ull << 30;
  bool foreground = false;
  std::string mountpoint;
  std::string backing;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h")
      usage(0);
    else if (arg == "-f")
      foreground = true;
    else if (arg == "--size" && i + 1 < argc) {
      if (!parse_size(argv[++i], file.size)) usage(2);
    } else if (arg == "--backing" && i + 1 < argc) {
      backing = argv[++i];
    } else if (!arg.empty() && arg[0] != '-' && mountpoint.empty()) {
      mountpoint = arg;
    } else {
      usage(2);
    }
  }
  if (mountpoint.empty()) usage(2);

  void* mem = MAP_FAILED;
  if (!backing.empty()) {
    file.buffered_fd = ::open(backing.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    file.direct_fd = ::open(backing.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (file.buffered_fd < 0 || file.direct_fd < 0 ||
        ::ftruncate(file.buffered_fd, static_cast<off_t>(file.size)) != 0) {
      std::fprintf(stderr, "memfs_fuse: %s: %s\n", backing.c_str(), std::strerror(errno));
      return 1;
    }
  } else {
    mem = mmap(nullptr, file.size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
      std::perror("memfs_fuse: mmap");
      return 1;
    }
    file.bytes = static_cast<uint8_t*>(mem);
  }
  clock_gettime(CLOCK_REALTIME, &file.time);

  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.open = op_open;
  ops.read = op_read;
  ops.write = op_write;
  ops.flush = op_ok;
  ops.fsync = op_fsync;
  ops.release = op_ok;
  ops.fallocate = op_fallocate;
  ops.statfs = op_statfs;

  std::vector<std::string> argv_store = {"memfs_fuse", "-o",
                                         "fsname=memfs,subtype=memfs,default_permissions"};
  std::vector<char*> fargv;
  for (auto& a : argv_store) fargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(fargv.size()), fargv.data());
  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &file);
  fuse_opt_free_args(&args);
  if (se == nullptr) return 1;
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint.c_str()) != 0) {
    std::fprintf(stderr, "memfs_fuse: cannot mount %s\n", mountpoint.c_str());
    fuse_session_destroy(se);
    return 1;
  }
  if (fuse_daemonize(foreground ? 1 : 0) != 0) return 1;

  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  const int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  if (mem != MAP_FAILED) munmap(mem, file.size);
  if (file.buffered_fd >= 0) ::close(file.buffered_fd);
  if (file.direct_fd >= 0) ::close(file.direct_fd);
  return rc < 0 ? 1 : 0;
}
