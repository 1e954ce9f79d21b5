// LRU cache of decoded, validated SST data blocks, shared by all SSTs of one index and bounded
// by bytes (IndexOptions::block_cache_bytes). Thread-safe: one mutex, held only for map and
// list updates, never during I/O. File ids never repeat within a process, so a (file, block)
// key can never name stale content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "index/entry.hpp"

namespace jindisk::index {

using DataBlock = std::vector<Entry>;

class BlockCache {
 public:
  explicit BlockCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  std::shared_ptr<const DataBlock> lookup(uint64_t file_id, uint64_t block);
  void insert(uint64_t file_id, uint64_t block, std::shared_ptr<const DataBlock> data);

  size_t bytes() const;
  static size_t charge(const DataBlock& data);

 private:
  struct Key {
    uint64_t file_id;
    uint64_t block;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>{}(k.file_id * 0x9e3779b97f4a7c15ULL ^ k.block);
    }
  };
  struct Item {
    Key key;
    std::shared_ptr<const DataBlock> data;
    size_t charge;
  };

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Item> lru_;  // most recently used first
  std::unordered_map<Key, std::list<Item>::iterator, KeyHash> map_;
  size_t used_ = 0;
};

}  // namespace jindisk::index
