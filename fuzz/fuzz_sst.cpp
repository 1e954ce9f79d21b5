// Fuzz target: index sorted files (SSTs, docs/format.md §6): data blocks, fence blocks, the
// footer, and the sealed-file container with its tag table (§5).
//
// First input byte selects the mode:
//   0 direct: one 4096-byte plaintext block goes to decode_data_block, decode_fence_block and
//             decode_footer; whatever decodes must re-encode to the same block.
//   1 sealed: the input gives the plaintext blocks of an SST (and the manifest's view of it,
//             or "take it from the footer"); the harness seals them as a real sealed file
//             (SealedFileWriter) and opens it with SstReader::open, the parser behind the MAC.
//             An SST that opens is iterated and probed: entries strictly increasing, exactly
//             the manifest's count and range, find() agreeing with the iteration.
//   2 raw:    the rest is a sealed file's host bytes, opened with a fuzzed SealedFileRef under
//             a fixed key: SealedFileReader::open must reject at the tag table (never crash).
#include <cstring>
#include <map>

#include "crypto/sodium.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "index/block_cache.hpp"
#include "index/file_names.hpp"
#include "index/sst_format.hpp"
#include "index/sst_reader.hpp"
#include "index/sst_writer.hpp"
#include "log/sealed_file.hpp"
#include "util/le.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;
using index::Block;

namespace {

constexpr uint64_t kFileId = 9;
constexpr size_t kMaxBlocks = 24;

void run_direct(In& in) {
  const std::vector<uint8_t> bytes = padded_block(in, crypto::kBlockSize);
  Block block;
  std::memcpy(block.data(), bytes.data(), block.size());
  Block again;
  std::vector<index::Entry> entries;
  if (index::decode_data_block(block, entries, "data").is_ok()) {
    check(!entries.empty() && entries.size() <= index::kEntriesPerBlock, "data block count");
    index::encode_data_block(entries, again);
    check(again == block, "data block does not re-encode");
  }
  std::vector<uint64_t> fences = {42};  // decode appends
  if (index::decode_fence_block(block, fences, "fence").is_ok()) {
    index::encode_fence_block(std::span<const uint64_t>(fences).subspan(1), again);
    check(again == block, "fence block does not re-encode");
  }
  auto footer = index::decode_footer(block, "footer");
  if (footer.is_ok()) {
    index::encode_footer(*footer, again);
    check(again == block, "footer does not re-encode");
  }
}

void run_sealed(In& in) {
  const uint8_t flags = in.u8();  // bit0: meta from the footer; bit1: no block cache
  index::SstMeta meta;
  meta.entries = in.u64();
  meta.min_lba = in.u64();
  meta.max_lba = in.u64();
  const size_t n = 1 + in.u8() % kMaxBlocks;
  host::MemoryStore store;
  const std::string name = index::file_name(index::FileKind::kSst, kFileId);
  auto file = store.open(name, host::OpenMode::kCreateNew);
  must(file.status(), "create sst");
  log::SealedFileWriter writer(std::move(file).value(), kFileId);
  std::vector<uint8_t> last;
  for (size_t i = 0; i < n; ++i) {
    last = padded_block(in, crypto::kBlockSize);
    must(writer.append(std::span<const uint8_t, crypto::kBlockSize>(last.data(), last.size())),
         "append");
  }
  auto ref = writer.finish();
  must(ref.status(), "finish");
  meta.ref = *ref;
  if (flags & 1) {
    meta.entries = util::get_u64(last.data() + 24);
    meta.min_lba = util::get_u64(last.data() + 32);
    meta.max_lba = util::get_u64(last.data() + 40);
  }
  uint64_t probes[4];
  for (uint64_t& p : probes) p = in.u64();

  index::BlockCache cache(1 << 20);
  auto reader = index::SstReader::open(store, meta, (flags & 2) ? nullptr : &cache);
  if (!reader.is_ok()) {
    const Code c = reader.status().code();
    check(c == Code::kCorruption || c == Code::kUnsupported, "SST open: unexpected code",
          reader.status().to_string());
    return;
  }
  const auto& sst = *reader;
  check(sst->data_blocks() == index::data_blocks_for(meta.entries), "SST data block count");

  // Iterate everything; a data block may still be damaged (only the footer and fences were
  // checked at open), which must come back as kCorruption.
  std::map<uint64_t, index::BlockRef> all;
  index::SstIterator it(sst, !(flags & 4));
  Status st = it.seek(0);
  uint64_t prev = 0;
  while (st.is_ok() && it.valid()) {
    const index::Entry& e = it.entry();
    check(all.empty() || e.lba > prev, "SST iteration not strictly increasing");
    prev = e.lba;
    all.emplace(e.lba, e.ref);
    st = it.next();
  }
  if (!st.is_ok()) {
    check(st.code() == Code::kCorruption || st.code() == Code::kUnsupported,
          "SST iteration: unexpected code", st.to_string());
    return;
  }
  check(all.size() == meta.entries, "SST iteration count differs from the manifest",
        std::to_string(all.size()) + " vs " + std::to_string(meta.entries));
  check(all.begin()->first == meta.min_lba && all.rbegin()->first == meta.max_lba,
        "SST iteration range differs from the manifest");
  size_t k = 0;
  for (const auto& [lba, ref] : all) {
    if (k++ % 17 != 0 && k != all.size()) continue;  // a sample keeps each run fast
    auto got = sst->find(lba);
    check(got.is_ok() && got->has_value() && **got == ref, "find() disagrees with iteration");
  }
  for (uint64_t p : probes) {
    auto got = sst->find(p);
    check(got.is_ok(), "find() failed after a full iteration");
    auto want = all.find(p);
    check(got->has_value() == (want != all.end()), "find() presence disagrees with iteration");
    if (want != all.end()) check(**got == want->second, "find() value disagrees");
    index::SstIterator s(sst, true);
    must(s.seek(p), "seek");
    auto lb = all.lower_bound(p);
    check(s.valid() == (lb != all.end()), "seek() validity disagrees");
    if (lb != all.end()) check(s.entry().lba == lb->first, "seek() position disagrees");
  }
}

void run_raw(In& in) {
  log::SealedFileRef ref;
  ref.file_id = in.u64();
  ref.blocks = in.u64();
  if (in.u8() & 1) ref.blocks %= 8;
  ref.key.fill(0x5a);
  in.fill(ref.file_tag);
  host::MemoryStore store;
  must(store.write_all("sst-x", in.rest()), "write");
  auto f = store.open("sst-x", host::OpenMode::kExisting);
  must(f.status(), "open");
  auto r = log::SealedFileReader::open(std::move(f).value(), ref);
  if (r.is_ok()) {  // only with a forged tag table MAC
    Block b;
    for (uint64_t i = 0; i < r->blocks() && i < 4; ++i) (void)r->read(i, b);
  } else {
    check(r.status().code() == Code::kCorruption, "sealed file: unexpected code");
  }
}

void write_seeds(const std::string& dir) {
  for (uint64_t count : {1, 5, 63, 64, 130}) {
    host::MemoryStore store;
    const std::string name = index::file_name(index::FileKind::kSst, kFileId);
    auto file = store.open(name, host::OpenMode::kCreateNew);
    must(file.status(), "create");
    index::SstWriter w(std::move(file).value(), kFileId);
    for (uint64_t i = 0; i < count; ++i) {
      index::Entry e;
      e.lba = 100 + i * 2;
      if (i % 9 == 8) {
        e.ref = index::tombstone_ref();
      } else {
        e.ref.hba = i * 31;
        e.ref.key.fill(static_cast<uint8_t>(i));
        e.ref.tag.fill(static_cast<uint8_t>(i + 1));
      }
      must(w.add(e), "add");
    }
    auto meta = w.finish();
    must(meta.status(), "finish");
    auto f = store.open(name, host::OpenMode::kExisting);
    must(f.status(), "open");
    auto r = log::SealedFileReader::open(std::move(f).value(), meta->ref);
    must(r.status(), "reopen");
    Seed s;
    s.u8(1).u8(count % 2 ? 1 : 0).u64(meta->entries).u64(meta->min_lba).u64(meta->max_lba);
    s.u8(static_cast<uint8_t>(r->blocks() - 1));
    std::vector<std::vector<uint8_t>> blocks;
    for (uint64_t i = 0; i < r->blocks(); ++i) {
      Block b;
      must(r->read(i, b), "read");
      put_padded_block(s, b);
      blocks.emplace_back(b.begin(), b.end());
    }
    s.u64(100).u64(101).u64(100 + count).u64(UINT64_MAX);
    write_seed(dir, "sealed-" + std::to_string(count), s.out);
    if (count == 64) {
      const char* kinds[] = {"data", "fence", "footer"};
      const size_t at[] = {0, blocks.size() - 2, blocks.size() - 1};
      for (int k = 0; k < 3; ++k) {
        Seed d;
        d.u8(0);
        put_padded_block(d, blocks[at[k]]);
        write_seed(dir, std::string("direct-") + kinds[k], d.out);
      }
      auto bytes = store.read_all(name);
      must(bytes.status(), "read");
      Seed raw;
      raw.u8(2).u64(kFileId).u64(r->blocks()).u8(0).bytes(meta->ref.file_tag).bytes(*bytes);
      write_seed(dir, "raw-sealed-file", raw.out);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  switch (in.u8() % 3) {
    case 0: run_direct(in); break;
    case 1: run_sealed(in); break;
    default: run_raw(in); break;
  }
  return 0;
}
