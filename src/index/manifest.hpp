// The manifest: a sealed file listing every SST of one committed state with its level and the
// SealedFileRef that authenticates it (docs/format-index.md, "manifest"). Written only when
// the SST set changed; the IndexRoot holds its SealedFileRef.
#pragma once

#include <cstdint>
#include <vector>

#include "host/store.hpp"
#include "index/sst_format.hpp"
#include "log/sealed_file.hpp"

namespace jindisk::index {

struct ManifestEntry {
  uint8_t level = 0;
  SstMeta meta;
  bool operator==(const ManifestEntry&) const = default;
};

constexpr size_t kManifestEntrySize = 1 + 8 + 32 + 8 + 16 + 8 + 8 + 8;  // 89
constexpr size_t kManifestEntriesPerBlock =
    (crypto::kBlockSize - kHeaderSize) / kManifestEntrySize;  // 45

// Writes a manifest with id `file_id` into `file` (new and empty) listing `entries` in order
// (level 0 newest first, then each level by lba), fdatasync'd. At least one entry.
Result<log::SealedFileRef> write_manifest(std::unique_ptr<host::File> file, uint64_t file_id,
                                          const std::vector<ManifestEntry>& entries);

// Reads and verifies a manifest; checks the block framing only (the version loader checks
// what the entries mean). A missing file is kCorruption.
Result<std::vector<ManifestEntry>> read_manifest(host::Store& store, const log::SealedFileRef& ref);

}  // namespace jindisk::index
