#include "index/merge_iterator.hpp"

#include <algorithm>

namespace jindisk::index {

Status VectorSource::seek(uint64_t lba) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), lba,
                             [](const Entry& e, uint64_t v) { return e.lba < v; });
  pos_ = static_cast<size_t>(it - entries_.begin());
  return Status::ok();
}

Status LevelIterator::open_file(size_t i, uint64_t lba) {
  current_.reset();
  for (file_ = i; file_ < files_.size(); ++file_) {
    auto it = std::make_unique<SstIterator>(files_[file_], fill_cache_);
    JD_TRY(it->seek(lba));
    if (it->valid()) {
      current_ = std::move(it);
      return Status::ok();
    }
  }
  return Status::ok();
}

Status LevelIterator::seek(uint64_t lba) {
  // The first file whose range reaches lba; earlier ones end below it.
  auto it = std::lower_bound(
      files_.begin(), files_.end(), lba,
      [](const std::shared_ptr<const SstReader>& f, uint64_t v) { return f->meta().max_lba < v; });
  return open_file(static_cast<size_t>(it - files_.begin()), lba);
}

Status LevelIterator::next() {
  JD_TRY(current_->next());
  if (current_->valid()) return Status::ok();
  return open_file(file_ + 1, 0);
}

void MergeIterator::pick() {
  current_ = -1;
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (!sources_[i]->valid()) continue;
    // Strictly smaller only: on a tie the earlier (newer) source keeps the lead.
    if (current_ < 0 || sources_[i]->entry().lba < entry().lba) current_ = static_cast<int>(i);
  }
}

Status MergeIterator::seek(uint64_t lba) {
  for (auto& s : sources_) JD_TRY(s->seek(lba));
  pick();
  return Status::ok();
}

Status MergeIterator::next() {
  const uint64_t lba = entry().lba;
  for (auto& s : sources_) {
    if (s->valid() && s->entry().lba == lba) JD_TRY(s->next());
  }
  pick();
  return Status::ok();
}

}  // namespace jindisk::index
