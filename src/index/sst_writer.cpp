#include "index/sst_writer.hpp"

#include <algorithm>

namespace jindisk::index {

Status SstWriter::add(const Entry& e) {
  if (entries_ > 0 && e.lba <= max_lba_) {
    return Status::invalid_argument("SST entries out of order");
  }
  if (pending_.size() == kEntriesPerBlock) JD_TRY(flush_data_block());
  if (pending_.empty()) fences_.push_back(e.lba);
  pending_.push_back(e);
  if (entries_ == 0) min_lba_ = e.lba;
  max_lba_ = e.lba;
  ++entries_;
  return Status::ok();
}

Status SstWriter::flush_data_block() {
  Block block;
  encode_data_block(pending_, block);
  JD_TRY(writer_.append(block));
  pending_.clear();
  return Status::ok();
}

Result<SstMeta> SstWriter::finish() {
  if (entries_ == 0) return Status::invalid_argument("empty SST");
  if (!pending_.empty()) JD_TRY(flush_data_block());
  Block block;
  for (size_t first = 0; first < fences_.size(); first += kFencesPerBlock) {
    const size_t n = std::min(kFencesPerBlock, fences_.size() - first);
    encode_fence_block(std::span<const uint64_t>(fences_).subspan(first, n), block);
    JD_TRY(writer_.append(block));
  }
  SstFooter footer;
  footer.file_id = file_id_;
  footer.entries = entries_;
  footer.min_lba = min_lba_;
  footer.max_lba = max_lba_;
  footer.data_blocks = fences_.size();
  footer.fence_blocks = fence_blocks_for(fences_.size());
  encode_footer(footer, block);
  JD_TRY(writer_.append(block));
  SstMeta meta;
  JD_ASSIGN_OR_RETURN(meta.ref, writer_.finish());
  meta.entries = entries_;
  meta.min_lba = min_lba_;
  meta.max_lba = max_lba_;
  return meta;
}

}  // namespace jindisk::index
