// Keys from what the user holds, the master key's wrapping, and subkeys.
//
//   passphrase --Argon2id(salt, params)--> wrapping key     (crypto_pwhash)
//   key file (32 raw bytes) --BLAKE2b(salt)--> wrapping key
//   wrapping key --XChaCha20-Poly1305--> wrapped master key  (stored in the disk header)
//   master key --crypto_kdf(id, "jindisk_")--> subkeys       (root slots, anchor, ...)
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/aead.hpp"
#include "crypto/secret_key.hpp"
#include "jindisk/status.hpp"

namespace jindisk::crypto {

constexpr size_t kSaltSize = 16;
using Salt = std::array<uint8_t, kSaltSize>;

struct KdfParams {
  uint64_t ops_limit = 0;
  uint64_t mem_limit = 0;  // bytes
  // Argon2id "moderate" (3 passes, 256 MiB): about a second here; what the daemon uses.
  static KdfParams moderate();
  // The library minimum; only for tests, where a second per open would be all the test does.
  static KdfParams for_tests();
  // Rejects values outside libsodium's limits (a header field is untrusted).
  Status validate() const;
};

Salt random_salt();

// kInvalidArgument for bad params; kIoError if memory for Argon2 cannot be had.
Result<SecretKey> key_from_passphrase(std::string_view passphrase, const Salt& salt,
                                      const KdfParams& params);
SecretKey key_from_key_file(std::span<const uint8_t, kKeySize> file_bytes, const Salt& salt);

struct WrappedKey {
  ObjectNonce nonce{};
  std::array<uint8_t, kKeySize> cipher_text{};
  Tag tag{};
};

// `ad` binds the wrapped key to its header (uuid, version, KDF fields).
WrappedKey wrap_key(const SecretKey& wrapping_key, const SecretKey& master,
                    std::span<const uint8_t> ad);
// kWrongKey when the tag does not verify: wrong passphrase/key (or a forged header, which
// cannot be told apart from a wrong key by design).
Result<SecretKey> unwrap_key(const SecretKey& wrapping_key, const WrappedKey& wrapped,
                             std::span<const uint8_t> ad);

// Subkey ids. Never reuse an id for a different purpose.
enum class SubkeyId : uint64_t {
  kRootSlots = 1,
  kAnchor = 2,
  kWal = 3,       // reserved: the WAL has per-file random keys; kept for a future use
  kInfo = 4,
  kSegmentSummary = 5,  // masks the LBA of each slot in a segment's summary
};
SecretKey derive_subkey(const SecretKey& master, SubkeyId id);

}  // namespace jindisk::crypto
