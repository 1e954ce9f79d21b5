#include "index/sst_reader.hpp"

#include <algorithm>

#include "index/file_names.hpp"

namespace jindisk::index {
namespace {

Status missing_is_corruption(const Status& st, const std::string& name) {
  // The manifest says the file exists: its absence is damage to the host directory.
  if (st.code() == Code::kNotFound) return Status::corruption(name + ": missing");
  return st.with_context(name);
}

}  // namespace

Result<std::shared_ptr<const SstReader>> SstReader::open(host::Store& store, const SstMeta& meta,
                                                         BlockCache* cache) {
  const std::string name = file_name(FileKind::kSst, meta.ref.file_id);
  if (meta.entries == 0 || meta.min_lba > meta.max_lba ||
      meta.max_lba - meta.min_lba < meta.entries - 1 ||
      meta.ref.blocks != sst_blocks_for(meta.entries)) {
    return Status::corruption(name + ": manifest entry is inconsistent");
  }
  auto file = store.open(name, host::OpenMode::kExisting);
  if (!file.is_ok()) return missing_is_corruption(file.status(), name);
  JD_ASSIGN_OR_RETURN(log::SealedFileReader sealed,
                      log::SealedFileReader::open(std::move(file).value(), meta.ref));

  Block block;
  const uint64_t data_blocks = data_blocks_for(meta.entries);
  const uint64_t fence_blocks = fence_blocks_for(data_blocks);
  JD_TRY(sealed.read(meta.ref.blocks - 1, block));
  JD_ASSIGN_OR_RETURN(SstFooter footer, decode_footer(block, name + " footer"));
  if (footer.file_id != meta.ref.file_id || footer.entries != meta.entries ||
      footer.min_lba != meta.min_lba || footer.max_lba != meta.max_lba ||
      footer.data_blocks != data_blocks || footer.fence_blocks != fence_blocks) {
    return Status::corruption(name + ": footer disagrees with the manifest");
  }

  std::vector<uint64_t> fences;
  fences.reserve(data_blocks);
  for (uint64_t i = 0; i < fence_blocks; ++i) {
    const std::string what = name + " fence block " + std::to_string(i);
    JD_TRY(sealed.read(data_blocks + i, block));
    const size_t before = fences.size();
    JD_TRY(decode_fence_block(block, fences, what));
    const size_t want = std::min<uint64_t>(kFencesPerBlock, data_blocks - before);
    if (fences.size() - before != want) return Status::corruption(what + ": wrong fence count");
  }
  for (size_t i = 1; i < fences.size(); ++i) {
    if (fences[i] <= fences[i - 1]) return Status::corruption(name + ": fences out of order");
  }
  if (fences.front() != meta.min_lba || fences.back() > meta.max_lba) {
    return Status::corruption(name + ": fences outside the file's lba range");
  }
  return std::shared_ptr<const SstReader>(
      new SstReader(std::move(sealed), meta, std::move(fences), cache));
}

uint64_t SstReader::host_bytes() const {
  return meta_.ref.blocks * (crypto::kBlockSize + crypto::kTagSize);
}

size_t SstReader::block_for(uint64_t lba) const {
  auto it = std::upper_bound(fences_.begin(), fences_.end(), lba);
  return it == fences_.begin() ? 0 : static_cast<size_t>(it - fences_.begin()) - 1;
}

Result<std::shared_ptr<const DataBlock>> SstReader::block(size_t i, bool fill_cache) const {
  if (cache_ != nullptr) {
    if (auto hit = cache_->lookup(file_id(), i)) return hit;
  }
  const std::string what =
      file_name(FileKind::kSst, file_id()) + " data block " + std::to_string(i);
  Block plain;
  JD_TRY(file_.read(i, plain));
  auto data = std::make_shared<DataBlock>();
  data->reserve(kEntriesPerBlock);
  JD_TRY(decode_data_block(plain, *data, what));
  // The writer fills every block but the last; with the fences this pins down exactly which
  // lbas a block may hold, so a block can't stand in for another one of the same file.
  const bool last = i + 1 == fences_.size();
  const uint64_t want = last ? meta_.entries - kEntriesPerBlock * i : kEntriesPerBlock;
  if (data->size() != want || data->front().lba != fences_[i] ||
      (last ? data->back().lba != meta_.max_lba : data->back().lba >= fences_[i + 1])) {
    return Status::corruption(what + ": does not match its fences");
  }
  std::shared_ptr<const DataBlock> result = std::move(data);
  if (cache_ != nullptr && fill_cache) cache_->insert(file_id(), i, result);
  return result;
}

Result<std::optional<BlockRef>> SstReader::find(uint64_t lba) const {
  if (lba < meta_.min_lba || lba > meta_.max_lba) return std::optional<BlockRef>{};
  JD_ASSIGN_OR_RETURN(std::shared_ptr<const DataBlock> data, block(block_for(lba), true));
  auto it = std::lower_bound(data->begin(), data->end(), lba,
                             [](const Entry& e, uint64_t v) { return e.lba < v; });
  if (it == data->end() || it->lba != lba) return std::optional<BlockRef>{};
  return std::optional<BlockRef>(it->ref);
}

Status SstIterator::load(size_t block) {
  data_.reset();
  if (block >= reader_->data_blocks()) return Status::ok();
  JD_ASSIGN_OR_RETURN(std::shared_ptr<const DataBlock> data, reader_->block(block, fill_cache_));
  data_ = std::move(data);
  block_ = block;
  pos_ = 0;
  return Status::ok();
}

Status SstIterator::seek(uint64_t lba) {
  data_.reset();
  if (lba > reader_->meta().max_lba) return Status::ok();
  JD_TRY(load(reader_->block_for(lba)));
  auto it = std::lower_bound(data_->begin(), data_->end(), lba,
                             [](const Entry& e, uint64_t v) { return e.lba < v; });
  pos_ = static_cast<size_t>(it - data_->begin());
  // lba > every entry of this block: the next block starts above it (fences).
  if (pos_ == data_->size()) return load(block_ + 1);
  return Status::ok();
}

Status SstIterator::next() {
  if (++pos_ < data_->size()) return Status::ok();
  return load(block_ + 1);
}

}  // namespace jindisk::index
