#include "index/memtable.hpp"

namespace jindisk::index {

void Memtable::put(uint64_t lba, const BlockRef& ref) {
  (void)exchange(lba, ref);
}

std::pair<Memtable::Slot&, bool> Memtable::slot(uint64_t lba) {
  auto [it, fresh] = map_.try_emplace(lba);
  // The hint makes ascending LBAs (sequential writes) a constant-time insert.
  if (fresh) order_.emplace_hint(order_.end(), lba);
  return {it->second, fresh};
}

std::optional<BlockRef> Memtable::exchange(uint64_t lba, const BlockRef& ref) {
  auto [s, fresh] = slot(lba);
  std::optional<BlockRef> old;
  if (!fresh) old = s.ref;
  s.ref = ref;
  if (!s.dirty) {
    s.dirty = true;
    dirty_.push_back(lba);
  }
  return old;
}

void Memtable::put_clean(uint64_t lba, const BlockRef& ref) {
  slot(lba).first.ref = ref;
}

const BlockRef* Memtable::find(uint64_t lba) const {
  auto it = map_.find(lba);
  return it == map_.end() ? nullptr : &it->second.ref;
}

std::vector<Entry> Memtable::range(uint64_t first, uint64_t last) const {
  std::vector<Entry> out;
  if (first > last) return out;
  for (auto it = order_.lower_bound(first); it != order_.end() && *it <= last; ++it) {
    out.push_back(Entry{*it, map_.at(*it).ref});
  }
  return out;
}

Status Memtable::visit_in_order(const std::function<Status(const Entry&)>& visit) const {
  for (uint64_t lba : order_) JD_TRY(visit(Entry{lba, map_.at(lba).ref}));
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
  order_.clear();
  dirty_.clear();
}

}  // namespace jindisk::index
