// Helpers shared by the index-layer suites: deterministic BlockRefs, a reference model
// (std::map), whole-index comparison, and raw access to host files the way an attacker with
// the host directory has it.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "host/memory_store.hpp"
#include "host/store.hpp"
#include "index/file_names.hpp"
#include "index/lsm_index.hpp"

namespace jindisk::index::testing {

using Model = std::map<uint64_t, BlockRef>;
using Bytes = std::vector<uint8_t>;

#define JD_REQUIRE_OK(expr)                            \
  do {                                                 \
    ::jindisk::Status jd_s_ = (expr);                  \
    REQUIRE_MESSAGE(jd_s_.is_ok(), jd_s_.to_string()); \
  } while (0)

// A BlockRef unique to (lba, version): every field depends on both, so a stale or misplaced
// value never compares equal to the expected one.
inline BlockRef make_ref(uint64_t lba, uint64_t version) {
  BlockRef r;
  r.hba = (version << 24) ^ (lba * 2654435761u);
  if (r.hba == UINT64_MAX) r.hba = 1;
  std::mt19937_64 rng(lba * 1000003 + version);
  for (auto& b : r.key) b = static_cast<uint8_t>(rng());
  for (auto& b : r.tag) b = static_cast<uint8_t>(rng());
  return r;
}

// Small structures so that dumps, WAL rotations and multi-level compactions happen often.
inline IndexOptions small_options(size_t memtable_entries = 64) {
  IndexOptions o;
  o.memtable_entries = memtable_entries;
  o.block_cache_bytes = 64 * 1024;
  o.level0_files = 3;
  o.level_ratio = 3;
  o.background_compaction = false;
  o.max_wal_blocks = 8;
  return o;
}

inline std::unique_ptr<LsmIndex> create_index(host::Store& store, IndexOptions options) {
  auto idx = LsmIndex::create(store, options);
  REQUIRE_MESSAGE(idx.is_ok(), idx.status().to_string());
  return std::move(idx).value();
}

inline std::unique_ptr<LsmIndex> open_index(host::Store& store, const IndexRoot& root,
                                            IndexOptions options) {
  auto idx = LsmIndex::open(store, root, options);
  REQUIRE_MESSAGE(idx.is_ok(), idx.status().to_string());
  return std::move(idx).value();
}

// prepare_commit + commit_succeeded; returns the committed root.
inline IndexRoot commit(LsmIndex& idx) {
  auto root = idx.prepare_commit();
  REQUIRE_MESSAGE(root.is_ok(), root.status().to_string());
  idx.commit_succeeded(*root);
  CHECK(idx.committed_root() == *root);
  return *root;
}

inline std::vector<std::pair<uint64_t, BlockRef>> scan_all(const LsmIndex& idx, uint64_t first = 0,
                                                           uint64_t last = UINT64_MAX) {
  std::vector<std::pair<uint64_t, BlockRef>> out;
  JD_REQUIRE_OK(idx.scan(first, last, [&](uint64_t lba, const BlockRef& ref) {
    out.emplace_back(lba, ref);
    return Status::ok();
  }));
  return out;
}

// The index holds exactly the model: a full scan, and a get of every `step`th lba in
// [0, lba_limit).
inline void check_equal(const LsmIndex& idx, const Model& model, uint64_t lba_limit,
                        uint64_t step = 1) {
  const auto scanned = scan_all(idx);
  const std::vector<std::pair<uint64_t, BlockRef>> want(model.begin(), model.end());
  REQUIRE(scanned.size() == want.size());
  CHECK(scanned == want);
  for (uint64_t lba = 0; lba < lba_limit; lba += step) {
    auto got = idx.get(lba);
    REQUIRE_MESSAGE(got.is_ok(), got.status().to_string());
    auto it = model.find(lba);
    if (it == model.end()) {
      REQUIRE_MESSAGE(!got->has_value(), "lba ", lba, " should be unmapped");
    } else {
      REQUIRE_MESSAGE(got->has_value(), "lba ", lba, " missing");
      REQUIRE_MESSAGE(**got == it->second, "lba ", lba, " has a wrong BlockRef");
    }
  }
}

inline std::vector<std::string> list_names(host::Store& store) {
  auto names = store.list();
  REQUIRE(names.is_ok());
  return std::move(names).value();
}

inline std::vector<std::string> index_files(host::Store& store, FileKind kind) {
  std::vector<std::string> out;
  for (const std::string& n : list_names(store)) {
    auto p = parse_file_name(n);
    if (p && p->kind == kind) out.push_back(n);
  }
  return out;
}

// Removes what unreferenced_files() names, as the disk layer does at open.
inline size_t remove_unreferenced(host::Store& store, const LsmIndex& idx) {
  const auto doomed = idx.unreferenced_files(list_names(store));
  for (const std::string& n : doomed) JD_REQUIRE_OK(store.remove(n));
  JD_REQUIRE_OK(store.sync_dir());
  return doomed.size();
}

inline Bytes raw(host::MemoryStore& store, const std::string& name) {
  auto b = store.read_all(name);
  REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
  return std::move(b).value();
}

inline void put_raw(host::MemoryStore& store, const std::string& name, const Bytes& bytes) {
  JD_REQUIRE_OK(store.write_all(name, bytes));
}

}  // namespace jindisk::index::testing
