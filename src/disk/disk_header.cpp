#include "disk/disk_header.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "util/le.hpp"

namespace jindisk::disk {
namespace {

constexpr char kMagic[8] = {'J', 'I', 'N', 'D', 'I', 'S', 'K', '1'};
constexpr size_t kWrapAdSize = 80;     // bytes [0, 80) are authenticated by the wrap
constexpr size_t kChecksumOffset = kHeaderSize - 32;

bool valid_segment_blocks(uint32_t n) { return n >= 16 && n <= 65536 && (n & (n - 1)) == 0; }

}  // namespace

std::array<uint8_t, kHeaderSize> DiskHeader::encode() const {
  std::vector<uint8_t> out;
  out.reserve(kHeaderSize);
  util::Writer w(out);
  w.bytes({reinterpret_cast<const uint8_t*>(kMagic), 8});
  w.u32(kFormatVersion);
  w.u32(kHeaderSize);
  w.bytes(uuid);
  w.u8(static_cast<uint8_t>(cipher));
  w.u8(static_cast<uint8_t>(key_kind));
  w.u16(0);
  w.u32(segment_blocks);
  w.u64(logical_blocks);
  w.u64(kdf.ops_limit);
  w.u64(kdf.mem_limit);
  w.bytes(salt);
  w.bytes(wrapped.nonce);
  w.bytes(wrapped.cipher_text);
  w.bytes(wrapped.tag);
  out.resize(kChecksumOffset, 0);
  std::array<uint8_t, kHeaderSize> bytes{};
  std::memcpy(bytes.data(), out.data(), kChecksumOffset);
  crypto_generichash(bytes.data() + kChecksumOffset, 32, bytes.data(), kChecksumOffset, nullptr, 0);
  return bytes;
}

std::vector<uint8_t> DiskHeader::wrap_ad() const {
  const auto bytes = encode();
  return {bytes.begin(), bytes.begin() + kWrapAdSize};
}

Result<DiskHeader> DiskHeader::decode(std::span<const uint8_t> bytes) {
  if (bytes.size() != kHeaderSize) {
    return Status::corruption("disk header has " + std::to_string(bytes.size()) +
                              " bytes, expected " + std::to_string(kHeaderSize));
  }
  if (std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return Status::corruption("disk header magic is wrong: not a jindisk directory, or damaged");
  }
  uint8_t sum[32];
  crypto_generichash(sum, 32, bytes.data(), kChecksumOffset, nullptr, 0);
  if (sodium_memcmp(sum, bytes.data() + kChecksumOffset, 32) != 0) {
    return Status::corruption("disk header is damaged (checksum mismatch)");
  }
  util::Reader r(bytes, "disk header");
  r.view(8);
  const uint32_t version = r.u32();
  if (version != kFormatVersion) {
    return Status::unsupported("disk format version " + std::to_string(version) +
                               " is not supported by this build (it reads version " +
                               std::to_string(kFormatVersion) + ")");
  }
  if (r.u32() != kHeaderSize) return Status::corruption("disk header size field is wrong");
  DiskHeader h;
  r.bytes(h.uuid);
  const uint8_t cipher = r.u8();
  const uint8_t kind = r.u8();
  const uint16_t reserved_a = r.u16();
  h.segment_blocks = r.u32();
  h.logical_blocks = r.u64();
  h.kdf.ops_limit = r.u64();
  h.kdf.mem_limit = r.u64();
  r.bytes(h.salt);
  r.bytes(h.wrapped.nonce);
  r.bytes(h.wrapped.cipher_text);
  r.bytes(h.wrapped.tag);
  const std::span<const uint8_t> reserved_b = r.view(kChecksumOffset - 152);
  JD_TRY(r.status());
  // Reserved bytes are zero in this version; anything else is damage or a newer format.
  if (reserved_a != 0 || std::any_of(reserved_b.begin(), reserved_b.end(), [](uint8_t b) { return b; })) {
    return Status::corruption("disk header reserved bytes are not zero");
  }
  if (cipher != 1 && cipher != 2) return Status::corruption("disk header names an unknown cipher");
  h.cipher = static_cast<crypto::Cipher>(cipher);
  if (kind != 1 && kind != 2) return Status::corruption("disk header names an unknown key kind");
  h.key_kind = static_cast<KeyKind>(kind);
  if (!valid_segment_blocks(h.segment_blocks)) {
    return Status::corruption("disk header segment size is out of range");
  }
  if (h.logical_blocks == 0 || h.logical_blocks > (1ull << 40)) {
    return Status::corruption("disk header logical size is out of range");
  }
  if (h.key_kind == KeyKind::kPassphrase) {
    Status s = h.kdf.validate();
    if (!s.is_ok()) return Status::corruption("disk header KDF parameters: " + s.message());
  }
  return h;
}

Result<crypto::SecretKey> wrapping_key(const DiskHeader& header, const KeySource& key) {
  if (key.is_passphrase()) {
    if (header.key_kind != KeyKind::kPassphrase) {
      return Status::wrong_key("this disk is unlocked with a key file, not a passphrase");
    }
    const auto s = key.secret();
    return crypto::key_from_passphrase(
        std::string_view(reinterpret_cast<const char*>(s.data()), s.size()), header.salt,
        header.kdf);
  }
  if (header.key_kind != KeyKind::kKeyFile) {
    return Status::wrong_key("this disk is unlocked with a passphrase, not a key file");
  }
  const auto s = key.secret();
  if (s.size() != crypto::kKeySize) return Status::invalid_argument("a key file must hold 32 bytes");
  return crypto::key_from_key_file(std::span<const uint8_t, crypto::kKeySize>(s.data(), s.size()),
                                   header.salt);
}

Status seal_master_key(DiskHeader& header, const KeySource& key, KdfStrength strength,
                       const crypto::SecretKey& master) {
  header.salt = crypto::random_salt();
  if (key.is_passphrase()) {
    header.key_kind = KeyKind::kPassphrase;
    header.kdf = strength == KdfStrength::kModerate ? crypto::KdfParams::moderate()
                                                    : crypto::KdfParams::for_tests();
  } else {
    header.key_kind = KeyKind::kKeyFile;
    header.kdf = {};
  }
  JD_ASSIGN_OR_RETURN(crypto::SecretKey wrapping, wrapping_key(header, key));
  header.wrapped = crypto::wrap_key(wrapping, master, header.wrap_ad());
  return Status::ok();
}

Result<crypto::SecretKey> open_master_key(const DiskHeader& header, const KeySource& key) {
  JD_ASSIGN_OR_RETURN(crypto::SecretKey wrapping, wrapping_key(header, key));
  return crypto::unwrap_key(wrapping, header.wrapped, header.wrap_ad());
}

Result<DiskHeader> read_header(host::Store& store) {
  auto file = store.open(kHeaderName, host::OpenMode::kExisting);
  if (!file.is_ok()) return file.status();
  std::vector<uint8_t> bytes(kHeaderSize + 1);
  JD_ASSIGN_OR_RETURN(size_t n, (*file)->read_at(0, bytes));
  bytes.resize(n);
  return DiskHeader::decode(bytes);
}

Status write_header(host::Store& store, const DiskHeader& header) {
  constexpr char kTemp[] = "header.new";
  {
    JD_ASSIGN_OR_RETURN(auto file, store.open(kTemp, host::OpenMode::kCreateOrOpen));
    JD_TRY(file->truncate(0));
    const auto bytes = header.encode();
    JD_TRY(file->write_at(0, bytes));
    JD_TRY(file->sync());
  }
  JD_TRY(store.rename(kTemp, kHeaderName));
  return store.sync_dir();
}

std::string uuid_to_string(const log::Uuid& uuid) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[uuid[i] >> 4];
    s += kHex[uuid[i] & 15];
  }
  return s;
}

}  // namespace jindisk::disk
