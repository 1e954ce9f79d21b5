// RootSlots: alternation, torn and failed commits, and an attacker editing the slot file.
#include "log/root_slots.hpp"

#include <doctest/doctest.h>

#include <algorithm>

#include "crypto/secret_key.hpp"
#include "host/fault_store.hpp"
#include "host/memory_store.hpp"
#include "log_test_util.hpp"
#include "util/le.hpp"

namespace jindisk::log::testing {
namespace {

constexpr size_t kSlot = RootSlots::kSlotSize;
constexpr Uuid kUuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
constexpr Uuid kOtherUuid = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17};

Bytes payload_for(uint64_t epoch) {
  return pattern(100 + epoch * 13, epoch);
}

struct Disk {
  host::MemoryStore mem;
  crypto::SecretKey key = crypto::SecretKey::random();

  RootSlots slots(host::Store& store, const Uuid& uuid = kUuid) {
    return RootSlots(open_file(store, "root"), key, uuid);
  }
  RootSlots slots() { return slots(mem); }

  void commit_epochs(RootSlots& s, uint64_t from, uint64_t to) {
    for (uint64_t e = from; e <= to; ++e) {
      auto tag = s.commit(e, payload_for(e));
      REQUIRE_MESSAGE(tag.is_ok(), tag.status().to_string());
    }
  }

  // Loads through a fresh RootSlots, as a restarted daemon would.
  Result<RootRecord> load(const Uuid& uuid = kUuid) {
    RootSlots s = slots(mem, uuid);
    return s.load();
  }

  uint64_t loaded_epoch() {
    auto rec = load();
    REQUIRE_MESSAGE(rec.is_ok(), rec.status().to_string());
    CHECK(rec->payload == payload_for(rec->epoch));
    return rec->epoch;
  }
};

TEST_CASE("root slots alternate commits and load returns the latest") {
  Disk d;
  CHECK(d.load().status().code() == Code::kCorruption);  // nothing committed yet
  RootSlots s = d.slots();
  for (uint64_t e = 1; e <= 5; ++e) {
    auto tag = s.commit(e, payload_for(e));
    REQUIRE(tag.is_ok());
    auto rec = d.load();
    REQUIRE_MESSAGE(rec.is_ok(), rec.status().to_string());
    CHECK(rec->epoch == e);
    CHECK(rec->slot == (e - 1) % 2);
    CHECK(rec->payload == payload_for(e));
    CHECK(rec->tag == *tag);
    // The raw slot written carries its own index.
    const Bytes bytes = raw(d.mem, "root");
    CHECK(util::get_u32(bytes.data() + rec->slot * kSlot + 8) == rec->slot);
  }
  // A restarted instance continues the alternation from what load found (slot 0 at epoch 5).
  RootSlots again = d.slots();
  REQUIRE(again.load().is_ok());
  REQUIRE(again.commit(6, payload_for(6)).is_ok());
  auto rec = d.load();
  REQUIRE(rec.is_ok());
  CHECK(rec->slot == 1);
  CHECK(rec->epoch == 6);
  // Empty and maximal payloads round trip too.
  REQUIRE(again.commit(7, Bytes{}).is_ok());
  CHECK(d.load()->payload.empty());
  const Bytes big = pattern(RootSlots::kMaxPayload, 8);
  REQUIRE(again.commit(8, big).is_ok());
  CHECK(d.load()->payload == big);
}

TEST_CASE("root slots reject a non-increasing epoch and an oversize payload") {
  Disk d;
  RootSlots s = d.slots();
  REQUIRE(s.commit(5, payload_for(5)).is_ok());
  CHECK(s.commit(5, payload_for(5)).status().code() == Code::kInvalidArgument);
  CHECK(s.commit(4, payload_for(4)).status().code() == Code::kInvalidArgument);
  CHECK(s.commit(6, Bytes(RootSlots::kMaxPayload + 1)).status().code() == Code::kInvalidArgument);
  RootSlots fresh = d.slots();
  REQUIRE(fresh.load().is_ok());
  CHECK(fresh.commit(5, payload_for(5)).status().code() == Code::kInvalidArgument);
  CHECK(fresh.commit(6, payload_for(6)).is_ok());
  CHECK(d.loaded_epoch() == 6);
}

TEST_CASE("root slots survive a torn write of the newest slot") {
  // Epoch 4 is torn into slot 1 (which held epoch 2); epoch 3 in slot 0 must survive.
  const uint64_t record_end = 24 + 24 + payload_for(4).size() + 16;
  for (host::CrashMode mode : {host::CrashMode::kKeepUnsynced, host::CrashMode::kDropUnsynced}) {
    for (uint64_t torn :
         {uint64_t{0}, uint64_t{1}, uint64_t{8}, uint64_t{12}, uint64_t{20}, uint64_t{24},
          uint64_t{47}, uint64_t{48}, uint64_t{100}, record_end - 16, record_end - 1}) {
      CAPTURE(int(mode));
      CAPTURE(torn);
      Disk d;
      host::FaultInjectingStore fis(d.mem);
      RootSlots s = d.slots(fis);
      d.commit_epochs(s, 1, 3);
      fis.reset();
      fis.set_plan({.at_op = 1, .kind = host::FaultKind::kTornWrite, .torn_bytes = torn});
      CHECK_FALSE(s.commit(4, payload_for(4)).is_ok());
      CHECK(fis.crashed());
      d.mem.simulate_crash(mode);
      CHECK(d.loaded_epoch() == 3);
    }
  }
}

TEST_CASE("root slots fall back to the older slot when the newest is damaged") {
  Disk d;
  RootSlots s = d.slots();
  d.commit_epochs(s, 1, 4);  // slot 0: epoch 3, slot 1: epoch 4
  const Bytes good = raw(d.mem, "root");
  for (size_t off : {size_t{0}, size_t{7}, size_t{8}, size_t{12}, size_t{19}, size_t{20},
                     size_t{24}, size_t{47}, size_t{48}, size_t{150}, size_t{4000}, kSlot - 1}) {
    CAPTURE(off);
    Bytes bad = good;
    bad[kSlot + off] ^= 0x04;
    put_raw(d.mem, "root", bad);
    CHECK(d.loaded_epoch() == 3);
  }
  // Dropping the newest slot entirely (truncation) also falls back.
  put_raw(d.mem, "root", Bytes(good.begin(), good.begin() + long(kSlot)));
  CHECK(d.loaded_epoch() == 3);
  // Both slots damaged: corruption, with a reason for each.
  Bytes both = good;
  both[30] ^= 1;
  both[kSlot + 30] ^= 1;
  put_raw(d.mem, "root", both);
  auto rec = d.load();
  CHECK(rec.status().code() == Code::kCorruption);
  CHECK(rec.status().message().find("slot 0") != std::string::npos);
  CHECK(rec.status().message().find("slot 1") != std::string::npos);
  put_raw(d.mem, "root", Bytes(100, 0));
  CHECK(d.load().status().code() == Code::kCorruption);
}

TEST_CASE("root slots reject a slot copied to the other position") {
  Disk d;
  RootSlots s = d.slots();
  d.commit_epochs(s, 1, 2);  // slot 0: epoch 1, slot 1: epoch 2
  const Bytes good = raw(d.mem, "root");
  Bytes copied = good;
  std::copy(good.begin(), good.begin() + long(kSlot), copied.begin() + long(kSlot));
  put_raw(d.mem, "root", copied);
  auto rec = d.load();
  REQUIRE(rec.is_ok());
  CHECK(rec->slot == 0);
  // With slot 0 damaged, the copy is all that is left, and it must not be accepted.
  copied[40] ^= 1;
  put_raw(d.mem, "root", copied);
  CHECK(d.load().status().code() == Code::kCorruption);
  // Rewriting the copy's slot-index field does not help: the index is in the AD.
  util::put_u32(copied.data() + kSlot + 8, 1);
  put_raw(d.mem, "root", copied);
  CHECK(d.load().status().code() == Code::kCorruption);
}

TEST_CASE("root slots reject slots from another disk or sealed under another key") {
  Disk d;
  RootSlots s = d.slots();
  d.commit_epochs(s, 1, 3);  // slot 0: epoch 3, slot 1: epoch 2
  const Bytes ours = raw(d.mem, "root");
  CHECK(d.load(kOtherUuid).status().code() == Code::kCorruption);

  // Another disk (same key, other uuid) and another key (same uuid), both at epoch 10 in slot 1:
  // spliced into our slot 1, a higher epoch that must not win.
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    Disk other;
    if (variant == 0) other.key = d.key.clone();
    RootSlots os = other.slots(other.mem, variant == 0 ? kOtherUuid : kUuid);
    other.commit_epochs(os, 1, 10);
    const Bytes theirs = raw(other.mem, "root");
    Bytes spliced = ours;
    std::copy(theirs.begin() + long(kSlot), theirs.begin() + long(2 * kSlot),
              spliced.begin() + long(kSlot));
    put_raw(d.mem, "root", spliced);
    CHECK(d.loaded_epoch() == 3);
    put_raw(d.mem, "root", theirs);  // their whole file
    CHECK(d.load().status().code() == Code::kCorruption);
  }
}

TEST_CASE("root slots: a failed commit does not change which slot the next commit overwrites") {
  // EIO at the write (op 1) or at the sync (op 2) of epoch 3; then epoch 3 again, torn. If the
  // failure had flipped the target, the retry would tear slot 1 and destroy epoch 2.
  for (uint64_t fail_op : {uint64_t{1}, uint64_t{2}}) {
    CAPTURE(fail_op);
    Disk d;
    host::FaultInjectingStore fis(d.mem);
    RootSlots s = d.slots(fis);
    d.commit_epochs(s, 1, 2);  // slot 0: epoch 1, slot 1: epoch 2
    fis.reset();
    fis.set_plan({.at_op = fail_op, .kind = host::FaultKind::kIoError});
    CHECK(s.commit(3, payload_for(3)).status().code() == Code::kIoError);
    fis.reset();
    fis.set_plan({.at_op = 1, .kind = host::FaultKind::kTornWrite, .torn_bytes = 30});
    CHECK_FALSE(s.commit(3, payload_for(3)).is_ok());
    d.mem.simulate_crash(host::CrashMode::kKeepUnsynced);
    CHECK(d.loaded_epoch() == 2);
  }
  // And a plain retry after a failed commit succeeds into the same slot.
  Disk d;
  host::FaultInjectingStore fis(d.mem);
  RootSlots s = d.slots(fis);
  d.commit_epochs(s, 1, 2);
  fis.reset();
  fis.set_plan({.at_op = 1, .kind = host::FaultKind::kIoError});
  CHECK_FALSE(s.commit(3, payload_for(3)).is_ok());
  fis.reset();
  REQUIRE(s.commit(3, payload_for(3)).is_ok());
  auto rec = d.load();
  REQUIRE(rec.is_ok());
  CHECK(rec->epoch == 3);
  CHECK(rec->slot == 0);
}

}  // namespace
}  // namespace jindisk::log::testing
