#include "index/sst_format.hpp"

#include <algorithm>
#include <cstring>

#include "util/le.hpp"

namespace jindisk::index {
namespace {

constexpr uint8_t kFooterMagic[8] = {'J', 'D', 'I', 'X', 'S', 'S', 'T', '1'};

void put_header(Block& out, uint8_t kind, size_t count) {
  out.fill(0);
  out[0] = kind;
  out[1] = kFormatVersion;
  util::put_u16(out.data() + 2, static_cast<uint16_t>(count));
}

// Checks the header and returns the count (or kCorruption).
Result<size_t> check_header(util::Reader& r, uint8_t kind, size_t max_count,
                            const std::string& what) {
  const uint8_t got_kind = r.u8();
  const uint8_t version = r.u8();
  const uint16_t count = r.u16();
  const uint32_t reserved = r.u32();
  JD_TRY(r.status());
  if (got_kind != kind) {
    return Status::corruption(what + ": block kind " + std::to_string(got_kind) + ", expected " +
                              std::to_string(kind));
  }
  if (version != kFormatVersion) {
    return Status::unsupported(what + ": unknown format version " + std::to_string(version));
  }
  if (reserved != 0) return Status::corruption(what + ": reserved header bytes set");
  if (count == 0 || count > max_count) {
    return Status::corruption(what + ": count " + std::to_string(count) + " out of range");
  }
  return size_t{count};
}

Status check_padding(util::Reader& r, const std::string& what) {
  std::span<const uint8_t> rest = r.view(r.remaining());
  if (std::any_of(rest.begin(), rest.end(), [](uint8_t b) { return b != 0; })) {
    return Status::corruption(what + ": nonzero padding");
  }
  return r.status();
}

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

void encode_data_block(std::span<const Entry> entries, Block& out) {
  put_header(out, kKindData, entries.size());
  uint8_t* p = out.data() + kHeaderSize;
  for (const Entry& e : entries) {
    util::put_u64(p, e.lba);
    util::put_u64(p + 8, e.ref.hba);
    std::memcpy(p + 16, e.ref.key.data(), 32);
    std::memcpy(p + 48, e.ref.tag.data(), 16);
    p += kEntrySize;
  }
}

Status decode_data_block(const Block& in, std::vector<Entry>& out, const std::string& what) {
  util::Reader r(in, what);
  JD_ASSIGN_OR_RETURN(size_t count, check_header(r, kKindData, kEntriesPerBlock, what));
  out.resize(count);
  for (size_t i = 0; i < count; ++i) {
    Entry& e = out[i];
    e.lba = r.u64();
    e.ref.hba = r.u64();
    r.bytes(e.ref.key);
    r.bytes(e.ref.tag);
    if (i > 0 && e.lba <= out[i - 1].lba) {
      return Status::corruption(what + ": entries not strictly increasing");
    }
    if (is_tombstone(e.ref) && (!all_zero(e.ref.key) || !all_zero(e.ref.tag))) {
      return Status::corruption(what + ": tombstone with a key or tag");
    }
  }
  return check_padding(r, what);
}

void encode_fence_block(std::span<const uint64_t> fences, Block& out) {
  put_header(out, kKindFence, fences.size());
  for (size_t i = 0; i < fences.size(); ++i) {
    util::put_u64(out.data() + kHeaderSize + 8 * i, fences[i]);
  }
}

Status decode_fence_block(const Block& in, std::vector<uint64_t>& out, const std::string& what) {
  util::Reader r(in, what);
  JD_ASSIGN_OR_RETURN(size_t count, check_header(r, kKindFence, kFencesPerBlock, what));
  for (size_t i = 0; i < count; ++i) out.push_back(r.u64());
  return check_padding(r, what);
}

void encode_footer(const SstFooter& f, Block& out) {
  out.fill(0);
  out[0] = kKindFooter;
  out[1] = kFormatVersion;
  uint8_t* p = out.data() + kHeaderSize;
  std::memcpy(p, kFooterMagic, 8);
  util::put_u64(p + 8, f.file_id);
  util::put_u64(p + 16, f.entries);
  util::put_u64(p + 24, f.min_lba);
  util::put_u64(p + 32, f.max_lba);
  util::put_u64(p + 40, f.data_blocks);
  util::put_u64(p + 48, f.fence_blocks);
}

Result<SstFooter> decode_footer(const Block& in, const std::string& what) {
  util::Reader r(in, what);
  const uint8_t kind = r.u8();
  const uint8_t version = r.u8();
  const uint16_t count = r.u16();
  const uint32_t reserved = r.u32();
  uint8_t magic[8];
  r.bytes(magic);
  SstFooter f;
  f.file_id = r.u64();
  f.entries = r.u64();
  f.min_lba = r.u64();
  f.max_lba = r.u64();
  f.data_blocks = r.u64();
  f.fence_blocks = r.u64();
  JD_TRY(r.status());
  if (kind != kKindFooter || count != 0 || reserved != 0 ||
      std::memcmp(magic, kFooterMagic, 8) != 0) {
    return Status::corruption(what + ": not an SST footer");
  }
  if (version != kFormatVersion) {
    return Status::unsupported(what + ": unknown SST format version " + std::to_string(version));
  }
  JD_TRY(check_padding(r, what));
  return f;
}

uint64_t data_blocks_for(uint64_t entries) {
  return entries / kEntriesPerBlock + (entries % kEntriesPerBlock != 0 ? 1 : 0);
}
uint64_t fence_blocks_for(uint64_t data_blocks) {
  return data_blocks / kFencesPerBlock + (data_blocks % kFencesPerBlock != 0 ? 1 : 0);
}
uint64_t sst_blocks_for(uint64_t entries) {
  const uint64_t d = data_blocks_for(entries);
  return d + fence_blocks_for(d) + 1;
}

}  // namespace jindisk::index
