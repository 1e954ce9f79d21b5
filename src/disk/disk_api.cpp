// The public entry points of include/jindisk/disk.hpp over a real directory.
#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>

#include "crypto/sodium.hpp"
#include "disk/anchor.hpp"
#include "disk/disk_header.hpp"
#include "disk/secure_disk.hpp"
#include "host/posix_store.hpp"

namespace jindisk {

KeySource::KeySource(bool is_passphrase, std::string secret)
    : is_passphrase_(is_passphrase), secret_(std::move(secret)) {}

KeySource::~KeySource() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
}

KeySource::KeySource(KeySource&& other) noexcept
    : is_passphrase_(other.is_passphrase_), secret_(std::move(other.secret_)) {
  other.secret_.clear();
}

KeySource& KeySource::operator=(KeySource&& other) noexcept {
  if (this != &other) {
    if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
    is_passphrase_ = other.is_passphrase_;
    secret_ = std::move(other.secret_);
    other.secret_.clear();
  }
  return *this;
}

KeySource KeySource::passphrase(std::string_view text) { return KeySource(true, std::string(text)); }

KeySource KeySource::key_file_bytes(std::span<const uint8_t> bytes) {
  return KeySource(false, std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Result<DirState> inspect_dir(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return DirState::kMissing;
    return Status::from_errno(errno, "stat " + dir);
  }
  if (!S_ISDIR(st.st_mode)) return DirState::kNotADisk;
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::open_dir(dir));
  JD_ASSIGN_OR_RETURN(auto names, store->list());
  if (names.empty()) return DirState::kEmpty;
  for (const auto& n : names) {
    if (n == disk::kHeaderName) return DirState::kDisk;
  }
  return DirState::kNotADisk;
}

Result<HeaderInfo> read_header_info(const std::string& dir) {
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::open_dir(dir));
  auto header = disk::read_header(*store);
  if (!header.is_ok()) {
    if (header.status().code() == Code::kNotFound) {
      return Status::not_found(dir + " holds no jindisk disk (no header)");
    }
    return header.status();
  }
  HeaderInfo info;
  info.format_version = disk::kFormatVersion;
  info.uuid = disk::uuid_to_string(header->uuid);
  info.logical_bytes = header->logical_blocks * kBlockSize;
  info.segment_blocks = header->segment_blocks;
  info.cipher = crypto::cipher_name(header->cipher);
  info.passphrase = header->key_kind == disk::KeyKind::kPassphrase;
  return info;
}

Result<bool> dir_in_use(const std::string& dir) {
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::open_dir(dir));
  auto lock = store->lock(disk::kLockName);
  if (lock.is_ok()) return false;
  if (lock.status().code() == Code::kBusy) return true;
  return lock.status();
}

std::string live_info_path(const std::string& uuid) {
  return disk::Anchor::state_dir() + "/" + uuid + ".live.json";
}

Result<std::unique_ptr<Disk>> Disk::create(const std::string& dir, const KeySource& key,
                                           const CreateOptions& co, const OpenOptions& oo) {
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::create_dir(dir));
  JD_ASSIGN_OR_RETURN(auto d, disk::SecureDisk::create(*store, key, co, oo));
  d->adopt_store(std::move(store));
  return std::unique_ptr<Disk>(std::move(d));
}

Result<std::unique_ptr<Disk>> Disk::open(const std::string& dir, const KeySource& key,
                                         const OpenOptions& oo) {
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::open_dir(dir));
  JD_ASSIGN_OR_RETURN(auto d, disk::SecureDisk::open(*store, key, oo));
  d->adopt_store(std::move(store));
  return std::unique_ptr<Disk>(std::move(d));
}

Status Disk::change_key(const std::string& dir, const KeySource& old_key, const KeySource& new_key,
                        KdfStrength kdf) {
  crypto::init();
  JD_ASSIGN_OR_RETURN(auto store, host::PosixStore::open_dir(dir));
  JD_ASSIGN_OR_RETURN(auto lock, store->lock(disk::kLockName));
  JD_ASSIGN_OR_RETURN(disk::DiskHeader header, disk::read_header(*store));
  JD_ASSIGN_OR_RETURN(crypto::SecretKey master, disk::open_master_key(header, old_key));
  JD_TRY(disk::seal_master_key(header, new_key, kdf, master));
  return disk::write_header(*store, header);
}

}  // namespace jindisk
