#include "index/wal_format.hpp"

#include "util/le.hpp"

namespace jindisk::index {

void encode_wal_record(const Entry& e, std::vector<uint8_t>& out) {
  out.clear();
  util::Writer w(out);
  if (is_tombstone(e.ref)) {
    w.u8(kWalTombstone);
    w.u64(e.lba);
    return;
  }
  w.u8(kWalPut);
  w.u64(e.lba);
  w.u64(e.ref.hba);
  w.bytes(e.ref.key);
  w.bytes(e.ref.tag);
}

Result<Entry> decode_wal_record(std::span<const uint8_t> record) {
  util::Reader r(record, "WAL record");
  Entry e;
  const uint8_t type = r.u8();
  e.lba = r.u64();
  if (type == kWalTombstone) {
    e.ref = tombstone_ref();
  } else if (type == kWalPut) {
    e.ref.hba = r.u64();
    r.bytes(e.ref.key);
    r.bytes(e.ref.tag);
    if (is_tombstone(e.ref)) return Status::corruption("WAL record: put with tombstone address");
  } else {
    return Status::corruption("WAL record: unknown type " + std::to_string(type));
  }
  JD_TRY(r.status());
  if (r.remaining() != 0) return Status::corruption("WAL record: trailing bytes");
  return e;
}

}  // namespace jindisk::index
