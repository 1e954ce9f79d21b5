// disk-security: what the host directory reveals and what it can be made to show.
//  - confidentiality: no written plaintext, no distinctive data word, no LBA, no passphrase in
//    any host file, also while unflushed data has been drained to the host;
//  - anonymity: a rewritten LBA moves to a new host block with new ciphertext; identical
//    plaintext never gives identical ciphertext; placement does not follow logical order;
//  - sync atomicity: a copy of the host taken after ANY write call opens to exactly the last
//    flushed state, never to an intermediate one (AtomicDisk's eviction attack).
#include <doctest/doctest.h>
#include <string.h>

#include <cstdio>
#include <random>

#include "disk_test_util.hpp"
#include "util/le.hpp"

namespace jindisk::disk::test {
namespace {

constexpr uint64_t kMarkerBase = 0x5EC2E7DA7A000000ull;  // distinctive 8-byte data words

std::vector<uint8_t> secret_block(uint64_t lba) {
  std::vector<uint8_t> b(kBlockSize);
  char text[32];
  const int n = std::snprintf(text, sizeof text, "SECRET-PLAINTEXT-%06llu|",
                              static_cast<unsigned long long>(lba));
  for (size_t i = 0; i < kBlockSize; ++i) b[i] = static_cast<uint8_t>(text[i % n]);
  util::put_u64(b.data() + 2048, kMarkerBase + lba);
  return b;
}

std::vector<uint8_t> u64_le(uint64_t v) {
  std::vector<uint8_t> b(8);
  util::put_u64(b.data(), v);
  return b;
}

std::vector<uint8_t> text_bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

// Every forbidden needle absent from every file; returns a description of the first hit.
// What must never appear on the host: text strings, and 8-byte words (data words and LBAs).
struct Needles {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> texts;
  std::map<uint64_t, std::string> words;  // little-endian u64 value -> description
  size_t size() const { return texts.size() + words.size(); }
};

// The first needle found in any host file, described ("" if none). The words are found in one
// pass per file: every 8-byte window is looked up (after a cheap filter on its top bytes, so
// that the scan stays fast in unoptimised sanitizer builds).
std::string find_leak(MemoryStore& store, const Needles& needles) {
  for (const auto& name : list_names(store)) {
    const auto bytes = raw(store, name);
    if (bytes.empty()) continue;  // (memmem must not see the null data() of an empty vector)
    for (const auto& [what, needle] : needles.texts) {
      if (::memmem(bytes.data(), bytes.size(), needle.data(), needle.size()) != nullptr) {
        return what + " found in " + name;
      }
    }
    // A segment's summary (the first 4096 bytes with the 16-block segments used here) is 8-byte
    // fields: random masked entries, and zeros for slots never written and for the padding. A
    // window straddling a random field and a zero one is a few random bytes then zeros, which
    // matches a small LBA by chance (p = 2^-16 per needle): search the summary field by field,
    // which is where an LBA stored in it would be.
    const size_t summary_end =
        name.starts_with("seg-") ? disk::SegmentSummary::area_bytes(16) : 0;
    for (size_t i = 0; i + 8 <= bytes.size(); ++i) {
      if (i < summary_end && i % 8 != 0) continue;
      const uint8_t top = bytes[i + 7];
      if (top != 0 && top != static_cast<uint8_t>(kMarkerBase >> 56)) continue;
      auto it = needles.words.find(util::get_u64(bytes.data() + i));
      if (it != needles.words.end()) {
        return it->second + " found in " + name + " at offset " + std::to_string(i);
      }
    }
  }
  return "";
}

// (file, block index) -> 4096 bytes, for every 4096-byte block of every data segment.
std::map<std::pair<std::string, uint64_t>, std::vector<uint8_t>> segment_blocks(MemoryStore& s) {
  std::map<std::pair<std::string, uint64_t>, std::vector<uint8_t>> out;
  for (const auto& name : names_with_prefix(s, "seg-")) {
    const auto b = raw(s, name);
    // The tests here use 16-block segments; slot i starts after the segment summary.
    const uint64_t base = disk::SegmentSummary::area_bytes(16);
    for (uint64_t i = 0; base + i * kBlockSize < b.size(); ++i) {
      const auto begin = b.begin() + static_cast<ptrdiff_t>(base + i * kBlockSize);
      const auto end = b.begin() + static_cast<ptrdiff_t>(
                                       std::min<uint64_t>(b.size(), base + (i + 1) * kBlockSize));
      out[{name, i}] = std::vector<uint8_t>(begin, end);
    }
  }
  return out;
}

// Segment blocks whose bytes differ between two snapshots (new blocks included).
std::set<std::pair<std::string, uint64_t>> changed_blocks(
    const std::map<std::pair<std::string, uint64_t>, std::vector<uint8_t>>& before,
    const std::map<std::pair<std::string, uint64_t>, std::vector<uint8_t>>& after) {
  std::set<std::pair<std::string, uint64_t>> out;
  for (const auto& [key, bytes] : after) {
    // A hole a write past a segment's end left behind is not a placement.
    if (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; })) continue;
    auto it = before.find(key);
    if (it == before.end() || it->second != bytes) out.insert(key);
  }
  return out;
}

uint64_t hba_of(SecureDisk& d, uint64_t lba) {
  auto ref = d.index_for_tests().get(lba);
  REQUIRE(ref.is_ok());
  REQUIRE(ref->has_value());
  return (*ref)->hba;
}

}  // namespace

TEST_CASE("no host file contains written plaintext, data words, LBAs or the passphrase") {
  DiskConfig cfg;
  // 2^24 blocks (thin: only written blocks take memory), so the LBAs searched for below have
  // three significant bytes: "two random bytes followed by zeros", which ends many sealed
  // objects, would match a two-byte LBA by chance once in a few runs.
  cfg.logical_bytes = 64ull << 30;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;
  cfg.write_buffer_bytes = 16u << 10;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  // Distinctive LBAs, minus any whose u64 happens to be a field of the plaintext header
  // (written before any data; e.g. the Argon2 memory limit 8192).
  const auto header = raw(store, "header");
  std::vector<uint64_t> lbas;
  for (uint64_t i = 0; i < 240; ++i) {
    const uint64_t lba = 0x135700 + i * 0x2B00 + (i % 7) * 0x1000 + i;
    if (!contains_bytes(header, u64_le(lba))) lbas.push_back(lba);
  }
  REQUIRE(lbas.size() >= 230);
  Needles needles;
  needles.texts = {
      {"the plaintext string", text_bytes("SECRET-PLAINTEXT")},
      {"part of the plaintext string", text_bytes("PLAINTEXT-0")},
      {"the passphrase", text_bytes(kPassphrase)},
  };
  for (uint64_t lba : lbas) {
    REQUIRE(lba < cfg.blocks());
    needles.words[kMarkerBase + lba] = "data word of lba " + std::to_string(lba);
    needles.words[lba] = "lba " + std::to_string(lba) + " as a u64";
  }
  uint64_t checks = 0;
  for (size_t i = 0; i < lbas.size(); ++i) {
    JD_REQUIRE_OK(d->write(lbas[i], secret_block(lbas[i])));
    if (i % 40 == 39) JD_REQUIRE_OK(d->flush());
    if (i % 10 == 9) {
      // Unflushed blocks are drained to the host under buffer pressure: sealed there too.
      const std::string leak = find_leak(store, needles);
      CHECK_MESSAGE(leak.empty(), "after write " << i << ": " << leak);
      ++checks;
    }
  }
  // Rewrites and trims leave stale ciphertext behind, never plaintext.
  for (size_t i = 0; i < lbas.size(); i += 3)
    JD_REQUIRE_OK(d->write(lbas[i], secret_block(lbas[i])));
  JD_REQUIRE_OK(d->trim(lbas[5], 1));
  JD_REQUIRE_OK(d->index_for_tests().compact_now());
  JD_REQUIRE_OK(d->flush());
  close_disk(d);
  const std::string leak = find_leak(store, needles);
  CHECK_MESSAGE(leak.empty(), "after close: " << leak);
  // The test can see plaintext where it is: the disk still reads it back.
  d = open_disk(store, cfg);
  std::vector<uint8_t> got(kBlockSize);
  JD_REQUIRE_OK(d->read(lbas[7], got));
  CHECK(got == secret_block(lbas[7]));
  // The search itself works: planted plaintext, a data word and an LBA are found.
  {
    auto bait = store.clone();
    put_raw(*bait, "bait", secret_block(lbas[3]));
    CHECK(find_leak(*bait, needles).find("plaintext") != std::string::npos);
    std::vector<uint8_t> word(100, 0xEE);
    util::put_u64(word.data() + 37, kMarkerBase + lbas[9]);
    put_raw(*bait, "bait", word);
    CHECK(find_leak(*bait, needles).find("data word") != std::string::npos);
    util::put_u64(word.data() + 37, lbas[11]);
    put_raw(*bait, "bait", word);
    CHECK(find_leak(*bait, needles).find("as a u64") != std::string::npos);
  }
  MESSAGE("searched all host files for " << needles.size() << " needles, " << checks + 1
                                         << " times");
}

TEST_CASE("rewriting an LBA moves it to a new host block with new ciphertext") {
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 16;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  // Some unrelated data first, so the LBA is not alone.
  JD_REQUIRE_OK(d->write(0, pattern(0, 40, 1)));
  JD_REQUIRE_OK(d->flush());
  constexpr uint64_t kLba = 77;
  const auto data = pattern(kLba, 1, 99);  // the same plaintext every time
  std::set<std::pair<std::string, uint64_t>> previous;
  std::vector<uint8_t> previous_cipher;
  uint64_t previous_hba = UINT64_MAX;
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    const auto before = segment_blocks(store);
    JD_REQUIRE_OK(d->write(kLba, data));
    JD_REQUIRE_OK(d->flush());
    const auto after = segment_blocks(store);
    const auto place = changed_blocks(before, after);
    // One logical block written: exactly one host block changed.
    REQUIRE(place.size() == 1);
    const uint64_t hba = hba_of(*d, kLba);
    CHECK(hba != previous_hba);
    if (!previous.empty()) {
      CHECK(place != previous);
      // The previous place still holds the previous ciphertext (it was not rewritten in place)
      // and the two ciphertexts of the same plaintext differ.
      auto old_place = after.find(*previous.begin());
      REQUIRE(old_place != after.end());
      CHECK(old_place->second == previous_cipher);
      CHECK(after.at(*place.begin()) != previous_cipher);
    }
    previous = place;
    previous_cipher = after.at(*place.begin());
    previous_hba = hba;
  }
  std::vector<uint8_t> got(kBlockSize);
  JD_REQUIRE_OK(d->read(kLba, got));
  CHECK(got == data);
}

TEST_CASE("identical plaintext in many blocks never gives identical ciphertext") {
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 16;
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  const std::vector<uint8_t> same(kBlockSize, 0x42);
  const std::vector<uint8_t> zeros(kBlockSize, 0);
  for (uint64_t lba = 100; lba < 164; ++lba) JD_REQUIRE_OK(d->write(lba, same));
  for (uint64_t lba = 200; lba < 232; ++lba) JD_REQUIRE_OK(d->write(lba, zeros));  // zeros too
  JD_REQUIRE_OK(d->flush());
  for (uint64_t lba = 100; lba < 132; ++lba) JD_REQUIRE_OK(d->write(lba, same));  // rewrites
  JD_REQUIRE_OK(d->flush());
  const auto blocks = segment_blocks(store);
  std::set<std::vector<uint8_t>> seen;
  uint64_t nonzero = 0, dups = 0;
  for (const auto& [key, bytes] : blocks) {
    if (bytes.size() == kBlockSize &&
        std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; })) {
      continue;  // a hole in a sparse segment
    }
    ++nonzero;
    if (!seen.insert(bytes).second) ++dups;
  }
  // Every live block is there (old versions of the rewritten ones may be gone with their
  // emptied segments).
  CHECK(nonzero >= d->info().live_blocks);
  CHECK(d->info().live_blocks == 64 + 32);
  CHECK(dups == 0);
  // Nor does a host block hold the plaintext.
  CHECK(seen.count(same) == 0);
}

TEST_CASE("host placement does not follow logical order") {
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 64;
  cfg.write_buffer_bytes = 1u << 20;  // one drain for the whole run
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  JD_REQUIRE_OK(d->write(300, pattern(300, 64, 1)));
  JD_REQUIRE_OK(d->flush());
  std::vector<uint64_t> hbas;
  for (uint64_t lba = 300; lba < 364; ++lba) hbas.push_back(hba_of(*d, lba));
  CHECK(!std::is_sorted(hbas.begin(), hbas.end()));
  CHECK(!std::is_sorted(hbas.rbegin(), hbas.rend()));
  CHECK(std::set<uint64_t>(hbas.begin(), hbas.end()).size() == 64);
}

TEST_CASE("a copy of the host taken after any write call opens to exactly the last flushed state") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 1u << 20;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 32;           // memtable dumps between flushes
  cfg.write_buffer_bytes = 16u << 10;  // drains between flushes
  MemoryStore store;
  DiskPtr d = create_disk(store, cfg);
  RefState live, flushed;
  uint64_t version = 0, copies = 0, host_changed_between_flushes = 0, flushes = 0;
  auto last_snapshot = snapshot_files(store);
  const uint64_t ops = scaled(400, 120);
  auto check_copy = [&](uint64_t i, const std::string& after, const RefState& want) {
    auto copy = store.clone();
    auto c = try_open(*copy, cfg);
    REQUIRE_MESSAGE(c.is_ok(), "seed " << seed << " op " << i << " (" << after
                                       << "): the copy does not open: " << c.status().to_string());
    const auto content = read_device(**c);
    const auto bad = first_mismatch(content, want);
    REQUIRE_MESSAGE(!bad, "seed " << seed << " op " << i << " (" << after
                                  << "): the copy shows an unflushed state (lba " << *bad << ")");
    ++copies;
  };
  for (uint64_t i = 0; i < ops; ++i) {
    const uint64_t r = rng() % 100;
    std::string what = "write";
    if (r < 75) {
      const uint64_t n = 1 + rng() % 6;
      const uint64_t lba = rng() % (cfg.blocks() - n + 1);
      JD_REQUIRE_OK(d->write(lba, pattern(lba, n, ++version)));
      live.write(lba, n, version);
    } else if (r < 85) {
      const uint64_t n = 1 + rng() % 8;
      const uint64_t lba = rng() % (cfg.blocks() - n + 1);
      JD_REQUIRE_OK(d->trim(lba, n));
      live.trim(lba, n);
      what = "trim";
    } else if (r < 90) {
      JD_REQUIRE_OK(d->index_for_tests().compact_now());
      what = "compaction";
    } else {
      JD_REQUIRE_OK(d->flush());
      flushed = live;
      ++flushes;
      check_copy(i, "flush", flushed);
      last_snapshot = snapshot_files(store);
      continue;
    }
    if (snapshot_files(store) != last_snapshot) ++host_changed_between_flushes;
    check_copy(i, what, flushed);
  }
  MESSAGE(copies << " host copies opened, " << flushes
                 << " flushes; the host changed without a "
                    "flush before "
                 << host_changed_between_flushes << " of them");
  CHECK(flushes >= 5);
  // The attack had something to find: unflushed data did reach the host.
  CHECK(host_changed_between_flushes > ops / 10);
}

}  // namespace jindisk::disk::test
