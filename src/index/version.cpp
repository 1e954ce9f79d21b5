#include "index/version.hpp"

#include <algorithm>
#include <cassert>

#include "index/file_names.hpp"
#include "index/merge_iterator.hpp"

namespace jindisk::index {

Result<std::optional<BlockRef>> Version::find(uint64_t lba) const {
  for (const auto& f : levels[0]) {
    JD_ASSIGN_OR_RETURN(std::optional<BlockRef> hit, f->find(lba));
    if (hit) return hit;
  }
  for (size_t level = 1; level < kMaxLevels; ++level) {
    const SstList& files = levels[level];
    auto it = std::lower_bound(files.begin(), files.end(), lba,
                               [](const auto& f, uint64_t v) { return f->meta().max_lba < v; });
    if (it == files.end()) continue;
    JD_ASSIGN_OR_RETURN(std::optional<BlockRef> hit, (*it)->find(lba));
    if (hit) return hit;
  }
  return std::optional<BlockRef>{};
}

void Version::add_sources(std::vector<std::unique_ptr<EntrySource>>& out, bool fill_cache) const {
  for (const auto& f : levels[0]) out.push_back(std::make_unique<SstIterator>(f, fill_cache));
  for (size_t level = 1; level < kMaxLevels; ++level) {
    if (!levels[level].empty()) {
      out.push_back(std::make_unique<LevelIterator>(levels[level], fill_cache));
    }
  }
}

uint64_t Version::level_entries(size_t level) const {
  uint64_t n = 0;
  for (const auto& f : levels[level]) n += f->meta().entries;
  return n;
}

size_t Version::file_count() const {
  size_t n = 0;
  for (const SstList& files : levels) n += files.size();
  return n;
}

uint64_t Version::entries() const {
  uint64_t n = 0;
  for (size_t level = 0; level < kMaxLevels; ++level) n += level_entries(level);
  return n;
}

uint64_t Version::host_bytes() const {
  uint64_t n = 0;
  for (const SstList& files : levels) {
    for (const auto& f : files) n += f->host_bytes();
  }
  return n;
}

size_t Version::depth() const {
  for (size_t level = kMaxLevels; level > 0; --level) {
    if (!levels[level - 1].empty()) return level;
  }
  return 0;
}

std::set<uint64_t> Version::file_ids() const {
  std::set<uint64_t> ids;
  for (const SstList& files : levels) {
    for (const auto& f : files) ids.insert(f->file_id());
  }
  return ids;
}

std::vector<ManifestEntry> Version::manifest_entries() const {
  std::vector<ManifestEntry> out;
  for (size_t level = 0; level < kMaxLevels; ++level) {
    for (const auto& f : levels[level]) {
      out.push_back(ManifestEntry{static_cast<uint8_t>(level), f->meta()});
    }
  }
  return out;
}

Result<std::shared_ptr<const Version>> load_version(host::Store& store,
                                                    const std::vector<ManifestEntry>& entries,
                                                    BlockCache* cache, uint64_t next_file_id,
                                                    uint64_t seq) {
  auto v = std::make_shared<Version>();
  v->seq = seq;
  std::set<uint64_t> ids;
  size_t prev_level = 0;
  for (const ManifestEntry& e : entries) {
    const std::string what = "manifest entry for " + file_name(FileKind::kSst, e.meta.ref.file_id);
    if (e.level >= kMaxLevels || e.level < prev_level) {
      return Status::corruption(what + ": level out of range or out of order");
    }
    prev_level = e.level;
    if (e.meta.ref.file_id == 0 || e.meta.ref.file_id >= next_file_id ||
        !ids.insert(e.meta.ref.file_id).second) {
      return Status::corruption(what + ": file id out of range or repeated");
    }
    SstList& level = v->levels[e.level];
    if (e.level > 0 && !level.empty() && level.back()->meta().max_lba >= e.meta.min_lba) {
      return Status::corruption(what + ": overlaps its neighbour in level " +
                                std::to_string(e.level));
    }
    JD_ASSIGN_OR_RETURN(std::shared_ptr<const SstReader> reader,
                        SstReader::open(store, e.meta, cache));
    level.push_back(std::move(reader));
  }
  return std::shared_ptr<const Version>(std::move(v));
}

std::shared_ptr<const Version> apply_edit(const Version& base, const std::set<uint64_t>& removed,
                                          size_t level, const SstList& added, uint64_t seq) {
  auto v = std::make_shared<Version>();
  v->seq = seq;
  for (size_t l = 0; l < kMaxLevels; ++l) {
    if (l == 0 && level == 0) v->levels[0] = added;
    for (const auto& f : base.levels[l]) {
      if (!removed.contains(f->file_id())) v->levels[l].push_back(f);
    }
  }
  if (level > 0) {
    SstList& files = v->levels[level];
    files.insert(files.end(), added.begin(), added.end());
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a->meta().min_lba < b->meta().min_lba; });
    for (size_t i = 1; i < files.size(); ++i) {
      assert(files[i - 1]->meta().max_lba < files[i]->meta().min_lba &&
             "a compaction output overlaps a file it did not replace");
    }
  }
  return v;
}

}  // namespace jindisk::index
