// Writes one SST: data blocks of sorted entries, then fence blocks, then the footer, sealed as
// a log::SealedFile (fdatasync'd by finish()). Layout in docs/format-index.md, "SST".
#pragma once

#include <cstdint>
#include <vector>

#include "host/store.hpp"
#include "index/sst_format.hpp"
#include "log/sealed_file.hpp"

namespace jindisk::index {

class SstWriter {
 public:
  // Writes into `file` (new and empty), an SST with id `file_id`.
  SstWriter(std::unique_ptr<host::File> file, uint64_t file_id)
      : writer_(std::move(file), file_id), file_id_(file_id) {}

  // Adds the next entry; lbas must strictly increase (a caller bug otherwise:
  // kInvalidArgument).
  Status add(const Entry& e);
  uint64_t entries() const { return entries_; }
  uint64_t data_blocks() const { return fences_.size(); }  // including the one being filled

  // Writes the pending data block, fences and footer, then seals. Needs at least one entry.
  Result<SstMeta> finish();

 private:
  Status flush_data_block();

  log::SealedFileWriter writer_;
  uint64_t file_id_;
  std::vector<Entry> pending_;    // the data block being filled
  std::vector<uint64_t> fences_;  // first lba of every data block, written or pending
  uint64_t entries_ = 0;
  uint64_t min_lba_ = 0;
  uint64_t max_lba_ = 0;
};

}  // namespace jindisk::index
