// Encodings of the index layer: the index root, file names, WAL records, SST and manifest
// blocks. Every decoder gets short, garbled and inconsistent input and must say kCorruption.
#include <doctest/doctest.h>

#include <random>

#include "index/entry.hpp"
#include "index/file_names.hpp"
#include "index/sst_format.hpp"
#include "index/wal_format.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

IndexRoot sample_root() {
  IndexRoot r;
  r.manifest.file_id = 7;
  r.manifest.blocks = 3;
  r.manifest.key.fill(0x11);
  r.manifest.file_tag.fill(0x22);
  r.wal_file_id = 9;
  r.wal_key.fill(0x33);
  r.wal_position.blocks = 5;
  r.wal_position.last_tag.fill(0x44);
  r.next_file_id = 12;
  return r;
}

TEST_CASE("index root round-trips through its fixed encoding") {
  const IndexRoot root = sample_root();
  Bytes enc;
  root.encode(enc);
  REQUIRE(enc.size() == IndexRoot::kEncodedSize);
  auto back = IndexRoot::decode(enc);
  REQUIRE_MESSAGE(back.is_ok(), back.status().to_string());
  CHECK(*back == root);

  // The empty root of a new index round-trips too.
  Bytes empty;
  IndexRoot{}.encode(empty);
  auto e = IndexRoot::decode(empty);
  REQUIRE(e.is_ok());
  CHECK(*e == IndexRoot{});
}

TEST_CASE("index root decode rejects short, long and inconsistent input") {
  Bytes enc;
  sample_root().encode(enc);
  for (size_t n : {size_t{0}, size_t{1}, enc.size() - 1}) {
    CHECK(IndexRoot::decode(std::span<const uint8_t>(enc).first(n)).status().code() ==
          Code::kCorruption);
  }
  Bytes longer = enc;
  longer.push_back(0);
  CHECK(IndexRoot::decode(longer).status().code() == Code::kCorruption);

  auto with = [&](auto edit) {
    IndexRoot r = sample_root();
    edit(r);
    Bytes b;
    r.encode(b);
    return IndexRoot::decode(b).status().code();
  };
  CHECK(with([](IndexRoot& r) { r.next_file_id = 0; }) == Code::kCorruption);
  CHECK(with([](IndexRoot& r) { r.next_file_id = 7; }) == Code::kCorruption);  // manifest id
  CHECK(with([](IndexRoot& r) { r.wal_file_id = 12; }) == Code::kCorruption);
  CHECK(with([](IndexRoot& r) { r.manifest.blocks = 0; }) == Code::kCorruption);
  CHECK(with([](IndexRoot& r) { r.manifest.file_id = 0; }) == Code::kCorruption);
  CHECK(with([](IndexRoot& r) { r.wal_file_id = 0; }) == Code::kCorruption);
  CHECK(with([](IndexRoot& r) { r.wal_file_id = 7; }) == Code::kCorruption);

  // Garbled bytes: the length is right, so only the consistency checks stand between them
  // and the loader; whatever passes must at least round-trip exactly.
  std::mt19937_64 rng(42);
  int rejected = 0;
  for (int i = 0; i < 2000; ++i) {
    Bytes g = enc;
    for (int k = 0; k < 4; ++k) g[rng() % g.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    auto d = IndexRoot::decode(g);
    if (!d.is_ok()) {
      CHECK(d.status().code() == Code::kCorruption);
      ++rejected;
      continue;
    }
    Bytes again;
    d->encode(again);
    CHECK(again == g);
  }
  CHECK(rejected > 0);
}

TEST_CASE("index file names are canonical and recognised") {
  CHECK(file_name(FileKind::kWal, 0x1a) == "wal-000000000000001a");
  CHECK(file_name(FileKind::kSst, 1) == "sst-0000000000000001");
  CHECK(file_name(FileKind::kManifest, UINT64_MAX) == "man-ffffffffffffffff");
  auto p = parse_file_name("sst-00000000000000ff");
  REQUIRE(p);
  CHECK(p->kind == FileKind::kSst);
  CHECK(p->id == 0xff);
  CHECK_FALSE(parse_file_name("sst-00000000000000FF"));
  CHECK_FALSE(parse_file_name("sst-0ff"));
  CHECK_FALSE(parse_file_name("seg-0000000000000001"));
  CHECK(is_index_file("man-0000000000000002"));
  CHECK(is_index_file("wal-junk"));
  CHECK_FALSE(is_index_file("root"));
}

TEST_CASE("WAL records round-trip and reject malformed bytes") {
  Bytes rec;
  const Entry put{17, make_ref(17, 3)};
  encode_wal_record(put, rec);
  CHECK(rec.size() == kWalPutSize);
  auto back = decode_wal_record(rec);
  REQUIRE(back.is_ok());
  CHECK(*back == put);

  const Entry trim{18, tombstone_ref()};
  encode_wal_record(trim, rec);
  CHECK(rec.size() == kWalTombstoneSize);
  back = decode_wal_record(rec);
  REQUIRE(back.is_ok());
  CHECK(*back == trim);

  encode_wal_record(put, rec);
  CHECK(decode_wal_record(std::span<const uint8_t>(rec).first(rec.size() - 1)).status().code() ==
        Code::kCorruption);
  Bytes longer = rec;
  longer.push_back(0);
  CHECK(decode_wal_record(longer).status().code() == Code::kCorruption);
  Bytes bad_type = rec;
  bad_type[0] = 3;
  CHECK(decode_wal_record(bad_type).status().code() == Code::kCorruption);
  // A put that claims the tombstone address would turn into a trim: refused.
  Bytes fake = rec;
  for (int i = 0; i < 8; ++i) fake[9 + i] = 0xff;
  CHECK(decode_wal_record(fake).status().code() == Code::kCorruption);
}

TEST_CASE("SST data blocks round-trip and reject unordered or malformed content") {
  std::vector<Entry> entries;
  for (uint64_t i = 0; i < kEntriesPerBlock; ++i) {
    entries.push_back(Entry{i * 3, i % 5 == 0 ? tombstone_ref() : make_ref(i * 3, 1)});
  }
  Block block;
  encode_data_block(entries, block);
  std::vector<Entry> back;
  JD_REQUIRE_OK(decode_data_block(block, back, "t"));
  CHECK(back == entries);

  auto code_of = [&](auto edit) {
    Block b = block;
    edit(b);
    std::vector<Entry> out;
    return decode_data_block(b, out, "t").code();
  };
  CHECK(code_of([](Block& b) { b[0] = kKindFence; }) == Code::kCorruption);
  CHECK(code_of([](Block& b) {
          b[2] = 0;
          b[3] = 0;
        }) == Code::kCorruption);                                    // count 0
  CHECK(code_of([](Block& b) { b[2] = 64; }) == Code::kCorruption);  // count > 63
  CHECK(code_of([](Block& b) { b[4] = 1; }) == Code::kCorruption);   // reserved
  CHECK(code_of([](Block& b) { b[1] = 9; }) == Code::kUnsupported);  // version
  CHECK(code_of([](Block& b) { b[kHeaderSize + kEntrySize] = 0; }) == Code::kCorruption);
  CHECK(code_of([](Block& b) { b[2] = 10; }) == Code::kCorruption);  // entries in padding
  CHECK(code_of([](Block& b) { b.back() = 1; }) == Code::kCorruption);
  // A tombstone (entry 0) carrying a key is not something the writer produces.
  CHECK(code_of([](Block& b) { b[kHeaderSize + 20] = 1; }) == Code::kCorruption);
}

TEST_CASE("SST fence blocks and footers round-trip and reject malformed content") {
  std::vector<uint64_t> fences = {1, 5, 900};
  Block block;
  encode_fence_block(fences, block);
  std::vector<uint64_t> back;
  JD_REQUIRE_OK(decode_fence_block(block, back, "f"));
  CHECK(back == fences);
  block[2] = 0;
  block[3] = 0;
  CHECK(decode_fence_block(block, back, "f").code() == Code::kCorruption);

  SstFooter f{4, 100, 2, 400, 2, 1};
  encode_footer(f, block);
  auto fb = decode_footer(block, "x");
  REQUIRE(fb.is_ok());
  CHECK(fb->entries == 100);
  CHECK(fb->max_lba == 400);
  Block bad = block;
  bad[kHeaderSize] = 'X';  // magic
  CHECK(decode_footer(bad, "x").status().code() == Code::kCorruption);
  bad = block;
  bad.back() = 7;
  CHECK(decode_footer(bad, "x").status().code() == Code::kCorruption);

  CHECK(sst_blocks_for(1) == 3);
  CHECK(sst_blocks_for(kEntriesPerBlock) == 3);
  CHECK(sst_blocks_for(kEntriesPerBlock + 1) == 4);
  CHECK(sst_blocks_for(kEntriesPerBlock * kFencesPerBlock + 1) == kFencesPerBlock + 1 + 2 + 1);
}

}  // namespace
}  // namespace jindisk::index::testing
