#include "index/memtable.hpp"

#include <algorithm>

namespace jindisk::index {

void Memtable::put(uint64_t lba, const BlockRef& ref) {
  (void)exchange(lba, ref);
}

std::optional<BlockRef> Memtable::exchange(uint64_t lba, const BlockRef& ref) {
  auto [it, fresh] = map_.try_emplace(lba);
  std::optional<BlockRef> old;
  if (!fresh) old = it->second.ref;
  it->second.ref = ref;
  if (!it->second.dirty) {
    it->second.dirty = true;
    dirty_.push_back(lba);
  }
  return old;
}

void Memtable::put_clean(uint64_t lba, const BlockRef& ref) {
  map_[lba].ref = ref;
}

const BlockRef* Memtable::find(uint64_t lba) const {
  auto it = map_.find(lba);
  return it == map_.end() ? nullptr : &it->second.ref;
}

std::vector<Entry> Memtable::range(uint64_t first, uint64_t last) const {
  std::vector<Entry> out;
  if (first > last) return out;
  if (last - first < map_.size() / 8) {
    // A short range (a small trim): one lookup per LBA beats a pass over the whole map.
    for (uint64_t lba = first;; ++lba) {
      if (auto it = map_.find(lba); it != map_.end()) out.push_back(Entry{lba, it->second.ref});
      if (lba == last) break;
    }
    return out;
  }
  for (const auto& [lba, slot] : map_) {
    if (lba >= first && lba <= last) out.push_back(Entry{lba, slot.ref});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.lba < b.lba; });
  return out;
}

Status Memtable::visit_in_order(const std::function<Status(const Entry&)>& visit) const {
  std::vector<const std::pair<const uint64_t, Slot>*> order;
  order.reserve(map_.size());
  for (const auto& item : map_) order.push_back(&item);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* item : order) JD_TRY(visit(Entry{item->first, item->second.ref}));
  return Status::ok();
}

std::vector<Entry> Memtable::dirty_entries() const {
  std::vector<Entry> out;
  out.reserve(dirty_.size());
  for (uint64_t lba : dirty_) out.push_back(Entry{lba, map_.at(lba).ref});
  return out;
}

void Memtable::clear_dirty() {
  for (uint64_t lba : dirty_) map_.at(lba).dirty = false;
  dirty_.clear();
}

void Memtable::clear() {
  map_.clear();
  dirty_.clear();
}

}  // namespace jindisk::index
