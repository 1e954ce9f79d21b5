// Sealed write-once files: see sealed_file.hpp for the format and guarantees.
//
// Blocks are sealed with libsodium directly rather than crypto::seal_object, because the format
// fixes the nonce to the block index (seal_object draws a random one). That is safe only because
// each file key seals each index at most once, which the writer enforces by refusing all further
// work after a failed write (a retry would re-seal index i, maybe with other bytes).
#include "log/sealed_file.hpp"

#include <sodium.h>

#include <array>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "crypto/sodium.hpp"
#include "util/le.hpp"

namespace jindisk::log {
namespace {

constexpr size_t kBlock = crypto::kBlockSize;
constexpr size_t kTag = crypto::kTagSize;
constexpr uint64_t kBytesPerBlock = kBlock + kTag;  // the block and its tag-table entry

constexpr std::array<uint8_t, 8> kBlockMagic = {'J', 'D', 'S', 'E', 'A', 'L', 'D', '1'};
constexpr std::array<uint8_t, 8> kTableMagic = {'J', 'D', 'S', 'E', 'A', 'L', 'T', '1'};

static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kTag);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);

using Nonce = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>;
using Ad = std::array<uint8_t, 24>;

Nonce block_nonce(uint64_t index) {
  Nonce n{};
  util::put_u64(n.data(), index);
  return n;
}

Ad block_ad(uint64_t file_id, uint64_t index) {
  Ad ad{};
  std::memcpy(ad.data(), kBlockMagic.data(), kBlockMagic.size());
  util::put_u64(ad.data() + 8, file_id);
  util::put_u64(ad.data() + 16, index);
  return ad;
}

crypto::Tag file_tag(const crypto::KeyBytes& key, uint64_t file_id,
                     const std::vector<crypto::Tag>& tags) {
  std::vector<uint8_t> msg;
  msg.reserve(24 + tags.size() * kTag);
  util::Writer w(msg);
  w.bytes(kTableMagic);
  w.u64(file_id);
  w.u64(tags.size());
  for (const crypto::Tag& t : tags) w.bytes(t);
  return crypto::mac(key, msg);
}

std::string file_name(uint64_t file_id) {
  return "sealed file " + std::to_string(file_id);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

struct SealedFileWriter::State {
  std::unique_ptr<host::File> file;
  uint64_t file_id = 0;
  crypto::KeyBytes key{};
  std::vector<crypto::Tag> tags;  // one per block written
  Status broken;                  // sticky: the first write error (see the file comment)
  bool finished = false;

  ~State() { sodium_memzero(key.data(), key.size()); }

  Status usable() const {
    if (!broken.is_ok()) return broken;
    if (finished) return Status::invalid_argument(file_name(file_id) + ": already finished");
    return Status::ok();
  }
};

SealedFileWriter::SealedFileWriter(std::unique_ptr<host::File> file, uint64_t file_id)
    : s_(std::make_unique<State>()) {
  crypto::init();
  s_->file = std::move(file);
  s_->file_id = file_id;
  s_->key = crypto::random_key();
}

SealedFileWriter::~SealedFileWriter() = default;
SealedFileWriter::SealedFileWriter(SealedFileWriter&&) noexcept = default;
SealedFileWriter& SealedFileWriter::operator=(SealedFileWriter&&) noexcept = default;

Status SealedFileWriter::append(std::span<const uint8_t, crypto::kBlockSize> plain) {
  JD_TRY(s_->usable());
  const uint64_t index = s_->tags.size();
  const Nonce nonce = block_nonce(index);
  const Ad ad = block_ad(s_->file_id, index);
  std::array<uint8_t, kBlock> out{};
  crypto::Tag tag{};
  unsigned long long tag_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
      out.data(), tag.data(), &tag_len, plain.data(), plain.size(), ad.data(), ad.size(), nullptr,
      nonce.data(), s_->key.data());
  Status st = s_->file->write_at(index * kBlock, out);
  if (!st.is_ok()) {
    s_->broken = st.with_context(file_name(s_->file_id) + " block " + std::to_string(index));
    return s_->broken;
  }
  s_->tags.push_back(tag);
  return Status::ok();
}

Result<SealedFileRef> SealedFileWriter::finish() {
  JD_TRY(s_->usable());
  const uint64_t n = s_->tags.size();
  const std::string name = file_name(s_->file_id);
  std::vector<uint8_t> table;
  table.reserve(n * kTag);
  for (const crypto::Tag& t : s_->tags) table.insert(table.end(), t.begin(), t.end());
  // Any failure here leaves the file unusable for a reader; the writer gives up likewise.
  auto fail = [&](const Status& st) {
    s_->broken = st.with_context(name);
    return s_->broken;
  };
  if (!table.empty()) {
    Status st = s_->file->write_at(n * kBlock, table);
    if (!st.is_ok()) return fail(st);
  }
  // The header asks for a new file, but a reused one would carry trailing bytes that the
  // reader rejects: trim them so the file is exactly what we wrote.
  Result<uint64_t> size = s_->file->size();
  if (!size.is_ok()) return fail(size.status());
  if (*size != n * kBytesPerBlock) {
    Status st = s_->file->truncate(n * kBytesPerBlock);
    if (!st.is_ok()) return fail(st);
  }
  Status st = s_->file->sync();
  if (!st.is_ok()) return fail(st);
  s_->finished = true;
  SealedFileRef ref;
  ref.file_id = s_->file_id;
  ref.key = s_->key;
  ref.blocks = n;
  ref.file_tag = file_tag(s_->key, s_->file_id, s_->tags);
  return ref;
}

uint64_t SealedFileWriter::blocks_written() const {
  return s_->tags.size();
}

// ---------------------------------------------------------------------------------------------
// Reader

struct SealedFileReader::State {
  std::unique_ptr<host::File> file;
  SealedFileRef ref;
  std::vector<crypto::Tag> tags;  // verified against ref.file_tag at open; read-only after

  ~State() { sodium_memzero(ref.key.data(), ref.key.size()); }
};

SealedFileReader::SealedFileReader(std::unique_ptr<State> state) : s_(std::move(state)) {}
SealedFileReader::~SealedFileReader() = default;
SealedFileReader::SealedFileReader(SealedFileReader&&) noexcept = default;
SealedFileReader& SealedFileReader::operator=(SealedFileReader&&) noexcept = default;

Result<SealedFileReader> SealedFileReader::open(std::unique_ptr<host::File> file,
                                                const SealedFileRef& ref) {
  crypto::init();
  const std::string name = file_name(ref.file_id);
  const uint64_t n = ref.blocks;
  if (n > std::numeric_limits<uint64_t>::max() / kBytesPerBlock) {
    return Status::corruption(name + ": block count " + std::to_string(n) + " out of range");
  }
  JD_ASSIGN_OR_RETURN(uint64_t size, file->size());
  if (size != n * kBytesPerBlock) {
    return Status::corruption(name + ": file has " + std::to_string(size) + " bytes, expected " +
                              std::to_string(n * kBytesPerBlock) + " for " + std::to_string(n) +
                              " blocks");
  }
  std::vector<uint8_t> table(n * kTag);
  JD_TRY(file->read_exact(n * kBlock, table).with_context(name));
  util::Reader r(table, name + " tag table");
  std::vector<crypto::Tag> tags(n);
  for (crypto::Tag& t : tags) r.bytes(t);
  JD_TRY(r.status());
  if (!crypto::tags_equal(file_tag(ref.key, ref.file_id, tags), ref.file_tag)) {
    return Status::corruption(name + ": tag table does not match its parent");
  }
  auto s = std::make_unique<State>();
  s->file = std::move(file);
  s->ref = ref;
  s->tags = std::move(tags);
  return SealedFileReader(std::move(s));
}

Status SealedFileReader::read(uint64_t index, std::span<uint8_t, crypto::kBlockSize> out) const {
  const std::string name = file_name(s_->ref.file_id);
  if (index >= s_->ref.blocks) {
    return Status::invalid_argument(name + ": block " + std::to_string(index) + " of " +
                                    std::to_string(s_->ref.blocks));
  }
  const std::string what = name + " block " + std::to_string(index);
  // Only const state and File::read_at (thread-safe) are used, so concurrent reads are fine.
  Status st = s_->file->read_exact(index * kBlock, out).with_context(what);
  if (st.is_ok()) {
    const Nonce nonce = block_nonce(index);
    const Ad ad = block_ad(s_->ref.file_id, index);
    // libsodium verifies the tag before it decrypts, and decrypting in place is supported.
    if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
            out.data(), nullptr, out.data(), out.size(), s_->tags[index].data(), ad.data(),
            ad.size(), nonce.data(), s_->ref.key.data()) != 0) {
      st = Status::corruption(what + ": does not authenticate");
    }
  }
  // Never leave ciphertext or partial bytes where a caller might take them for data.
  if (!st.is_ok()) sodium_memzero(out.data(), out.size());
  return st;
}

uint64_t SealedFileReader::blocks() const {
  return s_->ref.blocks;
}

}  // namespace jindisk::log
