// Sealed write-once files (index sorted files, manifests).
//
// Layout: n blocks of 4096 bytes of ciphertext, then a tag table of n tags (16 bytes each).
// Block i is sealed with XChaCha20-Poly1305 under the file's own random key, nonce = le64(i)
// then 16 zero bytes (each block is written once under a key used for no other file),
// AD = "JDSEALD1" | le64 file_id | le64 i (n is not known while blocks are written; truncation
// is caught by the tag table, whose file tag covers n). Tag i is the block's 16-byte AEAD tag.
// The file tag = BLAKE2b-128 keyed with the file key over ("JDSEALT1" | le64 file_id | le64 n |
// tag table). The parent stores SealedFileRef {file_id, key, n, file tag}: with it, a reader
// detects any changed, swapped, truncated or replayed block or tag table.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "crypto/aead.hpp"
#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::log {

struct SealedFileRef {
  uint64_t file_id = 0;
  crypto::KeyBytes key{};
  uint64_t blocks = 0;
  crypto::Tag file_tag{};
  bool operator==(const SealedFileRef&) const = default;
};

class SealedFileWriter {
 public:
  // Starts a new file with a fresh random key. The host file should be new and empty.
  SealedFileWriter(std::unique_ptr<host::File> file, uint64_t file_id);
  ~SealedFileWriter();
  SealedFileWriter(SealedFileWriter&&) noexcept;
  SealedFileWriter& operator=(SealedFileWriter&&) noexcept;

  // Seals and writes the next block. After any failed write (here or in finish) the writer
  // refuses further calls with that error: a retry would re-seal an index under the same
  // nonce. Start a new file instead.
  Status append(std::span<const uint8_t, crypto::kBlockSize> plain);
  // Writes the tag table, fdatasyncs, and returns what the parent must keep.
  Result<SealedFileRef> finish();
  uint64_t blocks_written() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

class SealedFileReader {
 public:
  // Reads and verifies the tag table against ref (kCorruption if it does not match, if the
  // file is too short, or if it has trailing bytes).
  static Result<SealedFileReader> open(std::unique_ptr<host::File> file, const SealedFileRef& ref);
  ~SealedFileReader();
  SealedFileReader(SealedFileReader&&) noexcept;
  SealedFileReader& operator=(SealedFileReader&&) noexcept;

  // kInvalidArgument if index >= blocks(); kCorruption if the block does not open.
  // Thread-safe (concurrent reads of one file are fine).
  Status read(uint64_t index, std::span<uint8_t, crypto::kBlockSize> out) const;
  uint64_t blocks() const;

 private:
  struct State;
  explicit SealedFileReader(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace jindisk::log
