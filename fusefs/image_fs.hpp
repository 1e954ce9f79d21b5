// The FUSE file system: a root directory holding one regular file, the disk image, whose
// size is the disk's logical size. Each handler parses its request, calls the engine once,
// and replies exactly once. No engine logic lives here.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <sys/stat.h>

#include "jindisk/disk.hpp"

namespace jindisk::fusefs {

constexpr fuse_ino_t kImageIno = 2;

class ImageFs {
 public:
  ImageFs(Disk& disk, std::string image_name, bool read_only);

  // The operation table to pass to fuse_session_new, with this object as userdata.
  static const fuse_lowlevel_ops& operations();

  // Called with a message whenever a request fails inside the engine (for the daemon's log).
  std::function<void(const std::string&)> on_error;

  // Handlers (public so the static trampolines can reach them).
  void init(fuse_conn_info* conn);
  void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void getattr(fuse_req_t req, fuse_ino_t ino);
  void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set);
  void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off);
  void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off);
  void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off);
  void flush(fuse_req_t req, fuse_ino_t ino, bool handle_writable);
  void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len);
  void statfs(fuse_req_t req);

 private:
  struct stat attributes(fuse_ino_t ino) const;
  void fail(fuse_req_t req, const char* what, const Status& status);

  Disk& disk_;
  const std::string image_name_;
  const bool read_only_;
  const uint64_t size_;
  mutable std::mutex attr_mu_;  // mode and times set through setattr
  mode_t mode_ = 0600;
  timespec atime_{}, mtime_{}, ctime_{};
};

}  // namespace jindisk::fusefs
