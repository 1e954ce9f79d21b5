#include "crypto/kdf.hpp"

#include <sodium.h>

#include <algorithm>
#include <string>

#include "crypto/sodium.hpp"

namespace jindisk::crypto {
namespace {

static_assert(kSaltSize == crypto_pwhash_SALTBYTES);
static_assert(kSaltSize >= crypto_generichash_KEYBYTES_MIN &&
              kSaltSize <= crypto_generichash_KEYBYTES_MAX);
static_assert(kKeySize == crypto_kdf_KEYBYTES && kKeySize >= crypto_kdf_BYTES_MIN &&
              kKeySize <= crypto_kdf_BYTES_MAX);

// Bounds what a header may ask Argon2 to allocate: libsodium's own maximum is far beyond any
// machine, and a forged header must not be able to make an open allocate a terabyte.
constexpr uint64_t kMemLimitCap = uint64_t{4} << 30;

// Domain separation: these bytes never hash anything but a key file.
constexpr std::string_view kKeyFileDomain = "jindisk-keyfile-v1";

// crypto_kdf reads exactly crypto_kdf_CONTEXTBYTES chars, no terminator.
constexpr char kSubkeyContext[] = "jindisk_";
static_assert(sizeof(kSubkeyContext) - 1 == crypto_kdf_CONTEXTBYTES);

}  // namespace

KdfParams KdfParams::moderate() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

KdfParams KdfParams::for_tests() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

Status KdfParams::validate() const {
  if (ops_limit < crypto_pwhash_OPSLIMIT_MIN || ops_limit > crypto_pwhash_OPSLIMIT_MAX) {
    return Status::invalid_argument("Argon2id ops limit " + std::to_string(ops_limit) +
                                    " is outside [" + std::to_string(crypto_pwhash_OPSLIMIT_MIN) +
                                    ", " + std::to_string(crypto_pwhash_OPSLIMIT_MAX) + "]");
  }
  const uint64_t mem_max = std::min<uint64_t>(crypto_pwhash_MEMLIMIT_MAX, kMemLimitCap);
  if (mem_limit < crypto_pwhash_MEMLIMIT_MIN || mem_limit > mem_max) {
    return Status::invalid_argument("Argon2id memory limit " + std::to_string(mem_limit) +
                                    " bytes is outside [" +
                                    std::to_string(crypto_pwhash_MEMLIMIT_MIN) + ", " +
                                    std::to_string(mem_max) + "]");
  }
  return Status::ok();
}

Salt random_salt() {
  Salt salt;
  random_bytes(salt);
  return salt;
}

Result<SecretKey> key_from_passphrase(std::string_view passphrase, const Salt& salt,
                                      const KdfParams& params) {
  init();
  JD_TRY(params.validate());
  if (passphrase.size() > crypto_pwhash_PASSWD_MAX) {
    return Status::invalid_argument("passphrase is too long");
  }
  SecretKey key;
  // An empty string_view may carry a null pointer; give libsodium a real one.
  const char* pass = passphrase.empty() ? "" : passphrase.data();
  // With params validated, -1 can only mean Argon2 could not allocate its memory.
  if (crypto_pwhash(key.mutable_bytes().data(), kKeySize, pass, passphrase.size(), salt.data(),
                    params.ops_limit, static_cast<size_t>(params.mem_limit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::io_error("not enough memory for Argon2id (" +
                            std::to_string(params.mem_limit >> 20) + " MiB)");
  }
  return key;
}

SecretKey key_from_key_file(std::span<const uint8_t, kKeySize> file_bytes, const Salt& salt) {
  init();
  SecretKey key;
  // The salt keys BLAKE2b, so the same key file yields unrelated keys for different disks.
  crypto_generichash_state state;
  crypto_generichash_init(&state, salt.data(), salt.size(), kKeySize);
  crypto_generichash_update(&state, reinterpret_cast<const uint8_t*>(kKeyFileDomain.data()),
                            kKeyFileDomain.size());
  crypto_generichash_update(&state, file_bytes.data(), file_bytes.size());
  crypto_generichash_final(&state, key.mutable_bytes().data(), kKeySize);
  sodium_memzero(&state, sizeof(state));  // its buffer still holds the key file bytes
  return key;
}

WrappedKey wrap_key(const SecretKey& wrapping_key, const SecretKey& master,
                    std::span<const uint8_t> ad) {
  WrappedKey wrapped;
  seal_object(wrapping_key.bytes(), ad, master.bytes(), wrapped.cipher_text, wrapped.nonce,
              wrapped.tag);
  return wrapped;
}

Result<SecretKey> unwrap_key(const SecretKey& wrapping_key, const WrappedKey& wrapped,
                             std::span<const uint8_t> ad) {
  SecretKey master;  // decrypt straight into secure memory, never via a plain buffer
  if (!open_object(wrapping_key.bytes(), ad, wrapped.cipher_text, wrapped.nonce, wrapped.tag,
                   master.mutable_bytes())
           .is_ok()) {
    return Status::wrong_key("wrong passphrase or key");
  }
  return master;
}

SecretKey derive_subkey(const SecretKey& master, SubkeyId id) {
  init();
  SecretKey subkey;
  crypto_kdf_derive_from_key(subkey.mutable_bytes().data(), kKeySize,
                             static_cast<uint64_t>(id), kSubkeyContext, master.bytes().data());
  return subkey;
}

}  // namespace jindisk::crypto
