#include "disk/anchor.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "disk/disk_header.hpp"
#include "util/le.hpp"

namespace jindisk::disk {
namespace {

constexpr char kMagic[8] = {'J', 'D', 'A', 'N', 'C', 'H', 'R', '1'};
constexpr size_t kSlot = 64;

Status make_parents(const std::string& path) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    const std::string dir = path.substr(0, i);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::from_errno(errno, "create anchor directory " + dir);
    }
  }
  return Status::ok();
}

Status sync_parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::from_errno(errno, "open anchor directory " + dir);
  const int rc = fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::ok() : Status::from_errno(err, "fsync anchor directory " + dir);
}

}  // namespace

Anchor::Anchor(std::string path, const crypto::SecretKey& anchor_key, const log::Uuid& uuid)
    : path_(std::move(path)), key_(anchor_key.clone()), uuid_(uuid) {}

Anchor::~Anchor() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Anchor::state_dir() {
  std::string base;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && state[0] == '/') {
    base = state;
  } else if (const char* home = std::getenv("HOME"); home && home[0] == '/') {
    base = std::string(home) + "/.local/state";
  } else {
    base = "/var/lib";
  }
  return base + "/jindisk";
}

std::string Anchor::default_path(const log::Uuid& uuid) {
  return state_dir() + "/" + uuid_to_string(uuid) + ".anchor";
}

Status Anchor::open_fd(bool create) {
  if (fd_ >= 0) return Status::ok();
  int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && create) {
    JD_TRY(make_parents(path_));
    fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      // Both slots start equal so that either one surviving a torn first update is valid.
      fd_ = fd;
      return Status::ok();
    }
  }
  if (fd < 0) return Status::from_errno(errno, "open anchor " + path_);
  fd_ = fd;
  return Status::ok();
}

Result<std::optional<AnchorState>> Anchor::read() {
  Status s = open_fd(false);
  if (s.code() == Code::kNotFound) return std::optional<AnchorState>{};
  JD_TRY(s);
  uint8_t buf[2 * kSlot];
  const ssize_t n = pread(fd_, buf, sizeof buf, 0);
  if (n < 0) return Status::from_errno(errno, "read anchor " + path_);
  std::optional<AnchorState> best;
  for (size_t slot = 0; slot < 2; ++slot) {
    if (static_cast<size_t>(n) < (slot + 1) * kSlot) break;
    const uint8_t* p = buf + slot * kSlot;
    if (std::memcmp(p, kMagic, 8) != 0 || std::memcmp(p + 8, uuid_.data(), 16) != 0) continue;
    const crypto::Tag mac = crypto::mac(key_.bytes(), {p, 48});
    crypto::Tag stored;
    std::memcpy(stored.data(), p + 48, 16);
    if (!crypto::tags_equal(mac, stored)) continue;
    AnchorState st;
    st.epoch = util::get_u64(p + 24);
    std::memcpy(st.root_tag.data(), p + 32, 16);
    if (!best || st.epoch > best->epoch) best = st;
  }
  if (!best) {
    return Status::corruption("anchor " + path_ + " is damaged or belongs to another disk");
  }
  return best;
}

Status Anchor::update(const AnchorState& state, bool both_slots) {
  const bool existed = ::access(path_.c_str(), F_OK) == 0;
  JD_TRY(open_fd(true));
  uint8_t slot[kSlot] = {};
  std::memcpy(slot, kMagic, 8);
  std::memcpy(slot + 8, uuid_.data(), 16);
  util::put_u64(slot + 24, state.epoch);
  std::memcpy(slot + 32, state.root_tag.data(), 16);
  const crypto::Tag mac = crypto::mac(key_.bytes(), {slot, 48});
  std::memcpy(slot + 48, mac.data(), 16);
  if (!existed || both_slots) {
    uint8_t both[2 * kSlot];
    std::memcpy(both, slot, kSlot);
    std::memcpy(both + kSlot, slot, kSlot);
    if (pwrite(fd_, both, sizeof both, 0) != static_cast<ssize_t>(sizeof both)) {
      return Status::from_errno(errno ? errno : EIO, "write anchor " + path_);
    }
    if (fdatasync(fd_) != 0) return Status::from_errno(errno, "sync anchor " + path_);
    return existed ? Status::ok() : sync_parent(path_);
  }
  const off_t off = static_cast<off_t>((state.epoch & 1) * kSlot);
  if (pwrite(fd_, slot, kSlot, off) != static_cast<ssize_t>(kSlot)) {
    return Status::from_errno(errno ? errno : EIO, "write anchor " + path_);
  }
  if (fdatasync(fd_) != 0) return Status::from_errno(errno, "sync anchor " + path_);
  return Status::ok();
}

}  // namespace jindisk::disk
