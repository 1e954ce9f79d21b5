// Fuzz target: the index manifest (docs/format.md §6) and the SST listing checks of
// load_version().
//
// The input gives a manifest's plaintext blocks (and next_file_id); the harness seals them as
// a real sealed file and reads them back with read_manifest (block framing behind the MAC).
// The host store also holds three real SSTs (ids 1, 2, 3). A fuzzer cannot forge the random key
// and file tag a manifest entry must carry to open an SST, so for entries naming ids 1..3 the
// harness writes in the real key and tag (and nothing else) before load_version(): everything
// else (levels, order, overlaps, ids, counts, ranges, block counts) comes from the input and
// is checked by the real code. A Version that loads must keep its invariants, and
// Version::find must agree with a newest-first reference lookup.
#include <cstring>
#include <map>
#include <set>

#include "crypto/sodium.hpp"
#include "fuzz_common.hpp"
#include "host/memory_store.hpp"
#include "index/block_cache.hpp"
#include "index/file_names.hpp"
#include "index/manifest.hpp"
#include "index/sst_writer.hpp"
#include "index/version.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

constexpr uint64_t kManifestId = 7;
constexpr size_t kMaxBlocks = 8;

struct Fixture {
  host::MemoryStore store;
  std::map<uint64_t, index::SstMeta> ssts;              // id -> real meta
  std::map<uint64_t, std::set<uint64_t>> lbas;          // id -> lbas it holds
};

uint64_t hba_of(uint64_t id, uint64_t lba) { return id * 1000000 + lba; }

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    struct Spec { uint64_t id, first, count, step; };
    for (const Spec& s : {Spec{1, 0, 100, 1}, Spec{2, 200, 61, 1}, Spec{3, 50, 101, 2}}) {
      auto file = fx->store.open(index::file_name(index::FileKind::kSst, s.id),
                                 host::OpenMode::kCreateNew);
      must(file.status(), "create sst");
      index::SstWriter w(std::move(file).value(), s.id);
      for (uint64_t i = 0; i < s.count; ++i) {
        index::Entry e;
        e.lba = s.first + i * s.step;
        e.ref.hba = hba_of(s.id, e.lba);
        must(w.add(e), "add");
        fx->lbas[s.id].insert(e.lba);
      }
      auto meta = w.finish();
      must(meta.status(), "finish sst");
      fx->ssts[s.id] = *meta;
    }
    return fx;
  }();
  return *f;
}

void check_version(const index::Version& v, const std::vector<index::ManifestEntry>& entries,
                   uint64_t next_file_id) {
  Fixture& fx = fixture();
  check(v.file_count() == entries.size(), "version lost or gained files");
  std::set<uint64_t> ids;
  for (size_t level = 0; level < index::kMaxLevels; ++level) {
    const auto& files = v.levels[level];
    for (size_t i = 0; i < files.size(); ++i) {
      const auto& m = files[i]->meta();
      check(ids.insert(m.ref.file_id).second, "repeated file id loaded");
      check(m.ref.file_id != 0 && m.ref.file_id < next_file_id, "file id out of range loaded");
      check(m.min_lba <= m.max_lba, "empty range loaded");
      if (level > 0 && i > 0) {
        check(files[i - 1]->meta().max_lba < m.min_lba, "overlapping files in a level >= 1");
      }
    }
  }
  // Newest-first reference lookup over what the manifest lists (entries are in level order,
  // level 0 newest first).
  for (uint64_t lba : std::array<uint64_t, 12>{0, 1, 50, 51, 99, 100, 150, 200, 230, 260, 261,
                                               1000}) {
    std::optional<uint64_t> want;
    for (const auto& e : entries) {
      if (fx.lbas[e.meta.ref.file_id].contains(lba)) {
        want = hba_of(e.meta.ref.file_id, lba);
        break;
      }
    }
    auto got = v.find(lba);
    must(got.status(), "find in a loaded version");
    check(got->has_value() == want.has_value(), "Version::find presence differs from reference",
          std::to_string(lba));
    if (want) check((*got)->hba == *want, "Version::find returned another file's entry");
  }
}

std::vector<std::vector<uint8_t>> manifest_blocks(const std::vector<index::ManifestEntry>& list) {
  host::MemoryStore store;
  const std::string name = index::file_name(index::FileKind::kManifest, kManifestId);
  auto file = store.open(name, host::OpenMode::kCreateNew);
  must(file.status(), "create manifest");
  auto ref = index::write_manifest(std::move(file).value(), kManifestId, list);
  must(ref.status(), "write manifest");
  auto f = store.open(name, host::OpenMode::kExisting);
  must(f.status(), "open");
  auto r = log::SealedFileReader::open(std::move(f).value(), *ref);
  must(r.status(), "reopen");
  std::vector<std::vector<uint8_t>> out;
  for (uint64_t i = 0; i < r->blocks(); ++i) {
    index::Block b;
    must(r->read(i, b), "read");
    out.emplace_back(b.begin(), b.end());
  }
  return out;
}

void write_seeds(const std::string& dir) {
  Fixture& fx = fixture();
  auto entry = [&](uint8_t level, uint64_t id) { return index::ManifestEntry{level, fx.ssts[id]}; };
  const std::vector<std::vector<index::ManifestEntry>> lists = {
      {entry(0, 3), entry(0, 1), entry(1, 2)},
      {entry(1, 1), entry(1, 2), entry(2, 3)},
      {entry(0, 2)},
  };
  int n = 0;
  for (const auto& list : lists) {
    Seed s;
    s.u8(0).u64(8);
    auto blocks = manifest_blocks(list);
    s.u8(static_cast<uint8_t>(blocks.size() - 1));
    for (const auto& b : blocks) put_padded_block(s, b);
    write_seed(dir, "manifest-" + std::to_string(n++), s.out);
  }
  // A long listing (two blocks) of entries that name missing files.
  std::vector<index::ManifestEntry> many;
  for (uint64_t id = 10; id < 70; ++id) {
    index::ManifestEntry e{1, fx.ssts[1]};
    e.meta.ref.file_id = id;
    e.meta.min_lba = e.meta.max_lba = id * 10;
    e.meta.entries = 1;
    e.meta.ref.blocks = index::sst_blocks_for(1);
    many.push_back(e);
  }
  Seed s;
  s.u8(0).u64(100);
  auto blocks = manifest_blocks(many);
  s.u8(static_cast<uint8_t>(blocks.size() - 1));
  for (const auto& b : blocks) put_padded_block(s, b);
  write_seed(dir, "manifest-two-blocks", s.out);
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
  const uint8_t flags = in.u8();  // bit0: do not fill in the real keys and tags
  const uint64_t next_file_id = in.u64();
  const size_t n = 1 + in.u8() % kMaxBlocks;

  // The fixture's SSTs are only read; the manifest goes into a copy of the store.
  std::unique_ptr<host::MemoryStore> store = fx.store.clone();
  const std::string name = index::file_name(index::FileKind::kManifest, kManifestId);
  auto file = store->open(name, host::OpenMode::kCreateNew);
  must(file.status(), "create manifest");
  log::SealedFileWriter writer(std::move(file).value(), kManifestId);
  for (size_t i = 0; i < n; ++i) {
    const auto block = padded_block(in, crypto::kBlockSize);
    must(writer.append(std::span<const uint8_t, crypto::kBlockSize>(block.data(), block.size())),
         "append");
  }
  auto ref = writer.finish();
  must(ref.status(), "finish");

  auto listing = index::read_manifest(*store, *ref);
  if (!listing.is_ok()) {
    const Code c = listing.status().code();
    check(c == Code::kCorruption || c == Code::kUnsupported, "read_manifest: unexpected code",
          listing.status().to_string());
    return 0;
  }
  check(!listing->empty() && listing->size() <= n * index::kManifestEntriesPerBlock,
        "manifest entry count out of range");
  std::vector<index::ManifestEntry> entries = *listing;
  if (!(flags & 1)) {
    for (auto& e : entries) {
      auto it = fx.ssts.find(e.meta.ref.file_id);
      if (it == fx.ssts.end()) continue;
      e.meta.ref.key = it->second.ref.key;
      e.meta.ref.file_tag = it->second.ref.file_tag;
    }
  }
  index::BlockCache cache(1 << 20);
  auto v = index::load_version(*store, entries, &cache, next_file_id, 1);
  if (!v.is_ok()) {
    const Code c = v.status().code();
    check(c == Code::kCorruption || c == Code::kUnsupported, "load_version: unexpected code",
          v.status().to_string());
    return 0;
  }
  check_version(**v, entries, next_file_id);
  return 0;
}
