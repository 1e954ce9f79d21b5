#include "disk/root_record.hpp"

#include "util/le.hpp"

namespace jindisk::disk {
namespace {
constexpr uint32_t kRootVersion = 1;
}

std::vector<uint8_t> RootPayload::encode() const {
  std::vector<uint8_t> out;
  util::Writer w(out);
  w.u32(kRootVersion);
  w.bytes(uuid);
  w.u64(logical_blocks);
  w.u32(segment_blocks);
  w.u64(user_bytes_written);
  w.u64(host_bytes_written);
  index.encode(out);
  return out;
}

Result<RootPayload> RootPayload::decode(std::span<const uint8_t> bytes) {
  util::Reader r(bytes, "root record");
  RootPayload p;
  const uint32_t version = r.u32();
  r.bytes(p.uuid);
  p.logical_blocks = r.u64();
  p.segment_blocks = r.u32();
  p.user_bytes_written = r.u64();
  p.host_bytes_written = r.u64();
  JD_TRY(r.status());
  if (version != kRootVersion) {
    return Status::unsupported("root record version " + std::to_string(version));
  }
  JD_ASSIGN_OR_RETURN(p.index, index::IndexRoot::decode(r.view(r.remaining())));
  return p;
}

}  // namespace jindisk::disk
