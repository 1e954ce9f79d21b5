// AEAD sealing, in the two forms the layers above use.
//
// 1. Data blocks (seal_block/open_block): one 4 KiB block under a one-time random key that is
//    used for this block only, so the nonce is fixed (all zero) and never repeats under a key.
//    Ciphertext is exactly 4096 bytes; the 16-byte tag and the key live in the block's
//    authenticated parent (its index record). Cipher: AES-256-GCM where the CPU supports it
//    (crypto_aead_aes256gcm_is_available), else ChaCha20-Poly1305-IETF; the choice is made at
//    format time and recorded in the disk header.
// 2. Metadata objects (seal_object/open_object): XChaCha20-Poly1305-IETF with a random 24-byte
//    nonce that the caller stores next to the ciphertext. Random nonces make rewriting the tail
//    of a log or a root slot safe under a long-lived key.
//
// A failed open is kCorruption and leaves the output zeroed: a caller can never use bytes that
// did not authenticate.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "jindisk/status.hpp"

namespace jindisk::crypto {

constexpr size_t kBlockSize = 4096;
constexpr size_t kTagSize = 16;
constexpr size_t kObjectNonceSize = 24;

using Tag = std::array<uint8_t, kTagSize>;
using KeyBytes = std::array<uint8_t, 32>;  // a one-time or per-file key held in plain memory
using ObjectNonce = std::array<uint8_t, kObjectNonceSize>;

enum class Cipher : uint8_t {
  kAes256Gcm = 1,
  kChaCha20Poly1305 = 2,
};

// AES-256-GCM if this CPU has AES-NI and PCLMUL, else ChaCha20-Poly1305.
Cipher preferred_cipher();
bool cipher_available(Cipher cipher);
const char* cipher_name(Cipher cipher);

// Seals one block under a key that must never seal anything else. `ad` is authenticated, not
// stored. `out` may alias `plain`.
void seal_block(Cipher cipher, std::span<const uint8_t, 32> one_time_key,
                std::span<const uint8_t> ad, std::span<const uint8_t, kBlockSize> plain,
                std::span<uint8_t, kBlockSize> out, Tag& tag);

// kCorruption if the tag does not verify (out is zeroed then). `out` may alias `cipher_text`.
Status open_block(Cipher cipher, std::span<const uint8_t, 32> one_time_key,
                  std::span<const uint8_t> ad, std::span<const uint8_t, kBlockSize> cipher_text,
                  const Tag& tag, std::span<uint8_t, kBlockSize> out);

// Seals any length with XChaCha20-Poly1305; draws a fresh random nonce into `nonce`.
// out.size() must equal plain.size(); `out` may alias `plain`.
void seal_object(std::span<const uint8_t, 32> key, std::span<const uint8_t> ad,
                 std::span<const uint8_t> plain, std::span<uint8_t> out, ObjectNonce& nonce,
                 Tag& tag);

Status open_object(std::span<const uint8_t, 32> key, std::span<const uint8_t> ad,
                   std::span<const uint8_t> cipher_text, const ObjectNonce& nonce, const Tag& tag,
                   std::span<uint8_t> out);

// A fresh random key for one block or one file.
KeyBytes random_key();
// Fills `out` with independent one-time keys: a ChaCha20 keystream under a fresh 256-bit
// random seed (libsodium's randombytes_buf_deterministic), so a drain of thousands of blocks
// costs one getrandom call rather than one per block.
void random_keys(std::span<KeyBytes> out);
// The same stream for any bytes (a drain's segment-summary salts).
void random_bulk(std::span<uint8_t> out);

// Keyed BLAKE2b-128 MAC (for tag tables of sealed files).
Tag mac(std::span<const uint8_t, 32> key, std::span<const uint8_t> message);

// Constant-time equality of two tags.
bool tags_equal(const Tag& a, const Tag& b);

}  // namespace jindisk::crypto
