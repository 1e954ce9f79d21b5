#include "index/block_cache.hpp"

namespace jindisk::index {

size_t BlockCache::charge(const DataBlock& data) {
  // The entries plus a rough per-item overhead (list node, map node, control block).
  return data.capacity() * sizeof(Entry) + 128;
}

std::shared_ptr<const DataBlock> BlockCache::lookup(uint64_t file_id, uint64_t block) {
  std::lock_guard lock(mu_);
  auto it = map_.find(Key{file_id, block});
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->data;
}

void BlockCache::insert(uint64_t file_id, uint64_t block, std::shared_ptr<const DataBlock> data) {
  const size_t c = charge(*data);
  if (c > capacity_) return;
  std::lock_guard lock(mu_);
  const Key key{file_id, block};
  if (map_.contains(key)) return;  // another reader filled it meanwhile
  lru_.push_front(Item{key, std::move(data), c});
  map_.emplace(key, lru_.begin());
  used_ += c;
  while (used_ > capacity_) {
    Item& victim = lru_.back();
    used_ -= victim.charge;
    map_.erase(victim.key);
    lru_.pop_back();
  }
}

size_t BlockCache::bytes() const {
  std::lock_guard lock(mu_);
  return used_;
}

}  // namespace jindisk::index
