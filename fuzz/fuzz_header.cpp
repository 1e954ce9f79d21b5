// Fuzz target: the disk header (host file "header", docs/format.md §1).
//
// The header is plaintext behind an unkeyed BLAKE2b checksum, so random bytes stop at the
// checksum. Every input is therefore decoded twice: as given (magic, size and checksum
// checks), and with the checksum recomputed over the fuzzed bytes, which reaches every field
// check behind it. A header that decodes must re-encode to the same fields, and unwrapping its
// master key with a key file must fail cleanly (kWrongKey) or work; passphrase headers are not
// unwrapped (Argon2 with fuzzed limits of up to 4 GiB would only measure the KDF).
#include <sodium.h>

#include <cstring>

#include "crypto/sodium.hpp"
#include "disk/disk_header.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "jindisk/disk.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr size_t kChecksumOffset = disk::kHeaderSize - 32;
const uint8_t kKeyFile[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

// Bytes the decoder does not interpret: reserved fields (34..35, 152..223) and, because the
// checksum covers them, the checksum.
bool interpreted(size_t i) { return !(i == 34 || i == 35 || i >= 152); }

void check_decoded(const disk::DiskHeader& h, std::span<const uint8_t> input) {
  const auto again = h.encode();
  for (size_t i = 0; i < disk::kHeaderSize; ++i) {
    if (interpreted(i) && again[i] != input[i]) fail("header re-encodes differently", std::to_string(i));
  }
  auto round = disk::DiskHeader::decode(again);
  check(round.is_ok(), "re-encoded header does not decode");
  check(round->encode() == again, "header encode/decode is not stable");
  if (h.key_kind == disk::KeyKind::kKeyFile) {
    auto master = disk::open_master_key(h, KeySource::key_file_bytes(kKeyFile));
    check(master.is_ok() || master.status().code() == Code::kWrongKey,
          "key-file unwrap of a decoded header fails with an unexpected code",
          master.status().to_string());
  }
}

void decode_one(std::span<const uint8_t> bytes) {
  auto h = disk::DiskHeader::decode(bytes);
  if (h.is_ok()) {
    check(bytes.size() == disk::kHeaderSize, "header of the wrong size decoded");
    check_decoded(*h, bytes);
  } else {
    const Code c = h.status().code();
    check(c == Code::kCorruption || c == Code::kUnsupported, "header decode: unexpected code",
          h.status().to_string());
  }
}

void write_seeds(const std::string& dir) {
  // A header as a real disk writes it, for each key kind and cipher.
  int n = 0;
  for (bool passphrase : {false, true}) {
    for (auto cipher : {crypto::Cipher::kAes256Gcm, crypto::Cipher::kChaCha20Poly1305}) {
      disk::DiskHeader h;
      crypto::random_bytes(h.uuid);
      h.cipher = cipher;
      h.segment_blocks = passphrase ? 1024 : 16;
      h.logical_blocks = passphrase ? (16ull << 30) / 4096 : 256;
      auto master = crypto::SecretKey::random();
      must(disk::seal_master_key(h, passphrase ? KeySource::passphrase("fuzz")
                                               : KeySource::key_file_bytes(kKeyFile),
                                 KdfStrength::kTesting, master),
           "seal master key");
      const auto bytes = h.encode();
      write_seed(dir, "header-" + std::to_string(n++), bytes);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> input(data, size);
  decode_one(input);
  if (size == disk::kHeaderSize) {
    std::vector<uint8_t> fixed(input.begin(), input.end());
    crypto_generichash(fixed.data() + kChecksumOffset, 32, fixed.data(), kChecksumOffset, nullptr, 0);
    decode_one(fixed);
  }
  // Through the store, as the open path reads it (any file length).
  host::MemoryStore store;
  must(store.write_all(disk::kHeaderName, input), "write header");
  auto h = disk::read_header(store);
  check(h.is_ok() == disk::DiskHeader::decode(input).is_ok(), "read_header and decode disagree");
  return 0;
}
