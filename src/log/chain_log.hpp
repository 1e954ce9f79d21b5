// An authenticated append-only log of 4 KiB blocks whose tags chain (the WAL).
//
// Each host block is: nonce(24) | ciphertext(4056) | tag(16), sealed with XChaCha20-Poly1305
// under the log's key with AD = "JDCHAIN1" | log_id | block index | tag of the previous block
// (zeros for block 0). The plaintext holds a record count and length-prefixed records. A
// reader that knows the committed (block count, last tag) of the log detects truncation,
// reordering, splicing between logs, and replay of an older block: every block must open with
// the chain's AD and the last one must carry exactly the committed tag. Blocks past the
// committed count are ignored and are overwritten by later appends (with fresh nonces, so a
// rewritten block never reuses a nonce).
//
// Not thread-safe: one writer at a time (the engine serialises flushes).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "crypto/aead.hpp"
#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::log {

// The trusted summary of a log's committed prefix; lives in the log's parent (the root record).
struct ChainPosition {
  uint64_t blocks = 0;
  crypto::Tag last_tag{};  // all zero when blocks == 0
  bool operator==(const ChainPosition&) const = default;
};

class ChainLog {
 public:
  // Largest record append() accepts.
  static constexpr size_t kMaxRecordSize = 4096 - 24 - 16 - 4 - 2;

  // A new, empty log over an (empty or to-be-overwritten) file.
  static ChainLog create(std::unique_ptr<host::File> file, const crypto::KeyBytes& key,
                         uint64_t log_id);

  // Verifies the committed prefix and calls visit(record) for each record in order. Any
  // verification failure is kCorruption (truncated, reordered, spliced, tampered) naming the
  // block; a visit error stops the replay and is returned. visit() is called only after the
  // whole committed prefix has verified (so no record of a rejected log is ever seen); an empty
  // visit only verifies. The returned log appends after the committed prefix.
  static Result<ChainLog> open(std::unique_ptr<host::File> file, const crypto::KeyBytes& key,
                               uint64_t log_id, const ChainPosition& committed,
                               const std::function<Status(std::span<const uint8_t>)>& visit);

  ChainLog(ChainLog&&) noexcept;
  ChainLog& operator=(ChainLog&&) noexcept;
  ~ChainLog();

  // Buffers a record (1..kMaxRecordSize bytes) for the next block; writes full blocks as they
  // fill. kInvalidArgument if too large.
  Status append(std::span<const uint8_t> record);
  // Seals and writes the partly filled block, if any (the next append starts a new block).
  Status write_pending();
  // write_pending() then fdatasync.
  Status sync();
  // Position after the last block written (what a commit of everything so far records).
  ChainPosition position() const;
  uint64_t log_id() const;

 private:
  struct State;
  explicit ChainLog(std::unique_ptr<State> state);
  std::unique_ptr<State> s_;
};

}  // namespace jindisk::log
