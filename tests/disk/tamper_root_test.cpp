// disk-tamper (root and rollback): the root slots are the one object that can be replayed as a
// whole (an older slot is still a valid slot). Without an anchor such a replay opens an older
// flushed state - never a mix; with the anchor it is refused with kRollback, and accepted only
// with accept_rollback. Whole-directory rollback and forks are caught the same way.
#include <doctest/doctest.h>

#include "tamper_victim.hpp"

namespace jindisk::disk::test {
namespace {

constexpr uint64_t kSlot = 4096;

uint64_t slot_epoch(const std::vector<uint8_t>& root, int slot) {
  return util::get_u64(root.data() + slot * kSlot + 12);
}

// The slot holding the newest epoch (both slots of a committed root file are valid).
int newest_slot(const std::vector<uint8_t>& root) {
  REQUIRE(root.size() == 2 * kSlot);
  return slot_epoch(root, 0) > slot_epoch(root, 1) ? 0 : 1;
}

// Offsets inside a slot that the seal covers: magic, slot index, epoch, length, nonce, the
// payload, the last tag byte.
std::vector<uint64_t> sealed_offsets(const std::vector<uint8_t>& root, int slot) {
  const uint32_t len = util::get_u32(root.data() + slot * kSlot + 20);
  REQUIRE(len <= kSlot - 64);
  return {0, 8, 12, 20, 30, 48, 48 + len / 2, 48 + len + 15};
}

Probe probe_cfg(MemoryStore& s, const DiskConfig& cfg, const Victim& v) {
  return probe(s, cfg, {&v.final_state, &v.prev_state, &v.early_state});
}

std::string state_name(int matched) {
  switch (matched) {
    case 0:
      return "final";
    case 1:
      return "prev";
    case 2:
      return "early";
  }
  return "none";
}

}  // namespace

TEST_CASE(
    "a damaged newest root slot falls back to the previous flush; the anchor calls it rollback") {
  auto v = make_victim();
  const auto root = raw(*v->store, "root");
  const int newest = newest_slot(root);
  CAPTURE(newest);
  REQUIRE(slot_epoch(root, newest) == slot_epoch(root, 1 - newest) + 1);
  int cases = 0;
  for (uint64_t off : sealed_offsets(root, newest)) {
    CAPTURE(off);
    const uint64_t at = newest * kSlot + off;
    {
      auto s = v->store->clone();
      flip(*s, "root", at);
      const Probe p = probe_cfg(*s, v->cfg, *v);
      INFO(describe(p));
      // Without an anchor this is a crash during the last commit: the previous flush, whole.
      CHECK(p.opened);
      CHECK(p.failed.empty());
      CHECK(p.problems.empty());
      CHECK_MESSAGE(p.matched == 1, "opened state " << state_name(p.matched));
    }
    {
      auto s = v->store->clone();
      flip(*s, "root", at);
      auto d = try_open(*s, v->anchored("flip-newest-" + std::to_string(off)));
      REQUIRE(!d.is_ok());
      CHECK(d.status().code() == Code::kRollback);
    }
    ++cases;
  }
  // The unsealed zero padding at the end of the slot.
  {
    auto s = v->store->clone();
    flip(*s, "root", newest * kSlot + kSlot - 1);
    const Probe p = probe_cfg(*s, v->cfg, *v);
    INFO(describe(p));
    CHECK(p.opened);
    CHECK(p.problems.empty());
    CHECK((p.matched == 0 || p.matched == 1));
    MESSAGE("a flipped padding byte in the newest slot opens state " << state_name(p.matched));
    ++cases;
  }
  MESSAGE("root, newest slot: " << cases << " cases");
}

TEST_CASE("a damaged older root slot changes nothing") {
  auto v = make_victim();
  const auto root = raw(*v->store, "root");
  const int older = 1 - newest_slot(root);
  for (uint64_t off : sealed_offsets(root, older)) {
    CAPTURE(off);
    auto s = v->store->clone();
    flip(*s, "root", older * kSlot + off);
    const Probe p = probe(*s, v->anchored("flip-older-" + std::to_string(off)), {&v->final_state});
    INFO(describe(p));
    CHECK(p.opened);
    CHECK(p.failed.empty());
    CHECK(p.problems.empty());
  }
}

TEST_CASE("a root file with no valid slot, truncated or deleted is refused with kCorruption") {
  auto v = make_victim();
  const auto root = raw(*v->store, "root");
  const int newest = newest_slot(root);
  struct Case {
    std::string what;
    std::function<void(MemoryStore&)> mutate;
  };
  const std::vector<Case> cases = {
      {"both slots flipped",
       [](MemoryStore& s) {
         flip(s, "root", 100);
         flip(s, "root", kSlot + 100);
       }},
      {"truncated to 0", [](MemoryStore& s) { truncate_to(s, "root", 0); }},
      {"truncated to 100", [](MemoryStore& s) { truncate_to(s, "root", 100); }},
      {"deleted", [](MemoryStore& s) { remove_raw(s, "root"); }},
      {"zeroed", [](MemoryStore& s) { put_raw(s, "root", std::vector<uint8_t>(2 * kSlot, 0)); }},
      {"swapped slots",
       [](MemoryStore& s) {
         auto b = raw(s, "root");
         std::rotate(b.begin(), b.begin() + kSlot, b.end());
         put_raw(s, "root", b);
       }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    auto s = v->store->clone();
    c.mutate(*s);
    const Probe p = probe_cfg(*s, v->cfg, *v);
    INFO(describe(p));
    CHECK(!p.opened);
    CHECK(p.open_status.code() == Code::kCorruption);
  }
  // Cut to one slot: only the slot that remains counts.
  {
    auto s = v->store->clone();
    truncate_to(*s, "root", kSlot);
    const Probe p = probe_cfg(*s, v->cfg, *v);
    INFO(describe(p));
    CHECK(p.opened);
    CHECK(p.problems.empty());
    CHECK(p.matched == (newest == 0 ? 0 : 1));
  }
  MESSAGE("root, unusable: " << cases.size() + 1 << " cases");
}

TEST_CASE("replaying an older root: an older whole state without anchor, kRollback with it") {
  auto v = make_victim();
  const auto old_root = raw(*v->prev, "root");
  const int old_newest = newest_slot(old_root);
  const std::vector<uint8_t> old_slot(old_root.begin() + old_newest * kSlot,
                                      old_root.begin() + (old_newest + 1) * kSlot);
  struct Case {
    std::string what;
    std::function<void(MemoryStore&)> mutate;
  };
  const std::vector<Case> cases = {
      {"the whole older root file", [&](MemoryStore& s) { put_raw(s, "root", old_root); }},
      {"the older newest slot copied over both current slots",
       [&](MemoryStore& s) {
         std::vector<uint8_t> b(2 * kSlot);
         std::copy(old_slot.begin(), old_slot.end(), b.begin());
         std::copy(old_slot.begin(), old_slot.end(), b.begin() + kSlot);
         put_raw(s, "root", b);
       }},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    {
      // No anchor: the older flush, exactly (every file it names still exists).
      auto s = v->store->clone();
      c.mutate(*s);
      const Probe p = probe_cfg(*s, v->cfg, *v);
      INFO(describe(p));
      CHECK(p.opened);
      CHECK(p.failed.empty());
      CHECK(p.problems.empty());
      CHECK_MESSAGE(p.matched == 1, "opened state " << state_name(p.matched));
    }
    {
      auto s = v->store->clone();
      c.mutate(*s);
      auto d = try_open(*s, v->anchored("replay"));
      REQUIRE(!d.is_ok());
      CHECK(d.status().code() == Code::kRollback);
    }
    {
      // accept_rollback: opens the older state, warns, and resets the anchor to it.
      auto s = v->store->clone();
      c.mutate(*s);
      Warnings w;
      const DiskConfig accept = v->anchored("replay-accept", true);
      {
        auto d = try_open(*s, accept, w);
        REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
        const auto content = read_device(**d);
        CHECK(!first_mismatch(content, v->prev_state));
        CHECK(w.contains("rollback"));
        JD_REQUIRE_OK((*d)->close());
      }
      DiskConfig strict = accept;
      strict.accept_rollback = false;
      const Probe p = probe(*s, strict, {&v->prev_state});
      INFO(describe(p));
      CHECK(p.opened);
      CHECK(p.failed.empty());
      CHECK(p.problems.empty());
    }
  }
  // The root file of a much older state: its files may be gone (kCorruption), but nothing
  // newer or mixed is ever shown.
  {
    auto s = v->store->clone();
    put_raw(*s, "root", raw(*v->early, "root"));
    const Probe p = probe(*s, v->cfg, {&v->early_state});
    INFO(describe(p));
    CHECK(p.problems.empty());
    if (!p.opened) CHECK(p.open_status.code() == Code::kCorruption);
    MESSAGE("replaying the early root over the final directory: " << describe(p));
    auto s2 = v->store->clone();
    put_raw(*s2, "root", raw(*v->early, "root"));
    auto d = try_open(*s2, v->anchored("replay-early"));
    REQUIRE(!d.is_ok());
    CHECK((d.status().code() == Code::kRollback || d.status().code() == Code::kCorruption));
  }
}

TEST_CASE("restoring an older copy of the whole directory is refused with the anchor") {
  auto v = make_victim();
  struct Old {
    std::string what;
    const MemoryStore* image;
    const RefState* state;
  };
  for (const Old& old : {Old{"previous flush", v->prev.get(), &v->prev_state},
                         Old{"early flush", v->early.get(), &v->early_state}}) {
    CAPTURE(old.what);
    auto s = old.image->clone();
    {
      auto d = try_open(*s, v->anchored(std::string("whole-") + old.what));
      REQUIRE(!d.is_ok());
      CHECK(d.status().code() == Code::kRollback);
    }
    // Without the anchor the copy is a consistent older disk (not detectable, by design).
    {
      auto copy = s->clone();
      const Probe p = probe(*copy, v->cfg, {old.state});
      INFO(describe(p));
      CHECK(p.opened);
      CHECK(p.failed.empty());
      CHECK(p.problems.empty());
    }
    // accept_rollback takes it, exactly as it was, and the anchor follows.
    const DiskConfig accept = v->anchored(std::string("whole-accept-") + old.what, true);
    {
      Warnings w;
      auto d = try_open(*s, accept, w);
      REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
      CHECK(!first_mismatch(read_device(**d), *old.state));
      CHECK(w.contains("rollback"));
      JD_REQUIRE_OK((*d)->close());
    }
    DiskConfig strict = accept;
    strict.accept_rollback = false;
    auto d = try_open(*s, strict);
    CHECK_MESSAGE(d.is_ok(), d.status().to_string());
  }
}

TEST_CASE("a fork (same epoch, different commit) is refused with the anchor") {
  auto v = make_victim();
  auto a = v->store->clone();
  auto b = v->store->clone();
  const DiskConfig anchored = v->anchored("fork");
  {
    // b is opened without the anchor: its recovery commits epoch E+1 with its own tag.
    DiskPtr d = open_disk(*b, v->cfg);
    close_disk(d);
  }
  {
    // a is opened with the anchor: it commits its own E+1 and the anchor records that one.
    DiskPtr d = open_disk(*a, anchored);
    close_disk(d);
  }
  auto d = try_open(*b, anchored);
  REQUIRE(!d.is_ok());
  CHECK(d.status().code() == Code::kRollback);
  auto ok = try_open(*a, anchored);
  CHECK_MESSAGE(ok.is_ok(), ok.status().to_string());
}

TEST_CASE("the anchor: created with a warning when missing; a damaged anchor is not ignored") {
  auto v = make_victim();
  {
    auto s = v->store->clone();
    DiskConfig c = v->cfg;
    c.anchor = AnchorMode::kPath;
    c.anchor_path = v->dir.file("fresh.anchor");
    Warnings w;
    DiskPtr d = open_disk(*s, c, w);
    CHECK(w.contains("no anchor"));
    CHECK(d->info().anchor == c.anchor_path);
    CHECK(!first_mismatch(read_device(*d), v->final_state));
    close_disk(d);
    CHECK(std::filesystem::exists(c.anchor_path));
    // From now on that copy of the directory is bound to the new anchor.
    auto older = v->prev->clone();
    auto r = try_open(*older, c);
    REQUIRE(!r.is_ok());
    CHECK(r.status().code() == Code::kRollback);
  }
  {
    auto s = v->store->clone();
    DiskConfig c = v->anchored("damaged");
    auto bytes = read_os_file(c.anchor_path);
    bytes[30] ^= 1;
    bytes[64 + 30] ^= 1;
    write_os_file(c.anchor_path, bytes);
    auto d = try_open(*s, c);
    REQUIRE(!d.is_ok());
    CHECK(d.status().code() == Code::kCorruption);
    c.accept_rollback = true;
    auto accepted = try_open(*s, c);
    CHECK_MESSAGE(accepted.is_ok(), accepted.status().to_string());
  }
}

}  // namespace jindisk::disk::test
