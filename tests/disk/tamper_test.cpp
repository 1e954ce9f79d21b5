// disk-tamper: an attacker edits the host directory while the disk is offline. For every host
// file kind (header, seg-*, wal-*, sst-*, man-*; the root in tamper_root_test.cpp): flip bytes
// (start, middle, end/tag area), truncate, delete, replace with an older copy, swap two files
// of the same kind. The disk must refuse to open (kCorruption / kRollback; the header: exact
// codes), or open and fail exactly the reads of affected blocks with kCorruption - and every
// read that succeeds returns exactly the reference data, never wrong data.
#include <doctest/doctest.h>

#include <functional>
#include <sstream>

#include "tamper_victim.hpp"

namespace jindisk::disk::test {
namespace {

// What an attack must lead to.
enum class Expect : uint8_t {
  kRefused,   // open fails with one of `codes`
  kDetected,  // open fails with kCorruption/kRollback, or it opens and some read fails
  kExact,     // open succeeds (or is refused with kCorruption) and exactly `bad` LBAs fail
};

struct Attack {
  std::string kind;
  std::string what;
  std::function<void(MemoryStore&)> mutate;
  Expect expect = Expect::kDetected;
  std::set<Code> codes;    // kRefused
  std::set<uint64_t> bad;  // kExact
};

struct Tally {
  std::map<std::string, int> cases, refused, opened;
};

void run_attack(const Victim& v, const Attack& a, Tally& t) {
  auto store = v.store->clone();
  a.mutate(*store);
  const Probe p = probe(*store, v.cfg, {&v.final_state});
  ++t.cases[a.kind];
  ++(p.opened ? t.opened : t.refused)[a.kind];
  INFO(a.kind << ": " << a.what << " -> " << describe(p));
  CHECK(p.problems.empty());
  switch (a.expect) {
    case Expect::kRefused:
      CHECK(!p.opened);
      if (!p.opened) CHECK_MESSAGE(a.codes.count(p.open_status.code()) == 1, "unexpected code");
      break;
    case Expect::kDetected:
      if (!p.opened) {
        CHECK(
            (p.open_status.code() == Code::kCorruption || p.open_status.code() == Code::kRollback));
      } else {
        CHECK_MESSAGE(!p.failed.empty(), "the attack went unnoticed");
      }
      break;
    case Expect::kExact:
      if (!p.opened) {
        CHECK(p.open_status.code() == Code::kCorruption);
      } else {
        CHECK(p.failed == a.bad);
      }
      break;
  }
}

// Header checksum (BLAKE2b-256 of bytes 0..223 at 224), so a forged header passes it.
void fix_header_checksum(std::vector<uint8_t>& h) {
  REQUIRE(h.size() == 256);
  crypto_generichash(h.data() + 224, 32, h.data(), 224, nullptr, 0);
}

std::vector<Attack> header_attacks() {
  std::vector<Attack> out;
  const std::set<Code> corrupt{Code::kCorruption};
  for (uint64_t off : {0, 8, 16, 36, 40, 64, 100, 136, 200, 224, 255}) {
    out.push_back({"header",
                   "flip byte " + std::to_string(off),
                   [off](MemoryStore& s) { flip(s, "header", off); },
                   Expect::kRefused,
                   corrupt,
                   {}});
  }
  for (uint64_t size : {0, 1, 128, 224, 255}) {
    out.push_back({"header",
                   "truncate to " + std::to_string(size),
                   [size](MemoryStore& s) { truncate_to(s, "header", size); },
                   Expect::kRefused,
                   corrupt,
                   {}});
  }
  out.push_back({"header",
                 "append a byte",
                 [](MemoryStore& s) {
                   auto b = raw(s, "header");
                   b.push_back(0);
                   put_raw(s, "header", b);
                 },
                 Expect::kRefused,
                 corrupt,
                 {}});
  // Deleted: the directory no longer holds a disk (kNotFound), or it is called damage.
  out.push_back({"header",
                 "delete",
                 [](MemoryStore& s) { remove_raw(s, "header"); },
                 Expect::kRefused,
                 {Code::kNotFound, Code::kCorruption},
                 {}});
  // A forgery with a valid checksum is indistinguishable from a wrong key (format.md §1).
  for (uint64_t off : {40, 64, 90, 110, 140}) {
    out.push_back({"header",
                   "forge byte " + std::to_string(off) + " with a valid checksum",
                   [off](MemoryStore& s) {
                     auto b = raw(s, "header");
                     b[off] ^= 0x01;
                     fix_header_checksum(b);
                     put_raw(s, "header", b);
                   },
                   Expect::kRefused,
                   {Code::kWrongKey},
                   {}});
  }
  // The header of another disk (same passphrase): its master key opens nothing here.
  out.push_back({"header",
                 "replace with another disk's header",
                 [](MemoryStore& s) {
                   MemoryStore other;
                   DiskConfig c;
                   c.logical_bytes = 2u << 20;
                   DiskPtr d = create_disk(other, c);
                   close_disk(d);
                   put_raw(s, "header", raw(other, "header"));
                 },
                 Expect::kRefused,
                 {Code::kCorruption},
                 {}});
  return out;
}

std::vector<Attack> segment_attacks(const Victim& v) {
  std::vector<Attack> out;
  auto segs = names_with_prefix(*v.store, "seg-");
  // In scaled-down builds, every third segment.
  const size_t step = test_scale() >= 1 ? 1 : 3;
  for (size_t i = 0; i < segs.size(); i += step) {
    const std::string name = segs[i];
    const auto id = segment_id(name);
    REQUIRE(id.has_value());
    const auto live = v.lbas_in_segment(*id);  // slot -> lba
    const uint64_t size = raw(*v.store, name).size();
    const uint32_t sb = v.cfg.segment_blocks;
    const uint64_t base = SegmentSummary::area_bytes(sb);  // slot 0's first byte
    std::set<uint64_t> all_live;
    for (const auto& [slot, lba] : live) all_live.insert(lba);
    // Flips inside live blocks: the first byte, the middle, the last byte of three of them.
    if (!live.empty()) {
      std::vector<std::pair<uint64_t, uint64_t>> picks(live.begin(), live.end());
      const std::pair<uint64_t, uint64_t> chosen[3] = {picks.front(), picks[picks.size() / 2],
                                                       picks.back()};
      const uint64_t within[3] = {0, kBlockSize / 2, kBlockSize - 1};
      for (int k = 0; k < 3; ++k) {
        const uint64_t off = base + chosen[k].first * kBlockSize + within[k];
        out.push_back({"seg",
                       name + " flip byte " + std::to_string(off) + " (lba " +
                           std::to_string(chosen[k].second) + ")",
                       [name, off](MemoryStore& s) { flip(s, name, off, 0x80); },
                       Expect::kExact,
                       {},
                       {chosen[k].second}});
      }
    }
    // The summary holds only hints for the cleaner: changing it must not affect any read.
    for (uint64_t off : {uint64_t{0}, uint64_t{8}, uint64_t{15}, uint64_t{sb * 8}}) {
      out.push_back({"seg",
                     name + " flip summary byte " + std::to_string(off),
                     [name, off](MemoryStore& s) { flip(s, name, off, 0x01); },
                     Expect::kExact,
                     {},
                     {}});
    }
    // Truncations: into the summary, half the file, and one byte off its end.
    for (uint64_t new_size : {base / 2, size / 2 / kBlockSize * kBlockSize + 100, size - 1}) {
      std::set<uint64_t> bad;
      for (const auto& [slot, lba] : live) {
        if (base + (slot + 1) * kBlockSize > new_size) bad.insert(lba);
      }
      out.push_back({"seg",
                     name + " truncate to " + std::to_string(new_size),
                     [name, new_size](MemoryStore& s) { truncate_to(s, name, new_size); },
                     Expect::kExact,
                     {},
                     bad});
    }
    out.push_back({"seg",
                   name + " delete",
                   [name](MemoryStore& s) { remove_raw(s, name); },
                   Expect::kExact,
                   {},
                   all_live});
    // An older copy: blocks written there since (or reused) fail; unchanged ones still read.
    for (const MemoryStore* older : {v.early.get(), v.prev.get()}) {
      auto old = const_cast<MemoryStore*>(older)->read_all(name);
      if (!old.is_ok()) continue;
      const auto now = raw(*v.store, name);
      if (*old == now) continue;
      std::set<uint64_t> bad;
      for (const auto& [slot, lba] : live) {
        const uint64_t begin = base + slot * kBlockSize, end = begin + kBlockSize;
        if (old->size() < end ||
            !std::equal(now.begin() + begin, now.begin() + end, old->begin() + begin)) {
          bad.insert(lba);
        }
      }
      const std::vector<uint8_t> old_bytes = *old;
      out.push_back(
          {"seg",
           name + " replaced by an older copy (" + std::to_string(old_bytes.size()) + " bytes)",
           [name, old_bytes](MemoryStore& s) { put_raw(s, name, old_bytes); },
           Expect::kExact,
           {},
           bad});
    }
  }
  // Swaps of two segments: every live block in either is now at the wrong host address.
  for (size_t i = 0; i + 1 < segs.size(); i += 2 * step) {
    const std::string a = segs[i], b = segs[i + 1];
    std::set<uint64_t> bad;
    for (const auto& name : {a, b}) {
      for (const auto& [slot, lba] : v.lbas_in_segment(*segment_id(name))) bad.insert(lba);
    }
    out.push_back({"seg",
                   "swap " + a + " and " + b,
                   [a, b](MemoryStore& s) {
                     auto ba = raw(s, a), bb = raw(s, b);
                     put_raw(s, a, bb);
                     put_raw(s, b, ba);
                   },
                   Expect::kExact,
                   {},
                   bad});
  }
  return out;
}

// WAL, SSTs and manifests: every committed byte is authenticated, so any change is detected.
std::vector<Attack> index_file_attacks(const Victim& v, const std::string& prefix) {
  std::vector<Attack> out;
  const std::string kind = prefix.substr(0, 3);
  const auto names = names_with_prefix(*v.store, prefix);
  for (const std::string& name : names) {
    const uint64_t size = raw(*v.store, name).size();
    for (uint64_t off : {uint64_t{0}, uint64_t{30}, size / 2, size - 20, size - 1}) {
      out.push_back({kind,
                     name + " flip byte " + std::to_string(off),
                     [name, off](MemoryStore& s) { flip(s, name, off); },
                     Expect::kDetected,
                     {},
                     {}});
    }
    std::set<uint64_t> cuts{0, size - 1, size / 2};
    if (size > kBlockSize) cuts.insert(size - kBlockSize);
    for (uint64_t cut : cuts) {
      out.push_back({kind,
                     name + " truncate to " + std::to_string(cut),
                     [name, cut](MemoryStore& s) { truncate_to(s, name, cut); },
                     Expect::kDetected,
                     {},
                     {}});
    }
    out.push_back({kind,
                   name + " extend by a block of zeros",
                   [name, size](MemoryStore& s) {
                     auto b = raw(s, name);
                     b.resize(size + kBlockSize);
                     put_raw(s, name, b);
                   },
                   // A WAL may carry blocks past its committed length; sealed files may not.
                   kind == "wal" ? Expect::kExact : Expect::kDetected,
                   {},
                   {}});
    out.push_back({kind,
                   name + " delete",
                   [name](MemoryStore& s) { remove_raw(s, name); },
                   Expect::kDetected,
                   {},
                   {}});
    // Older copies: the same name at an earlier flush if it differed, else the newest file of
    // this kind in the older image put in its place (a stale object of the right kind).
    for (const MemoryStore* older_c : {v.early.get(), v.prev.get()}) {
      auto* older = const_cast<MemoryStore*>(older_c);
      std::vector<uint8_t> old_bytes;
      std::string from;
      if (auto same = older->read_all(name); same.is_ok()) {
        if (*same == raw(*v.store, name)) continue;  // unchanged since (write-once files)
        old_bytes = *same;
        from = "its own older copy";
      } else {
        auto olds = names_with_prefix(*older, prefix);
        if (olds.empty()) continue;
        old_bytes = raw(*older, olds.back());
        from = "older " + olds.back();
      }
      out.push_back({kind,
                     name + " replaced by " + from,
                     [name, old_bytes](MemoryStore& s) { put_raw(s, name, old_bytes); },
                     Expect::kDetected,
                     {},
                     {}});
    }
  }
  // Swaps within the kind.
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    const std::string a = names[i], b = names[i + 1];
    out.push_back({kind,
                   "swap " + a + " and " + b,
                   [a, b](MemoryStore& s) {
                     auto ba = raw(s, a), bb = raw(s, b);
                     put_raw(s, a, bb);
                     put_raw(s, b, ba);
                   },
                   Expect::kDetected,
                   {},
                   {}});
  }
  // A file of another kind under this name (same size class does not matter).
  return out;
}

void report(const Tally& t) {
  std::ostringstream s;
  for (const auto& [kind, n] : t.cases) {
    if (n == 0) continue;
    s << kind << ": " << n << " cases (" << t.refused.at(kind) << " refused at open, "
      << t.opened.at(kind) << " opened with the damage confined); ";
  }
  MESSAGE(s.str());
}

Tally make_tally() {
  Tally t;
  for (const char* k : {"header", "seg", "wal", "sst", "man"}) {
    t.cases[k] = t.refused[k] = t.opened[k] = 0;
  }
  return t;
}

}  // namespace

TEST_CASE("the untampered victim opens with exactly its reference content") {
  auto v = make_victim();
  auto copy = v->store->clone();
  const Probe p = probe(*copy, v->cfg, {&v->final_state});
  INFO(describe(p));
  CHECK(p.opened);
  CHECK(p.failed.empty());
  CHECK(p.problems.empty());
  CHECK(p.matched == 0);
}

TEST_CASE("a tampered header is refused: damage is kCorruption, a forgery kWrongKey") {
  auto v = make_victim();
  Tally t = make_tally();
  for (const Attack& a : header_attacks()) run_attack(*v, a, t);
  report(t);
  CHECK(t.cases["header"] >= 20);
}

TEST_CASE("a wrong passphrase is kWrongKey, and the disk stays intact") {
  auto v = make_victim();
  auto copy = v->store->clone();
  auto d =
      SecureDisk::open(*copy, KeySource::passphrase("not the passphrase"), v->cfg.open_options());
  REQUIRE(!d.is_ok());
  CHECK(d.status().code() == Code::kWrongKey);
  const Probe p = probe(*copy, v->cfg, {&v->final_state});
  CHECK(p.opened);
  CHECK(p.failed.empty());
  CHECK(p.problems.empty());
}

TEST_CASE("tampered data segments fail exactly the reads of the blocks they held") {
  auto v = make_victim();
  Tally t = make_tally();
  for (const Attack& a : segment_attacks(*v)) run_attack(*v, a, t);
  report(t);
  CHECK(t.cases["seg"] >= 10);
}

TEST_CASE("a tampered WAL is detected") {
  auto v = make_victim();
  Tally t = make_tally();
  for (const Attack& a : index_file_attacks(*v, "wal-")) run_attack(*v, a, t);
  report(t);
  CHECK(t.cases["wal"] >= 10);
}

TEST_CASE("tampered SSTs are detected") {
  auto v = make_victim();
  Tally t = make_tally();
  for (const Attack& a : index_file_attacks(*v, "sst-")) run_attack(*v, a, t);
  report(t);
  CHECK(t.cases["sst"] >= 20);
}

TEST_CASE("a tampered manifest is detected") {
  auto v = make_victim();
  Tally t = make_tally();
  for (const Attack& a : index_file_attacks(*v, "man-")) run_attack(*v, a, t);
  report(t);
  CHECK(t.cases["man"] >= 10);
}

TEST_CASE("a segment copied under another segment's name is refused or fails its blocks") {
  // Replacing a segment by a copy of another one (an attacker duplicating a valid object).
  auto v = make_victim();
  Tally t = make_tally();
  const auto segs = names_with_prefix(*v->store, "seg-");
  const std::string a = segs.front(), b = segs.back();
  std::set<uint64_t> bad;
  for (const auto& [slot, lba] : v->lbas_in_segment(*segment_id(a))) bad.insert(lba);
  run_attack(*v,
             {"seg",
              b + " copied over " + a,
              [a, b](MemoryStore& s) { put_raw(s, a, raw(s, b)); },
              Expect::kExact,
              {},
              bad},
             t);
  // A live block copied to another slot of its own segment.
  const auto live = v->lbas_in_segment(*segment_id(a));
  if (live.size() >= 2) {
    const auto first = *live.begin(), second = *std::next(live.begin());
    run_attack(*v,
               {"seg",
                a + " block of lba " + std::to_string(first.second) + " copied over lba " +
                    std::to_string(second.second),
                [a, first, second, base = SegmentSummary::area_bytes(v->cfg.segment_blocks)](
                    MemoryStore& s) {
                  auto bytes = raw(s, a);
                  std::copy_n(bytes.begin() + base + first.first * kBlockSize, kBlockSize,
                              bytes.begin() + base + second.first * kBlockSize);
                  put_raw(s, a, bytes);
                },
                Expect::kExact,
                {},
                {second.second}},
               t);
  }
  report(t);
}

}  // namespace jindisk::disk::test
