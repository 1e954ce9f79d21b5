// The disk header (host file "header"): what is needed to unlock the disk, written at format
// and replaced (write new, sync, rename, sync dir) by a key change. Byte layout in
// docs/format.md ("header"). The master key is wrapped under a key derived from the passphrase
// (Argon2id) or key file; the wrap's AD covers every field before it, so a changed field fails
// like a wrong key, while the plain checksum tells accidental damage from a wrong key.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/kdf.hpp"
#include "crypto/secret_key.hpp"
#include "host/store.hpp"
#include "jindisk/disk.hpp"
#include "log/root_slots.hpp"

namespace jindisk::disk {

constexpr char kHeaderName[] = "header";
constexpr uint32_t kFormatVersion = 2;  // 2: segment summaries (1 was never released)
constexpr size_t kHeaderSize = 256;

enum class KeyKind : uint8_t { kPassphrase = 1, kKeyFile = 2 };

struct DiskHeader {
  log::Uuid uuid{};
  crypto::Cipher cipher = crypto::Cipher::kChaCha20Poly1305;
  KeyKind key_kind = KeyKind::kPassphrase;
  uint32_t segment_blocks = 1024;
  uint64_t logical_blocks = 0;
  crypto::KdfParams kdf;
  crypto::Salt salt{};
  crypto::WrappedKey wrapped;

  std::array<uint8_t, kHeaderSize> encode() const;
  // kNotFound-free: parses untrusted bytes. kCorruption for damage (bad size, checksum,
  // magic), kUnsupported for another format version, kInvalidArgument never.
  static Result<DiskHeader> decode(std::span<const uint8_t> bytes);
  // The bytes the master key's wrap authenticates (every field before the wrap).
  std::vector<uint8_t> wrap_ad() const;
};

// Derives the wrapping key for `key` under this header's KDF fields.
Result<crypto::SecretKey> wrapping_key(const DiskHeader& header, const KeySource& key);

// Fills kdf/salt/key_kind for `key`, and wraps `master` into header.wrapped.
Status seal_master_key(DiskHeader& header, const KeySource& key, KdfStrength strength,
                       const crypto::SecretKey& master);
// Unwraps the master key: kWrongKey if the key does not fit.
Result<crypto::SecretKey> open_master_key(const DiskHeader& header, const KeySource& key);

Result<DiskHeader> read_header(host::Store& store);
// Atomically replaces (or creates) the header: write "header.new", sync, rename, sync dir.
Status write_header(host::Store& store, const DiskHeader& header);

std::string uuid_to_string(const log::Uuid& uuid);

}  // namespace jindisk::disk
