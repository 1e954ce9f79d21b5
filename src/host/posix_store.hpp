// Store over a real directory: openat/pread/pwrite/fdatasync relative to one directory fd.
#pragma once

#include <memory>
#include <string>

#include "host/store.hpp"

namespace jindisk::host {

class PosixStore final : public Store {
 public:
  // Opens an existing directory (kNotFound if missing, kInvalidArgument if not a directory).
  static Result<std::unique_ptr<PosixStore>> open_dir(const std::string& path);
  // Creates the directory (mode 0700) if missing, then opens it.
  static Result<std::unique_ptr<PosixStore>> create_dir(const std::string& path);
  ~PosixStore() override;

  Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  Status remove(std::string_view name) override;
  Status rename(std::string_view from, std::string_view to) override;
  Result<bool> exists(std::string_view name) override;
  Result<std::vector<std::string>> list() override;
  Status sync_dir() override;
  Result<std::unique_ptr<DirLock>> lock(std::string_view name) override;
  Result<SpaceInfo> space() override;
  std::string describe() const override { return path_; }
  size_t open_file_budget() const override;

 private:
  PosixStore(int dir_fd, std::string path) : dir_fd_(dir_fd), path_(std::move(path)) {}
  int dir_fd_;
  std::string path_;
};

}  // namespace jindisk::host
