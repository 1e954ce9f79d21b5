// Fuzz target: the whole open path of a secure disk on tampered host files.
//
// At start-up the harness creates a small disk in a MemoryStore (key file, 16-block segments,
// a tiny memtable so that WAL, SSTs, manifest and several segments all exist), writes and
// flushes three times and keeps a copy of the host directory after each flush, plus what
// every block read at each flushed state. Each input is a list of edits an attacker makes to a
// copy of the final directory: flip or overwrite bytes, truncate, append, delete a file,
// replace a file (or the whole directory) by an older copy, plant a new file. Then
// SecureDisk::open runs on it, and:
//   - a refusal must be one of the codes for damage (corruption, rollback, unsupported, wrong
//     key, no disk), never a crash or a hang;
//   - an accepted disk must read every block either as kCorruption (EIO) or as data, and all
//     blocks that read must match one single flushed state (integrity + atomicity: never a
//     block nobody wrote, never a mix of states);
//   - the cleaner (which trusts nothing in the unauthenticated segment summaries it reads)
//     then runs a few forced steps: every block that read before reads the same after;
//   - check() and close() must not crash.
#include <cstring>
#include <functional>
#include <string_view>

#include "crypto/sodium.hpp"
#include "disk/secure_disk.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "util/id_name.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr uint64_t kBlocks = 256;
constexpr size_t kMaxEdits = 8;
const uint8_t kKey[32] = {0x6b, 0x65, 0x79};

using Image = std::vector<uint64_t>;  // a hash of each block's content

// Not hand-rolled: the harness is instrumented for coverage, libstdc++'s hash is not.
uint64_t hash_block(std::span<const uint8_t> b) {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

OpenOptions open_options() {
  OpenOptions o;
  o.anchor = AnchorMode::kNone;
  o.background_compaction = false;
  o.background_cleaning = false;  // cleaning runs in the harness (clean_step), deterministically
  o.space_reserve_bytes = 4 * 4096;  // small, so each copy of the directory stays small
  o.memtable_entries = 16;
  o.cache_bytes = 1 << 20;
  o.write_buffer_bytes = 64 * 4096;
  o.on_warning = [](std::string_view) {};
  return o;
}

struct Fixture {
  std::unique_ptr<host::MemoryStore> final_store;
  std::vector<std::unique_ptr<host::MemoryStore>> snapshots;  // after each flush
  std::vector<Image> states;  // every state a successful open may show (incl. empty)
};

Image read_image(disk::SecureDisk& d) {
  Image img(kBlocks);
  std::vector<uint8_t> b(4096);
  for (uint64_t lba = 0; lba < kBlocks; ++lba) {
    must(d.read(lba, b), "fixture read");
    img[lba] = hash_block(b);
  }
  return img;
}

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    fx->final_store = std::make_unique<host::MemoryStore>();
    CreateOptions co;
    co.logical_bytes = kBlocks * 4096;
    co.kdf = KdfStrength::kTesting;
    co.segment_blocks = 16;
    auto d = disk::SecureDisk::create(*fx->final_store, KeySource::key_file_bytes(kKey), co,
                                      open_options());
    must(d.status(), "create fixture disk");
    fx->states.push_back(read_image(**d));
    std::vector<uint8_t> b(4096);
    auto write = [&](uint64_t lba, int gen) {
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(lba * 7 + gen * 13 + i);
      must((*d)->write(lba, b), "fixture write");
    };
    for (uint64_t lba = 0; lba < 40; ++lba) write(lba, 1);
    must((*d)->flush(), "flush 1");
    fx->states.push_back(read_image(**d));
    fx->snapshots.push_back(fx->final_store->clone());
    for (uint64_t lba = 20; lba < 70; ++lba) write(lba, 2);
    must((*d)->trim(5, 3), "trim");
    write(200, 2);
    must((*d)->flush(), "flush 2");
    fx->states.push_back(read_image(**d));
    fx->snapshots.push_back(fx->final_store->clone());
    for (uint64_t lba = 0; lba < 8; ++lba) write(lba * 3, 3);
    must((*d)->trim(60, 2), "trim");
    must((*d)->flush(), "flush 3");
    fx->states.push_back(read_image(**d));
    must((*d)->close(), "close fixture");
    return fx;
  }();
  return *f;
}

std::string pick_name(host::MemoryStore& store, uint8_t k) {
  auto names = store.list();
  must(names.status(), "list");
  if (names->empty()) return "header";
  std::sort(names->begin(), names->end());
  return (*names)[k % names->size()];
}

std::vector<uint8_t> content(host::MemoryStore& store, const std::string& name) {
  auto b = store.read_all(name);
  return b.is_ok() ? *b : std::vector<uint8_t>{};
}

void apply_edit(In& in, std::unique_ptr<host::MemoryStore>& store) {
  Fixture& fx = fixture();
  const uint8_t op = in.u8() % 8;
  const std::string name = pick_name(*store, in.u8());
  std::vector<uint8_t> bytes = content(*store, name);
  switch (op) {
    case 0: {  // flip bits of one byte
      const uint32_t at = in.u32();
      const uint8_t x = in.u8() | 1;
      if (!bytes.empty()) bytes[at % bytes.size()] ^= x;
      break;
    }
    case 1: {  // overwrite a run
      const uint32_t at = in.u32() % (bytes.size() + 1);
      auto b = in.bytes(in.u8());
      if (bytes.size() < at + b.size()) bytes.resize(at + b.size());
      if (!b.empty()) std::memcpy(bytes.data() + at, b.data(), b.size());
      break;
    }
    case 2:  // truncate
      bytes.resize(in.u32() % (bytes.size() + 1));
      break;
    case 3:  // delete
      (void)store->remove(name);
      return;
    case 4: {  // replace by an older copy (or delete if it did not exist then)
      auto& snap = *fx.snapshots[in.u8() % fx.snapshots.size()];
      auto old = snap.read_all(name);
      if (!old.is_ok()) {
        (void)store->remove(name);
        return;
      }
      bytes = *old;
      break;
    }
    case 5: {  // plant a new file named like an engine file
      static const char* kPrefixes[] = {"seg-", "wal-", "sst-", "man-"};
      const std::string planted = util::id_name(kPrefixes[in.u8() % 4], in.u64() % 64);
      auto b = in.bytes(in.u16() % 9000);
      must(store->write_all(planted, b), "plant");
      return;
    }
    case 6: {  // append
      auto b = in.bytes(in.u8());
      bytes.insert(bytes.end(), b.begin(), b.end());
      break;
    }
    default:  // the whole directory as it was after an earlier flush
      store = fx.snapshots[in.u8() % fx.snapshots.size()]->clone();
      return;
  }
  must(store->write_all(name, bytes), "edit");
}

void write_seeds(const std::string& dir) {
  auto put = [&](const std::string& name, const Seed& s) { write_seed(dir, name, s.out); };
  put("no-edit", Seed{});
  // One edit of each kind on a few files (sorted names: header, lock, man-, root, seg-, sst-,
  // wal-; the index picks modulo the count).
  for (uint8_t op = 0; op < 8; ++op) {
    for (uint8_t file : {0, 3, 4, 7}) {
      Seed s;
      s.u8(op).u8(file);
      if (op == 0 || op == 1 || op == 2) s.u32(4100 + file);
      if (op == 0) s.u8(0x10);
      if (op == 1 || op == 6) s.u8(4).u32(0xdeadbeef);
      if (op == 4 || op == 7) s.u8(file);
      if (op == 5) s.u8(file).u64(file + 1).u16(4).u32(1);
      put("edit-" + std::to_string(op) + "-" + std::to_string(file), s);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  fixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  Fixture& fx = fixture();
  std::unique_ptr<host::MemoryStore> store = fx.final_store->clone();
  for (size_t i = 0; i < kMaxEdits && !in.empty(); ++i) apply_edit(in, store);

  auto d = disk::SecureDisk::open(*store, KeySource::key_file_bytes(kKey), open_options());
  if (!d.is_ok()) {
    const Code c = d.status().code();
    check(c == Code::kCorruption || c == Code::kRollback || c == Code::kUnsupported ||
              c == Code::kWrongKey || c == Code::kNotFound,
          "open refused with an unexpected code", d.status().to_string());
    return 0;
  }
  // Every readable block must come from one and the same flushed state.
  std::vector<bool> candidate(fx.states.size(), true);
  std::vector<uint8_t> b(4096);
  Image before(kBlocks, 0);
  std::vector<bool> readable(kBlocks, false);
  for (uint64_t lba = 0; lba < kBlocks; ++lba) {
    Status st = (*d)->read(lba, b);
    if (!st.is_ok()) {
      check(st.code() == Code::kCorruption, "read failed with an unexpected code", st.to_string());
      continue;
    }
    const uint64_t h = hash_block(b);
    readable[lba] = true;
    before[lba] = h;
    bool any = false;
    for (size_t s = 0; s < fx.states.size(); ++s) {
      candidate[s] = candidate[s] && fx.states[s][lba] == h;
      any = any || candidate[s];
    }
    check(any, "an opened disk shows data of no single flushed state",
          "lba " + std::to_string(lba));
  }
  // Clean: segment summaries may be tampered with; moving blocks must never change one.
  for (int step = 0; step < 4; ++step) {
    auto did = (*d)->clean_step(true);
    if (!did.is_ok() || !*did) break;
  }
  for (uint64_t lba = 0; lba < kBlocks; ++lba) {
    if (!readable[lba]) continue;
    Status st = (*d)->read(lba, b);
    check(st.is_ok(), "a block that read before cleaning fails after it",
          "lba " + std::to_string(lba) + ": " + st.to_string());
    check(hash_block(b) == before[lba], "cleaning changed a block", "lba " + std::to_string(lba));
  }
  auto report = (*d)->check([](uint64_t, uint64_t) {});
  if (!report.is_ok()) {
    check(report.status().code() == Code::kCorruption || report.status().code() == Code::kIoError,
          "check() failed with an unexpected code", report.status().to_string());
  }
  (void)(*d)->close();
  return 0;
}
