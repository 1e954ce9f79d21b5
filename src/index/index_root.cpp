// IndexRoot: the index's part of the root record (docs/format-index.md, "index root").
#include <algorithm>

#include "index/lsm_index.hpp"
#include "util/le.hpp"

namespace jindisk::index {
namespace {

template <size_t N>
bool all_zero(const std::array<uint8_t, N>& a) {
  return std::all_of(a.begin(), a.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

void IndexRoot::encode(std::vector<uint8_t>& out) const {
  util::Writer w(out);
  w.u64(manifest.file_id);
  w.bytes(manifest.key);
  w.u64(manifest.blocks);
  w.bytes(manifest.file_tag);
  w.u64(wal_file_id);
  w.bytes(wal_key);
  w.u64(wal_position.blocks);
  w.bytes(wal_position.last_tag);
  w.u64(next_file_id);
}

Result<IndexRoot> IndexRoot::decode(std::span<const uint8_t> bytes) {
  if (bytes.size() != kEncodedSize) {
    return Status::corruption("index root: " + std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(kEncodedSize));
  }
  util::Reader r(bytes, "index root");
  IndexRoot root;
  root.manifest.file_id = r.u64();
  r.bytes(root.manifest.key);
  root.manifest.blocks = r.u64();
  r.bytes(root.manifest.file_tag);
  root.wal_file_id = r.u64();
  r.bytes(root.wal_key);
  root.wal_position.blocks = r.u64();
  r.bytes(root.wal_position.last_tag);
  root.next_file_id = r.u64();
  JD_TRY(r.status());

  // The root authenticated, so these fail only on a writer bug; they keep a bad root from
  // steering the loader (e.g. to a file id the counter would hand out again).
  if (root.next_file_id == 0) return Status::corruption("index root: next_file_id is 0");
  if (root.manifest.file_id == 0) {
    if (root.manifest.blocks != 0 || !all_zero(root.manifest.key) ||
        !all_zero(root.manifest.file_tag)) {
      return Status::corruption("index root: empty manifest with nonzero fields");
    }
  } else if (root.manifest.file_id >= root.next_file_id || root.manifest.blocks == 0) {
    return Status::corruption("index root: manifest id or size out of range");
  }
  if (root.wal_file_id == 0) {
    if (root.wal_position != log::ChainPosition{} || !all_zero(root.wal_key)) {
      return Status::corruption("index root: no WAL but a WAL position or key");
    }
  } else if (root.wal_file_id >= root.next_file_id) {
    return Status::corruption("index root: WAL id out of range");
  }
  if (root.wal_file_id != 0 && root.wal_file_id == root.manifest.file_id) {
    return Status::corruption("index root: WAL and manifest share a file id");
  }
  return root;
}

}  // namespace jindisk::index
