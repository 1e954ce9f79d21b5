// The anchor: a small trusted file outside SECURE_DIR holding the last committed epoch and root
// tag, so that restoring an older copy of the whole directory is detected at open.
//
// Layout (128 bytes): two 64-byte slots, each: magic "JDANCHR1" | uuid (16) | epoch u64 |
// root tag (16) | MAC (16) = BLAKE2b-128 keyed with the anchor subkey over the first 48 bytes.
// An update writes the slot (epoch & 1) and fdatasyncs, so a torn update leaves the other slot.
// The MAC makes accidental damage or a file from another disk visible; the anchor's protection
// rests on the file being out of the adversary's reach.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "crypto/aead.hpp"
#include "crypto/secret_key.hpp"
#include "jindisk/status.hpp"
#include "log/root_slots.hpp"

namespace jindisk::disk {

struct AnchorState {
  uint64_t epoch = 0;
  crypto::Tag root_tag{};
};

class Anchor {
 public:
  Anchor(std::string path, const crypto::SecretKey& anchor_key, const log::Uuid& uuid);
  ~Anchor();
  Anchor(const Anchor&) = delete;
  Anchor& operator=(const Anchor&) = delete;

  // nullopt if the file does not exist; kCorruption if it exists but no slot verifies.
  Result<std::optional<AnchorState>> read();
  // Writes `state` durably (creating the file and its parent directories if needed). With
  // both_slots (creation, or resetting after an accepted rollback) no older/newer slot remains.
  Status update(const AnchorState& state, bool both_slots = false);
  const std::string& path() const { return path_; }

  // $XDG_STATE_HOME/jindisk, else $HOME/.local/state/jindisk (else /var/lib/jindisk): where
  // anchors and the daemon's live info live, outside SECURE_DIR.
  static std::string state_dir();
  // state_dir()/<uuid>.anchor.
  static std::string default_path(const log::Uuid& uuid);

 private:
  Status open_fd(bool create);
  std::string path_;
  crypto::SecretKey key_;
  log::Uuid uuid_;
  int fd_ = -1;
};

}  // namespace jindisk::disk
