// Fuzz target: the chain log (the index WAL container, docs/format.md §5) and the WAL records
// it carries (§6).
//
// First input byte selects the mode:
//   0 raw:    log id, committed position (block count, last tag) and the file bytes come from
//             the input; ChainLog::open must reject (AEAD check) without visiting anything.
//   1 sealed: the input gives each block's plaintext (record count, length-prefixed records,
//             padding: the framing parse_block checks behind the MAC); the harness seals the
//             blocks into a correct chain with the test key, and open() must accept exactly
//             when a reference parser written from docs/format.md accepts every block, and
//             must visit exactly the records it finds. Records also go to decode_wal_record.
//             After an accepted open, an append + reopen must return the old records and the
//             new one.
#include <cstring>
#include <limits>

#include "crypto/aead.hpp"
#include "crypto/sodium.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "index/entry.hpp"
#include "index/wal_format.hpp"
#include "log/chain_log.hpp"
#include "util/le.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kPlain = kBlock - 24 - 16;
constexpr size_t kMaxRecord = log::ChainLog::kMaxRecordSize;
constexpr char kName[] = "wal-0000000000000005";
constexpr size_t kMaxBlocks = 8;

const crypto::KeyBytes kKey = [] {
  crypto::KeyBytes k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x90 ^ i);
  return k;
}();

using Records = std::vector<std::vector<uint8_t>>;

// The block framing as docs/format.md states it: u32 count, then count × (u16 length 1..max,
// bytes), then zeros. Returns false if the block breaks it.
bool reference_parse(std::span<const uint8_t> plain, Records& out) {
  if (plain.size() < 4) return false;
  const uint32_t count = util::get_u32(plain.data());
  size_t pos = 4;
  for (uint32_t i = 0; i < count; ++i) {
    if (plain.size() - pos < 2) return false;
    const uint16_t len = util::get_u16(plain.data() + pos);
    pos += 2;
    if (len == 0 || len > kMaxRecord || plain.size() - pos < len) return false;
    out.emplace_back(plain.begin() + pos, plain.begin() + pos + len);
    pos += len;
  }
  for (; pos < plain.size(); ++pos) {
    if (plain[pos] != 0) return false;
  }
  return true;
}

void check_wal_record(std::span<const uint8_t> rec) {
  auto e = index::decode_wal_record(rec);
  if (!e.is_ok()) {
    check(e.status().code() == Code::kCorruption, "WAL record: unexpected code");
    return;
  }
  std::vector<uint8_t> again;
  index::encode_wal_record(*e, again);
  check(again == std::vector<uint8_t>(rec.begin(), rec.end()), "WAL record does not re-encode");
}

std::unique_ptr<host::File> open_file(host::Store& store) {
  auto f = store.open(kName, host::OpenMode::kCreateOrOpen);
  must(f.status(), "open log file");
  return std::move(f).value();
}

Result<log::ChainLog> open_log(host::Store& store, uint64_t log_id,
                               const log::ChainPosition& pos, Records& seen) {
  return log::ChainLog::open(open_file(store), kKey, log_id, pos,
                             [&](std::span<const uint8_t> rec) {
                               seen.emplace_back(rec.begin(), rec.end());
                               check_wal_record(rec);
                               return Status::ok();
                             });
}

void run_raw(In& in) {
  const uint64_t log_id = in.u64();
  log::ChainPosition pos;
  pos.blocks = in.u64();
  if (in.u8() & 1) pos.blocks %= 16;  // mostly a plausible count
  in.fill(pos.last_tag);
  host::MemoryStore store;
  must(store.write_all(kName, in.rest()), "write log");
  Records seen;
  auto log = open_log(store, log_id, pos, seen);
  if (!log.is_ok()) {
    check(seen.empty(), "records of a rejected log were visited");
    check(log.status().code() == Code::kCorruption, "chain log: unexpected code",
          log.status().to_string());
  }
}

void run_sealed(In& in) {
  const uint64_t log_id = in.u8();
  const uint8_t flags = in.u8();  // bit0: commit one block less than written (stale tail)
  const size_t n = 1 + in.u8() % kMaxBlocks;
  std::vector<uint8_t> file(n * kBlock);
  log::ChainPosition pos;
  crypto::Tag prev{};
  Records expected;
  bool framing_ok = true;
  const size_t committed = (flags & 1) && n > 1 ? n - 1 : n;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<uint8_t> plain = padded_block(in, kPlain);
    if (i < committed) framing_ok = reference_parse(plain, expected) && framing_ok;
    std::array<uint8_t, 40> ad{};
    std::memcpy(ad.data(), "JDCHAIN1", 8);
    util::put_u64(ad.data() + 8, log_id);
    util::put_u64(ad.data() + 16, i);
    std::memcpy(ad.data() + 24, prev.data(), 16);
    crypto::ObjectNonce nonce{};
    crypto::Tag tag{};
    uint8_t* blk = file.data() + i * kBlock;
    crypto::seal_object(kKey, ad, plain, std::span<uint8_t>(blk + 24, kPlain), nonce, tag);
    std::memcpy(blk, nonce.data(), 24);
    std::memcpy(blk + 24 + kPlain, tag.data(), 16);
    prev = tag;
    if (i + 1 == committed) pos = {committed, tag};
  }
  host::MemoryStore store;
  must(store.write_all(kName, file), "write log");
  Records seen;
  auto log = open_log(store, log_id, pos, seen);
  check(log.is_ok() == framing_ok, "chain log acceptance disagrees with the format",
        log.is_ok() ? "accepted" : log.status().to_string());
  if (!log.is_ok()) {
    check(seen.empty(), "records of a rejected log were visited");
    return;
  }
  check(seen == expected, "chain log visited other records than the blocks hold");

  // Append after the committed prefix (overwriting any stale tail), reopen, compare.
  std::vector<uint8_t> extra = {index::kWalTombstone, 1, 2, 3, 4, 5, 6, 7, 8};
  must(log->append(extra), "append");
  must(log->sync(), "sync");
  const log::ChainPosition pos2 = log->position();
  check(pos2.blocks == pos.blocks + 1, "append did not add one block");
  Records seen2;
  auto again = open_log(store, log_id, pos2, seen2);
  must(again.status(), "reopen after append");
  expected.push_back(extra);
  check(seen2 == expected, "reopened log lost or changed records");
}

void write_seeds(const std::string& dir) {
  // Sealed mode: block plaintexts as ChainLog writes them, holding WAL records.
  auto block_of = [](const Records& recs) {
    std::vector<uint8_t> plain(kPlain, 0);
    util::put_u32(plain.data(), static_cast<uint32_t>(recs.size()));
    size_t pos = 4;
    for (const auto& r : recs) {
      util::put_u16(plain.data() + pos, static_cast<uint16_t>(r.size()));
      std::memcpy(plain.data() + pos + 2, r.data(), r.size());
      pos += 2 + r.size();
    }
    return plain;
  };
  Records recs;
  for (uint64_t lba = 0; lba < 40; ++lba) {
    index::Entry e;
    e.lba = lba * 3;
    if (lba % 5 == 4) {
      e.ref = index::tombstone_ref();
    } else {
      e.ref.hba = 1000 + lba;
      e.ref.key.fill(static_cast<uint8_t>(lba));
      e.ref.tag.fill(static_cast<uint8_t>(~lba));
    }
    std::vector<uint8_t> r;
    index::encode_wal_record(e, r);
    recs.push_back(r);
  }
  Seed one;
  one.u8(1).u8(5).u8(0).u8(0);
  put_padded_block(one, block_of(Records(recs.begin(), recs.begin() + 10)));
  write_seed(dir, "sealed-one-block", one.out);
  Seed three;
  three.u8(1).u8(5).u8(1).u8(2);  // three blocks, the last one a stale tail
  put_padded_block(three, block_of(Records(recs.begin(), recs.begin() + 30)));
  put_padded_block(three, block_of(Records(recs.begin() + 30, recs.end())));
  put_padded_block(three, block_of({std::vector<uint8_t>(kMaxRecord, 0xab)}));
  write_seed(dir, "sealed-three-blocks", three.out);

  // Raw mode: a real two-block log written by ChainLog.
  host::MemoryStore store;
  auto log = log::ChainLog::create(open_file(store), kKey, 5);
  for (const auto& r : recs) must(log.append(r), "append");
  must(log.sync(), "sync");
  must(log.append(std::vector<uint8_t>(kMaxRecord, 1)), "append");
  must(log.sync(), "sync");
  const log::ChainPosition pos = log.position();
  auto bytes = store.read_all(kName);
  must(bytes.status(), "read log");
  Seed raw;
  raw.u8(0).u64(5).u64(pos.blocks).u8(1).bytes(pos.last_tag).bytes(*bytes);
  write_seed(dir, "raw-log-file", raw.out);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  if (in.u8() & 1) run_sealed(in);
  else run_raw(in);
  return 0;
}
