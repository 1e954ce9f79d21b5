// ChainLog: see chain_log.hpp for the format and guarantees.
#include "log/chain_log.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "util/le.hpp"

namespace jindisk::log {
namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kNonce = crypto::kObjectNonceSize;
constexpr size_t kTag = crypto::kTagSize;
constexpr size_t kPlain = kBlock - kNonce - kTag;  // 4056
constexpr size_t kCountSize = 4;
constexpr size_t kLenSize = 2;
static_assert(ChainLog::kMaxRecordSize == kPlain - kCountSize - kLenSize,
              "one maximal record must fill an empty block exactly");
// The smallest record (1 byte) takes 3 bytes, which bounds a block's record count.
constexpr uint32_t kMaxRecordsPerBlock = (kPlain - kCountSize) / (kLenSize + 1);
// Blocks read per host call during replay: large reads, bounded memory.
constexpr uint64_t kReadBatchBlocks = 64;

constexpr std::array<uint8_t, 8> kMagic = {'J', 'D', 'C', 'H', 'A', 'I', 'N', '1'};
using Ad = std::array<uint8_t, 8 + 8 + 8 + kTag>;

Ad chain_ad(uint64_t log_id, uint64_t index, const crypto::Tag& prev) {
  Ad ad{};
  std::memcpy(ad.data(), kMagic.data(), kMagic.size());
  util::put_u64(ad.data() + 8, log_id);
  util::put_u64(ad.data() + 16, index);
  std::memcpy(ad.data() + 24, prev.data(), kTag);
  return ad;
}

std::string where(uint64_t log_id, uint64_t index) {
  return "log " + std::to_string(log_id) + " block " + std::to_string(index);
}

// Checks a decrypted block's record framing; if visit is set, hands it each record.
// The bytes authenticated, so a failure here means a writer bug or a key compromise, but the
// parser still treats them as untrusted: every count and length is bounded by the block.
Status parse_block(std::span<const uint8_t> plain, const std::string& what,
                   const std::function<Status(std::span<const uint8_t>)>* visit) {
  util::Reader r(plain, what);
  const uint32_t count = r.u32();
  if (count > kMaxRecordsPerBlock) {
    return Status::corruption(what + ": record count " + std::to_string(count) + " too large");
  }
  for (uint32_t i = 0; i < count; ++i) {
    const uint16_t len = r.u16();
    if (len == 0 || len > ChainLog::kMaxRecordSize) {
      return Status::corruption(what + ": bad record length " + std::to_string(len));
    }
    std::span<const uint8_t> rec = r.view(len);
    JD_TRY(r.status());
    if (visit != nullptr) JD_TRY((*visit)(rec));
  }
  JD_TRY(r.status());
  // The writer zero-fills the rest; anything else means the framing is not what we wrote.
  std::span<const uint8_t> rest = r.view(r.remaining());
  if (std::any_of(rest.begin(), rest.end(), [](uint8_t b) { return b != 0; })) {
    return Status::corruption(what + ": nonzero bytes after the last record");
  }
  return Status::ok();
}

}  // namespace

struct ChainLog::State {
  std::unique_ptr<host::File> file;
  crypto::KeyBytes key{};
  uint64_t log_id = 0;
  ChainPosition pos;                    // blocks written and the tag of the last one
  std::array<uint8_t, kPlain> plain{};  // the block being filled (count at offset 0)
  size_t used = kCountSize;             // bytes of `plain` in use
  uint32_t count = 0;                   // records buffered in `plain`

  ~State() {
    sodium_memzero(key.data(), key.size());
    sodium_memzero(plain.data(), plain.size());
  }

  // Seals the buffered records as block pos.blocks and writes it. Only a successful write
  // changes any state, so a caller may retry after an error.
  Status write_block() {
    util::put_u32(plain.data(), count);
    const Ad ad = chain_ad(log_id, pos.blocks, pos.last_tag);
    std::array<uint8_t, kBlock> out{};
    crypto::ObjectNonce nonce{};
    crypto::Tag tag{};
    // A fresh random nonce per seal: a block rewritten after a failed write or over a stale
    // tail never reuses a nonce under the long-lived log key.
    crypto::seal_object(key, ad, plain, std::span<uint8_t>(out.data() + kNonce, kPlain), nonce,
                        tag);
    std::memcpy(out.data(), nonce.data(), kNonce);
    std::memcpy(out.data() + kNonce + kPlain, tag.data(), kTag);
    JD_TRY(file->write_at(pos.blocks * kBlock, out).with_context(where(log_id, pos.blocks)));
    pos.blocks += 1;
    pos.last_tag = tag;
    plain.fill(0);
    used = kCountSize;
    count = 0;
    return Status::ok();
  }
};

ChainLog::ChainLog(std::unique_ptr<State> state) : s_(std::move(state)) {}
ChainLog::ChainLog(ChainLog&&) noexcept = default;
ChainLog& ChainLog::operator=(ChainLog&&) noexcept = default;
ChainLog::~ChainLog() = default;

ChainLog ChainLog::create(std::unique_ptr<host::File> file, const crypto::KeyBytes& key,
                          uint64_t log_id) {
  auto s = std::make_unique<State>();
  s->file = std::move(file);
  s->key = key;
  s->log_id = log_id;
  return ChainLog(std::move(s));
}

Result<ChainLog> ChainLog::open(std::unique_ptr<host::File> file, const crypto::KeyBytes& key,
                                uint64_t log_id, const ChainPosition& committed,
                                const std::function<Status(std::span<const uint8_t>)>& visit) {
  const std::string name = "log " + std::to_string(log_id);
  if (committed.blocks > std::numeric_limits<uint64_t>::max() / kBlock) {
    return Status::corruption(name + ": committed block count out of range");
  }
  if (committed.blocks == 0 && committed.last_tag != crypto::Tag{}) {
    return Status::corruption(name + ": log truncated or rolled back (empty with a tag)");
  }
  JD_ASSIGN_OR_RETURN(uint64_t size, file->size());
  if (size < committed.blocks * kBlock) {
    return Status::corruption(name + ": file has " + std::to_string(size) + " bytes, " +
                              std::to_string(committed.blocks) + " blocks committed");
  }

  // Two passes so that visit() never sees a record before the whole committed chain has
  // verified: a stale block from an abandoned tail opens with the right AD (same index and
  // previous tag) and is only caught by the next block or the last tag. Pass 1 verifies and
  // keeps just the tags; pass 2 re-reads (the host may have changed the file meanwhile), so it
  // requires each block to carry the tag pass 1 verified, then decrypts and visits.
  std::vector<crypto::Tag> tags(committed.blocks);
  std::vector<uint8_t> batch;
  std::array<uint8_t, kPlain> plain{};
  const int passes = visit ? 2 : 1;  // an empty visit only verifies
  for (int pass = 1; pass <= passes; ++pass) {
    crypto::Tag prev{};
    for (uint64_t first = 0; first < committed.blocks; first += kReadBatchBlocks) {
      const uint64_t n = std::min(kReadBatchBlocks, committed.blocks - first);
      batch.resize(n * kBlock);
      JD_TRY(file->read_exact(first * kBlock, batch).with_context(name));
      for (uint64_t j = 0; j < n; ++j) {
        const uint64_t index = first + j;
        const std::string what = where(log_id, index);
        const uint8_t* blk = batch.data() + j * kBlock;
        crypto::ObjectNonce nonce{};
        crypto::Tag tag{};
        std::memcpy(nonce.data(), blk, kNonce);
        std::memcpy(tag.data(), blk + kNonce + kPlain, kTag);
        if (pass == 2 && !crypto::tags_equal(tag, tags[index])) {
          return Status::corruption(what + ": changed while the log was being opened");
        }
        const Ad ad = chain_ad(log_id, index, prev);
        Status st = crypto::open_object(key, ad, std::span<const uint8_t>(blk + kNonce, kPlain),
                                        nonce, tag, plain);
        if (!st.is_ok()) {
          return Status::corruption(what +
                                    ": does not authenticate (tampered, reordered, "
                                    "spliced from another log, or wrong key)");
        }
        JD_TRY(parse_block(plain, what, pass == 2 ? &visit : nullptr));
        tags[index] = tag;
        prev = tag;
      }
    }
    if (pass == 1 && committed.blocks > 0 && !crypto::tags_equal(prev, committed.last_tag)) {
      return Status::corruption(name + ": log truncated or rolled back (last block " +
                                std::to_string(committed.blocks - 1) +
                                " does not carry the committed tag)");
    }
  }
  sodium_memzero(plain.data(), plain.size());

  auto s = std::make_unique<State>();
  s->file = std::move(file);
  s->key = key;
  s->log_id = log_id;
  s->pos = committed;
  return ChainLog(std::move(s));
}

Status ChainLog::append(std::span<const uint8_t> record) {
  if (record.empty() || record.size() > kMaxRecordSize) {
    return Status::invalid_argument("log record of " + std::to_string(record.size()) +
                                    " bytes (allowed 1.." + std::to_string(kMaxRecordSize) + ")");
  }
  if (s_->used + kLenSize + record.size() > kPlain) {
    // The record does not fit: close this block first. If that write fails the record is not
    // buffered either, so the log is exactly as before the call.
    JD_TRY(s_->write_block());
  }
  util::put_u16(s_->plain.data() + s_->used, static_cast<uint16_t>(record.size()));
  std::memcpy(s_->plain.data() + s_->used + kLenSize, record.data(), record.size());
  s_->used += kLenSize + record.size();
  s_->count += 1;
  return Status::ok();
}

Status ChainLog::write_pending() {
  if (s_->count == 0) return Status::ok();
  return s_->write_block();
}

Status ChainLog::sync() {
  JD_TRY(write_pending());
  return s_->file->sync().with_context(where(s_->log_id, s_->pos.blocks) + " sync");
}

ChainPosition ChainLog::position() const {
  return s_->pos;
}

uint64_t ChainLog::log_id() const {
  return s_->log_id;
}

}  // namespace jindisk::log
