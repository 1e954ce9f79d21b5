#include "image_fs.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "errno_map.hpp"

namespace jindisk::fusefs {
namespace {

constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;
constexpr unsigned kMaxWrite = 1u << 20;  // 1 MiB requests: 128 KiB costs ~45% of seq speed

ImageFs& self(fuse_req_t req) { return *static_cast<ImageFs*>(fuse_req_userdata(req)); }

timespec now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

}  // namespace

ImageFs::ImageFs(Disk& disk, std::string image_name, bool read_only)
    : disk_(disk),
      image_name_(std::move(image_name)),
      read_only_(read_only),
      size_(disk.block_count() * kBlockSize) {
  atime_ = mtime_ = ctime_ = now();
}

void ImageFs::fail(fuse_req_t req, const char* what, const Status& status) {
  if (on_error) on_error(std::string(what) + ": " + status.to_string());
  fuse_reply_err(req, to_errno(status));
}

struct stat ImageFs::attributes(fuse_ino_t ino) const {
  struct stat st{};
  st.st_uid = getuid();
  st.st_gid = getgid();
  st.st_ino = ino;
  std::lock_guard lock(attr_mu_);
  st.st_atim = atime_;
  st.st_mtim = mtime_;
  st.st_ctim = ctime_;
  if (ino == kRootIno) {
    st.st_mode = S_IFDIR | 0755;
    st.st_nlink = 2;
  } else {
    st.st_mode = S_IFREG | (read_only_ ? (mode_ & 0555) : mode_);
    st.st_nlink = 1;
    st.st_size = static_cast<off_t>(size_);
    st.st_blksize = kBlockSize;
    st.st_blocks = static_cast<blkcnt_t>(size_ / 512);
  }
  return st;
}

void ImageFs::init(fuse_conn_info* conn) {
  conn->max_write = kMaxWrite;
  conn->max_readahead = kMaxWrite;
  // The loop device and QEMU keep many requests in flight; let the kernel queue them.
  conn->max_background = 128;
  conn->congestion_threshold = 96;
  if (conn->capable & FUSE_CAP_ASYNC_DIO) conn->want |= FUSE_CAP_ASYNC_DIO;
  // The page cache would hide flush ordering and double-cache a disk image.
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

void ImageFs::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  if (parent != kRootIno || image_name_ != name) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  fuse_entry_param e{};
  e.ino = kImageIno;
  e.attr = attributes(kImageIno);
  e.attr_timeout = 1.0;
  e.entry_timeout = 1.0;
  fuse_reply_entry(req, &e);
}

void ImageFs::getattr(fuse_req_t req, fuse_ino_t ino) {
  if (ino != kRootIno && ino != kImageIno) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  const struct stat st = attributes(ino);
  fuse_reply_attr(req, &st, 1.0);
}

void ImageFs::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set) {
  if (ino != kImageIno) {
    fuse_reply_err(req, ino == kRootIno ? EPERM : ENOENT);
    return;
  }
  // The image has the disk's fixed size: truncating to anything else is refused.
  if ((to_set & FUSE_SET_ATTR_SIZE) && static_cast<uint64_t>(attr->st_size) != size_) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  {
    std::lock_guard lock(attr_mu_);
    if (to_set & FUSE_SET_ATTR_MODE) mode_ = attr->st_mode & 0777;
    if (to_set & FUSE_SET_ATTR_ATIME) atime_ = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME) mtime_ = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) atime_ = now();
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) mtime_ = now();
    ctime_ = now();
  }
  const struct stat st = attributes(ino);
  fuse_reply_attr(req, &st, 1.0);
}

void ImageFs::readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off) {
  if (ino != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  std::vector<char> buf(size);
  size_t used = 0;
  const char* names[] = {".", "..", image_name_.c_str()};
  const fuse_ino_t inos[] = {kRootIno, kRootIno, kImageIno};
  for (off_t i = off; i < 3; ++i) {
    struct stat st{};
    st.st_ino = inos[i];
    st.st_mode = i == 2 ? S_IFREG : S_IFDIR;
    const size_t need = fuse_add_direntry(req, buf.data() + used, size - used, names[i], &st, i + 1);
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void ImageFs::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (ino != kImageIno) {
    fuse_reply_err(req, ino == kRootIno ? EISDIR : ENOENT);
    return;
  }
  if (read_only_ && (fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err(req, EROFS);
    return;
  }
  // Every read and write reaches the engine: no page cache between a flush and the host.
  fi->direct_io = 1;
  // Remember whether this handle may write: closing a read-only handle commits nothing (and
  // must not fail with, say, ENOSPC from someone else's buffered writes).
  fi->fh = (fi->flags & O_ACCMODE) != O_RDONLY ? 1 : 0;
  fi->keep_cache = 0;
  fuse_reply_open(req, fi);
}

void ImageFs::read(fuse_req_t req, fuse_ino_t, size_t size, off_t off) {
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  thread_local std::vector<uint8_t> buf;
  buf.resize(size);
  auto n = disk_.read_bytes(static_cast<uint64_t>(off), buf);
  if (!n.is_ok()) {
    fail(req, "read", n.status());
    return;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
}

void ImageFs::write(fuse_req_t req, fuse_ino_t, const char* buf, size_t size, off_t off) {
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  // A file of fixed size: bytes past the end cannot be stored, like a file at its size limit.
  if (static_cast<uint64_t>(off) >= size_ && size > 0) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  const size_t n = static_cast<size_t>(std::min<uint64_t>(size, size_ - static_cast<uint64_t>(off)));
  const Status s = disk_.write_bytes(static_cast<uint64_t>(off),
                                     {reinterpret_cast<const uint8_t*>(buf), n});
  if (!s.is_ok()) {
    fail(req, "write", s);
    return;
  }
  fuse_reply_write(req, n);
}

void ImageFs::flush(fuse_req_t req, fuse_ino_t ino, bool handle_writable) {
  if (ino != kImageIno || read_only_ || !handle_writable) {
    fuse_reply_err(req, 0);
    return;
  }
  const Status s = disk_.flush();
  if (!s.is_ok()) {
    fail(req, "flush", s);
    return;
  }
  fuse_reply_err(req, 0);
}

void ImageFs::fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len) {
  if (off < 0 || len <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (read_only_) {
    fuse_reply_err(req, EROFS);
    return;
  }
  const uint64_t begin = static_cast<uint64_t>(off);
  const uint64_t length = static_cast<uint64_t>(len);
  const bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
  const int kind = mode & ~FALLOC_FL_KEEP_SIZE;
  const bool beyond = begin >= size_ || length > size_ - begin;
  if (kind == 0) {  // allocate: the disk is thin, there is nothing to reserve
    fuse_reply_err(req, beyond && !keep_size ? EFBIG : 0);
    return;
  }
  if (kind != FALLOC_FL_PUNCH_HOLE && kind != FALLOC_FL_ZERO_RANGE) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  if (beyond && !keep_size) {
    fuse_reply_err(req, EFBIG);
    return;
  }
  if (begin >= size_) {
    fuse_reply_err(req, 0);
    return;
  }
  const Status s = disk_.trim_bytes(begin, std::min<uint64_t>(length, size_ - begin));
  if (!s.is_ok()) {
    fail(req, "fallocate", s);
    return;
  }
  fuse_reply_err(req, 0);
}

void ImageFs::statfs(fuse_req_t req) {
  struct statvfs st{};
  st.f_bsize = kBlockSize;
  st.f_frsize = kBlockSize;
  st.f_blocks = size_ / kBlockSize;
  st.f_files = 2;
  st.f_namemax = 255;
  fuse_reply_statfs(req, &st);
}

const fuse_lowlevel_ops& ImageFs::operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = [](void* userdata, fuse_conn_info* conn) { static_cast<ImageFs*>(userdata)->init(conn); };
    o.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) { self(r).lookup(r, p, n); };
    o.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info*) { self(r).getattr(r, i); };
    o.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info*) {
      self(r).setattr(r, i, a, s);
    };
    o.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* fi) {
      if (i != FUSE_ROOT_ID) fuse_reply_err(r, ENOTDIR);
      else fuse_reply_open(r, fi);
    };
    o.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o2, fuse_file_info*) {
      self(r).readdir(r, i, s, o2);
    };
    o.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* fi) { self(r).open(r, i, fi); };
    o.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o2, fuse_file_info*) {
      self(r).read(r, i, s, o2);
    };
    o.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o2, fuse_file_info*) {
      self(r).write(r, i, b, s, o2);
    };
    // close() flushes what its handle could have written; fsync always commits (a reader may
    // fsync to make the state durable, as with any file).
    o.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* fi) { self(r).flush(r, i, fi->fh != 0); };
    o.fsync = [](fuse_req_t r, fuse_ino_t i, int, fuse_file_info*) { self(r).flush(r, i, true); };
    o.release = [](fuse_req_t r, fuse_ino_t, fuse_file_info*) { fuse_reply_err(r, 0); };
    o.fallocate = [](fuse_req_t r, fuse_ino_t i, int m, off_t o2, off_t l, fuse_file_info*) {
      self(r).fallocate(r, i, m, o2, l);
    };
    o.statfs = [](fuse_req_t r, fuse_ino_t) { self(r).statfs(r); };
    return o;
  }();
  return ops;
}

}  // namespace jindisk::fusefs
