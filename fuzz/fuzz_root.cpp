// Fuzz target: the root slots (host file "root", docs/format.md §2) and the root record and
// index root they carry.
//
// First input byte selects the mode:
//   0 raw:    the rest is the "root" file; RootSlots::load() parses both slots and stops at
//             the AEAD check (and must say so, never accept).
//   1 sealed: the rest describes two slots (header fields and payload plaintext); the harness
//             seals each payload with the fixed test key exactly as the format says, writes
//             the file, and load() must pick the well-formed slot with the highest epoch. Its
//             payload then goes to RootPayload::decode (the parser behind the MAC).
//   2 direct: the rest goes to RootPayload::decode and IndexRoot::decode.
// Whatever decodes must re-encode to the same bytes.
#include <cstring>

#include "crypto/aead.hpp"
#include "crypto/sodium.hpp"
#include "disk/root_record.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "log/root_slots.hpp"
#include "util/le.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr size_t kSlot = log::RootSlots::kSlotSize;
const log::Uuid kUuid = {0xd1, 0x5c, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
constexpr char kRootFile[] = "root";

const crypto::SecretKey& root_key() {
  static const crypto::SecretKey key = [] {
    std::array<uint8_t, 32> b{};
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(0x40 + i);
    return crypto::SecretKey::from_bytes(b);
  }();
  return key;
}

void check_payload(std::span<const uint8_t> payload) {
  auto p = disk::RootPayload::decode(payload);
  if (p.is_ok()) {
    check(p->encode() == std::vector<uint8_t>(payload.begin(), payload.end()),
          "root record does not re-encode to its bytes");
  } else {
    const Code c = p.status().code();
    check(c == Code::kCorruption || c == Code::kUnsupported, "root record: unexpected code",
          p.status().to_string());
  }
  auto r = index::IndexRoot::decode(payload);
  if (r.is_ok()) {
    std::vector<uint8_t> again;
    r->encode(again);
    check(again == std::vector<uint8_t>(payload.begin(), payload.end()),
          "index root does not re-encode to its bytes");
    check(r->next_file_id != 0, "index root with next_file_id 0 accepted");
  } else {
    check(r.status().code() == Code::kCorruption, "index root: unexpected code");
  }
}

// One slot as the sealed mode describes it.
struct SlotSpec {
  uint8_t flags = 0;  // bit0 absent, bit1 bad magic, bit2 nonzero padding, bit3 flip ciphertext
  uint32_t index = 0;
  uint64_t epoch = 0;
  uint32_t declared_len = 0;
  std::vector<uint8_t> payload;
};

SlotSpec read_spec(In& in, uint32_t position) {
  SlotSpec s;
  s.flags = in.u8();
  s.index = in.u8() & 1 ? 1 - position : position;  // usually the right slot
  s.epoch = in.u64();
  const uint16_t len = in.u16() % (log::RootSlots::kMaxPayload + 16);
  auto b = in.bytes(std::min<size_t>(len, log::RootSlots::kMaxPayload));
  s.payload.assign(b.begin(), b.end());
  s.declared_len = len;  // may disagree with the payload actually sealed
  return s;
}

void put_spec(Seed& seed, uint8_t flags, uint64_t epoch, std::span<const uint8_t> payload) {
  seed.u8(flags).u8(0).u64(epoch).u16(static_cast<uint16_t>(payload.size())).bytes(payload);
}

// Seals a slot like RootSlots::commit; returns whether load() must accept it.
bool build_slot(const SlotSpec& s, uint32_t position, std::span<uint8_t> out) {
  std::fill(out.begin(), out.end(), 0);
  if (s.flags & 1) return false;
  const char magic[] = "JDROOT01";
  std::memcpy(out.data(), magic, 8);
  if (s.flags & 2) out[3] ^= 0x20;
  util::put_u32(out.data() + 8, s.index);
  util::put_u64(out.data() + 12, s.epoch);
  util::put_u32(out.data() + 20, s.declared_len);
  std::array<uint8_t, 40> ad{};
  std::memcpy(ad.data(), out.data(), 24);
  std::memcpy(ad.data() + 24, kUuid.data(), 16);
  crypto::ObjectNonce nonce{};
  crypto::Tag tag{};
  uint8_t* ct = out.data() + 48;
  crypto::seal_object(root_key().bytes(), ad, s.payload, std::span<uint8_t>(ct, s.payload.size()),
                      nonce, tag);
  std::memcpy(out.data() + 24, nonce.data(), 24);
  std::memcpy(ct + s.payload.size(), tag.data(), 16);
  bool ok = !(s.flags & 2) && s.index == position && s.declared_len == s.payload.size();
  if ((s.flags & 4) && 48 + s.payload.size() + 16 < kSlot) out[kSlot - 1] = 1, ok = false;
  if ((s.flags & 8) && !s.payload.empty()) ct[s.payload.size() / 2] ^= 1, ok = false;
  return ok;
}

void run_sealed(In& in) {
  std::vector<uint8_t> file(2 * kSlot);
  SlotSpec specs[2] = {read_spec(in, 0), read_spec(in, 1)};
  bool valid[2];
  for (uint32_t i = 0; i < 2; ++i) {
    valid[i] = build_slot(specs[i], i, std::span<uint8_t>(file).subspan(i * kSlot, kSlot));
  }
  const size_t cut = in.u8() == 0xff ? in.u16() % (2 * kSlot) : file.size();  // torn file
  file.resize(cut);
  if (cut < kSlot) valid[0] = false;
  if (cut < 2 * kSlot) valid[1] = false;

  host::MemoryStore store;
  must(store.write_all(kRootFile, file), "write root");
  auto f = store.open(kRootFile, host::OpenMode::kExisting);
  must(f.status(), "open root");
  log::RootSlots slots(std::move(f).value(), root_key(), kUuid);
  auto rec = slots.load();
  check(rec.is_ok() == (valid[0] || valid[1]), "root slot acceptance disagrees with the format",
        rec.is_ok() ? "accepted" : rec.status().to_string());
  if (!rec.is_ok()) {
    check(rec.status().code() == Code::kCorruption, "root slots: unexpected code");
    return;
  }
  const uint32_t want = !valid[1] ? 0 : !valid[0] ? 1 : (specs[1].epoch > specs[0].epoch ? 1 : 0);
  check(rec->slot == want, "load() did not pick the newest valid slot");
  check(rec->epoch == specs[want].epoch, "load() returned the wrong epoch");
  check(rec->payload == specs[want].payload, "load() returned the wrong payload");
  check_payload(rec->payload);

  // The writer goes on from here: the next commit lands in the other slot and wins.
  if (rec->epoch < UINT64_MAX) {
    auto tag = slots.commit(rec->epoch + 1, rec->payload);
    must(tag.status(), "commit after load");
    auto f2 = store.open(kRootFile, host::OpenMode::kExisting);
    must(f2.status(), "reopen root");
    log::RootSlots again(std::move(f2).value(), root_key(), kUuid);
    auto rec2 = again.load();
    must(rec2.status(), "load after commit");
    check(rec2->epoch == rec->epoch + 1 && rec2->slot == 1 - rec->slot &&
              rec2->payload == rec->payload && rec2->tag == *tag,
          "commit after load is not what load returns next");
  }
}

void run_raw(std::span<const uint8_t> bytes) {
  host::MemoryStore store;
  must(store.write_all(kRootFile, bytes), "write root");
  auto f = store.open(kRootFile, host::OpenMode::kExisting);
  must(f.status(), "open root");
  log::RootSlots slots(std::move(f).value(), root_key(), kUuid);
  auto rec = slots.load();
  if (rec.is_ok()) check_payload(rec->payload);  // only if the fuzzer forged a tag
  else check(rec.status().code() == Code::kCorruption, "root slots: unexpected code");
}

void write_seeds(const std::string& dir) {
  disk::RootPayload p;
  p.uuid = kUuid;
  p.logical_blocks = 256;
  p.segment_blocks = 16;
  p.user_bytes_written = 40960;
  p.host_bytes_written = 99999;
  const auto empty_payload = p.encode();
  p.index.manifest.file_id = 4;
  p.index.manifest.blocks = 1;
  p.index.manifest.key.fill(7);
  p.index.manifest.file_tag.fill(9);
  p.index.wal_file_id = 5;
  p.index.wal_key.fill(3);
  p.index.wal_position.blocks = 2;
  p.index.wal_position.last_tag.fill(1);
  p.index.next_file_id = 6;
  const auto full_payload = p.encode();

  Seed sealed;
  sealed.u8(1);
  put_spec(sealed, 0, 7, full_payload);
  put_spec(sealed, 0, 6, empty_payload);
  write_seed(dir, "sealed-two-slots", sealed.out);
  Seed one;
  one.u8(1);
  put_spec(one, 1, 0, {});
  put_spec(one, 0, 1, empty_payload);
  write_seed(dir, "sealed-one-slot", one.out);

  // Raw: a real root file written by RootSlots::commit.
  host::MemoryStore store;
  auto f = store.open(kRootFile, host::OpenMode::kCreateNew);
  must(f.status(), "create root");
  log::RootSlots slots(std::move(f).value(), root_key(), kUuid);
  must(slots.commit(1, empty_payload).status(), "commit");
  must(slots.commit(2, full_payload).status(), "commit");
  auto bytes = store.read_all(kRootFile);
  must(bytes.status(), "read root");
  Seed raw;
  raw.u8(0).bytes(*bytes);
  write_seed(dir, "raw-root-file", raw.out);

  Seed direct;
  direct.u8(2).bytes(full_payload);
  write_seed(dir, "direct-payload", direct.out);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  switch (in.u8() % 3) {
    case 0: run_raw(in.rest()); break;
    case 1: run_sealed(in); break;
    default: check_payload(in.rest()); break;
  }
  return 0;
}
