// The disk the tamper suites attack: several flushes, overwrites and trims, a compaction, so
// that every host file kind exists (header, root, several seg-*, several sst-*, a manifest and a
// WAL with committed records). Copies of the whole store are kept at an early flush and at the
// flush just before the last one (which changed only the WAL and data, so the older root still
// names files that exist), with the reference content of each, and the anchor's bytes.
#pragma once

#include <doctest/doctest.h>
#include <sodium.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "disk/segment_files.hpp"
#include "disk_test_util.hpp"
#include "util/le.hpp"

namespace jindisk::disk::test {

struct Victim {
  DiskConfig cfg;                      // no anchor: the generic attacks check content only
  TempDir dir;                         // holds anchor copies
  std::unique_ptr<MemoryStore> store;  // the final image (disk closed)
  RefState final_state;
  std::unique_ptr<MemoryStore> early;  // after the first flush
  RefState early_state;
  std::unique_ptr<MemoryStore> prev;  // after the flush before the last one
  RefState prev_state;
  std::vector<uint8_t> anchor_bytes;    // the anchor after the final close
  std::map<uint64_t, uint64_t> hba_of;  // live lba -> hba in the final image

  // A fresh file holding the victim's anchor; the config that uses it.
  DiskConfig anchored(const std::string& case_name, bool accept_rollback = false) const {
    const std::string path = dir.file(case_name + ".anchor");
    write_os_file(path, anchor_bytes);
    DiskConfig c = cfg;
    c.anchor = AnchorMode::kPath;
    c.anchor_path = path;
    c.accept_rollback = accept_rollback;
    return c;
  }

  // Live LBAs stored in data segment `seg`, by slot.
  std::map<uint64_t, uint64_t> lbas_in_segment(uint64_t seg) const {
    std::map<uint64_t, uint64_t> slot_to_lba;
    for (const auto& [lba, hba] : hba_of) {
      if (hba / cfg.segment_blocks == seg) slot_to_lba[hba % cfg.segment_blocks] = lba;
    }
    return slot_to_lba;
  }
};

inline std::unique_ptr<Victim> make_victim() {
  auto v = std::make_unique<Victim>();
  v->cfg.logical_bytes = 2u << 20;  // 512 blocks
  v->cfg.segment_blocks = 16;
  v->cfg.memtable_entries = 64;
  v->cfg.write_buffer_bytes = 64u << 10;
  v->store = std::make_unique<MemoryStore>();
  DiskConfig acfg = v->cfg;
  acfg.anchor = AnchorMode::kPath;
  acfg.anchor_path = v->dir.file("victim.anchor");
  Warnings warnings;
  RefState ref;
  uint64_t version = 0;
  DiskPtr d = create_disk(*v->store, acfg, warnings);
  CHECK(std::filesystem::exists(acfg.anchor_path));  // create makes the anchor at once
  auto write = [&](uint64_t lba, uint64_t n) {
    ++version;
    JD_REQUIRE_OK(d->write(lba, pattern(lba, n, version)));
    ref.write(lba, n, version);
  };
  // Phase 1: 160 blocks in 8-block runs, a flush every 40 blocks (memtable dumps).
  for (uint64_t lba = 0; lba < 160; lba += 8) {
    write(lba, 8);
    if (lba % 40 == 32) {
      JD_REQUIRE_OK(d->flush());
      if (!v->early) {
        v->early = v->store->clone();
        v->early_state = ref;
      }
    }
  }
  JD_REQUIRE_OK(d->index_for_tests().compact_now());
  // Phase 2: overwrites, a trim, new blocks; more level-0 files.
  for (uint64_t lba = 100; lba < 140; lba += 4) write(lba, 4);
  JD_REQUIRE_OK(d->trim(20, 10));
  ref.trim(20, 10);
  JD_REQUIRE_OK(d->flush());
  for (uint64_t lba = 200; lba < 300; lba += 5) {
    write(lba, 5);
    if (lba % 40 == 35) JD_REQUIRE_OK(d->flush());
  }
  JD_REQUIRE_OK(d->flush());
  // A clean reopen, so no file the root does not name is left over.
  close_disk(d);
  d = open_disk(*v->store, acfg, warnings);
  // Last flush: new LBAs only (nothing freed), until one that changes only the WAL and data.
  uint64_t next_lba = 400;
  for (int attempt = 0;; ++attempt) {
    REQUIRE(attempt < 8);
    v->prev = v->store->clone();
    v->prev_state = ref;
    const auto ssts = names_with_prefix(*v->store, "sst-");
    const auto mans = names_with_prefix(*v->store, "man-");
    const auto wals = names_with_prefix(*v->store, "wal-");
    write(next_lba, 6);
    next_lba += 6;
    JD_REQUIRE_OK(d->flush());
    if (ssts == names_with_prefix(*v->store, "sst-") &&
        mans == names_with_prefix(*v->store, "man-") &&
        wals == names_with_prefix(*v->store, "wal-")) {
      break;
    }
  }
  close_disk(d);
  v->final_state = ref;
  v->anchor_bytes = read_os_file(acfg.anchor_path);
  REQUIRE(v->anchor_bytes.size() == 128);

  // Every kind is present, more than once where a swap needs two.
  REQUIRE(names_with_prefix(*v->store, "seg-").size() >= 2);
  REQUIRE(names_with_prefix(*v->store, "sst-").size() >= 2);
  REQUIRE(names_with_prefix(*v->store, "man-").size() == 1);
  REQUIRE(names_with_prefix(*v->store, "wal-").size() == 1);
  REQUIRE(raw(*v->store, names_with_prefix(*v->store, "wal-")[0]).size() >= kBlockSize);

  // Where each live block is (through a read-only open, which changes nothing).
  {
    auto copy = v->store->clone();
    DiskConfig ro = v->cfg;
    ro.read_only = true;
    DiskPtr r = open_disk(*copy, ro);
    JD_REQUIRE_OK(r->index_for_tests().scan(0, v->cfg.blocks() - 1,
                                            [&](uint64_t lba, const index::BlockRef& ref2) {
                                              v->hba_of[lba] = ref2.hba;
                                              return Status::ok();
                                            }));
    REQUIRE(v->hba_of.size() == ref.version.size());
    // And the image is canonical: every index file in it is referenced.
    CHECK(r->index_for_tests().unreferenced_files(list_names(*copy)).empty());
  }
  return v;
}

// What an attacked store shows when opened (no anchor unless the config has one).
struct Probe {
  bool opened = false;
  Status open_status;
  std::set<uint64_t> failed;          // LBAs whose single-block read failed
  std::vector<std::string> problems;  // violations: wrong data, wrong codes
  int matched = -1;                   // which candidate state every successful read matched
};

// Opens `store` and reads every block alone and the device as a whole. Every successful read
// must return one candidate state's data (the same candidate for all reads); every failed read
// must be kCorruption, and the whole-device read must fail iff some block failed.
inline Probe probe(host::Store& store, const DiskConfig& cfg,
                   const std::vector<const RefState*>& candidates) {
  Probe p;
  Warnings warnings;
  auto d = try_open(store, cfg, warnings);
  if (!d.is_ok()) {
    p.open_status = d.status();
    return p;
  }
  p.opened = true;
  const uint64_t blocks = (*d)->block_count();
  std::vector<bool> consistent(candidates.size(), true);
  std::vector<uint8_t> buf(kBlockSize);
  for (uint64_t lba = 0; lba < blocks; ++lba) {
    const Status s = (*d)->read(lba, buf);
    if (!s.is_ok()) {
      p.failed.insert(lba);
      if (s.code() != Code::kCorruption) {
        p.problems.push_back("read of lba " + std::to_string(lba) + " failed with " +
                             s.to_string() + " (want corruption)");
      }
      continue;
    }
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (consistent[c] && !block_equals(buf.data(), *candidates[c], lba)) consistent[c] = false;
    }
  }
  for (size_t c = 0; c < candidates.size(); ++c) {
    if (consistent[c]) {
      p.matched = static_cast<int>(c);
      break;
    }
  }
  if (p.matched < 0) p.problems.push_back("a successful read returned data of no candidate state");
  std::vector<uint8_t> all(blocks * kBlockSize);
  const Status whole = (*d)->read(0, all);
  if (p.failed.empty()) {
    if (!whole.is_ok())
      p.problems.push_back("whole-device read failed: " + whole.to_string());
    else if (p.matched >= 0 && first_mismatch(all, *candidates[p.matched])) {
      p.problems.push_back("whole-device read differs from single-block reads");
    }
  } else if (whole.code() != Code::kCorruption) {
    p.problems.push_back("whole-device read over damaged blocks returned " + whole.to_string());
  }
  return p;
}

inline std::string describe(const Probe& p) {
  std::string s = p.opened ? "opened, " + std::to_string(p.failed.size()) + " blocks failed"
                           : "open refused: " + p.open_status.to_string();
  for (const auto& pr : p.problems) s += "; " + pr;
  return s;
}

inline void flip(MemoryStore& s, const std::string& name, uint64_t offset, uint8_t mask = 0x01) {
  auto b = raw(s, name);
  REQUIRE(offset < b.size());
  b[offset] ^= mask;
  put_raw(s, name, b);
}

inline void truncate_to(MemoryStore& s, const std::string& name, uint64_t size) {
  auto b = raw(s, name);
  b.resize(size);
  put_raw(s, name, b);
}

inline std::optional<uint64_t> segment_id(const std::string& name) {
  return SegmentFiles::parse_name(name);
}

}  // namespace jindisk::disk::test
