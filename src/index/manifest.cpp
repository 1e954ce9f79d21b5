#include "index/manifest.hpp"

#include <algorithm>

#include "index/file_names.hpp"
#include "util/le.hpp"

namespace jindisk::index {
namespace {

void encode_block(std::span<const ManifestEntry> entries, Block& out) {
  out.fill(0);
  out[0] = kKindManifest;
  out[1] = kFormatVersion;
  util::put_u16(out.data() + 2, static_cast<uint16_t>(entries.size()));
  std::vector<uint8_t> bytes;
  util::Writer w(bytes);
  for (const ManifestEntry& e : entries) {
    w.u8(e.level);
    w.u64(e.meta.ref.file_id);
    w.bytes(e.meta.ref.key);
    w.u64(e.meta.ref.blocks);
    w.bytes(e.meta.ref.file_tag);
    w.u64(e.meta.entries);
    w.u64(e.meta.min_lba);
    w.u64(e.meta.max_lba);
  }
  std::copy(bytes.begin(), bytes.end(), out.begin() + kHeaderSize);
}

Status decode_block(const Block& in, size_t want, std::vector<ManifestEntry>& out,
                    const std::string& what) {
  util::Reader r(in, what);
  const uint8_t kind = r.u8();
  const uint8_t version = r.u8();
  const uint16_t count = r.u16();
  const uint32_t reserved = r.u32();
  if (kind != kKindManifest || reserved != 0) {
    return Status::corruption(what + ": not a manifest block");
  }
  if (version != kFormatVersion) {
    return Status::unsupported(what + ": unknown manifest version " + std::to_string(version));
  }
  if (count != want) return Status::corruption(what + ": wrong entry count");
  for (size_t i = 0; i < count; ++i) {
    ManifestEntry e;
    e.level = r.u8();
    e.meta.ref.file_id = r.u64();
    r.bytes(e.meta.ref.key);
    e.meta.ref.blocks = r.u64();
    r.bytes(e.meta.ref.file_tag);
    e.meta.entries = r.u64();
    e.meta.min_lba = r.u64();
    e.meta.max_lba = r.u64();
    out.push_back(e);
  }
  JD_TRY(r.status());
  std::span<const uint8_t> rest = r.view(r.remaining());
  if (std::any_of(rest.begin(), rest.end(), [](uint8_t b) { return b != 0; })) {
    return Status::corruption(what + ": nonzero padding");
  }
  return r.status();
}

}  // namespace

Result<log::SealedFileRef> write_manifest(std::unique_ptr<host::File> file, uint64_t file_id,
                                          const std::vector<ManifestEntry>& entries) {
  if (entries.empty()) return Status::invalid_argument("empty manifest");
  log::SealedFileWriter writer(std::move(file), file_id);
  Block block;
  for (size_t first = 0; first < entries.size(); first += kManifestEntriesPerBlock) {
    const size_t n = std::min(kManifestEntriesPerBlock, entries.size() - first);
    encode_block(std::span<const ManifestEntry>(entries).subspan(first, n), block);
    JD_TRY(writer.append(block));
  }
  return writer.finish();
}

Result<std::vector<ManifestEntry>> read_manifest(host::Store& store,
                                                 const log::SealedFileRef& ref) {
  const std::string name = file_name(FileKind::kManifest, ref.file_id);
  auto file = store.open(name, host::OpenMode::kExisting);
  if (!file.is_ok()) {
    if (file.status().code() == Code::kNotFound) return Status::corruption(name + ": missing");
    return file.status().with_context(name);
  }
  JD_ASSIGN_OR_RETURN(log::SealedFileReader reader,
                      log::SealedFileReader::open(std::move(file).value(), ref));
  std::vector<ManifestEntry> out;
  Block block;
  for (uint64_t i = 0; i < ref.blocks; ++i) {
    JD_TRY(reader.read(i, block));
    // Every block is full but the last, which holds 1..45 entries: the writer's layout, so
    // any other framing is damage.
    const std::string what = name + " block " + std::to_string(i);
    if (i + 1 == ref.blocks) {
      const uint16_t count = util::get_u16(block.data() + 2);
      if (count == 0 || count > kManifestEntriesPerBlock) {
        return Status::corruption(what + ": wrong entry count");
      }
      JD_TRY(decode_block(block, count, out, what));
    } else {
      JD_TRY(decode_block(block, kManifestEntriesPerBlock, out, what));
    }
  }
  return out;
}

}  // namespace jindisk::index
