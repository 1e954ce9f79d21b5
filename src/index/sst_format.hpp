// Plaintext layout of the 4 KiB blocks of SSTs and manifests (docs/format-index.md). Every
// block starts with an 8-byte header: kind u8 | version u8 | count u16 | reserved u32 (0).
// Decoders take untrusted bytes (they authenticated, but a writer bug or a key mix-up must
// still become kCorruption, never a wrong answer) and check every field and the zero padding.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "index/entry.hpp"
#include "jindisk/status.hpp"
#include "log/sealed_file.hpp"

namespace jindisk::index {

constexpr uint8_t kFormatVersion = 1;
constexpr uint8_t kKindData = 1;
constexpr uint8_t kKindFence = 2;
constexpr uint8_t kKindFooter = 3;
constexpr uint8_t kKindManifest = 4;

constexpr size_t kHeaderSize = 8;
constexpr size_t kEntrySize = 8 + 8 + 32 + 16;  // lba, hba, key, tag
constexpr size_t kEntriesPerBlock = (crypto::kBlockSize - kHeaderSize) / kEntrySize;  // 63
constexpr size_t kFencesPerBlock = (crypto::kBlockSize - kHeaderSize) / 8;            // 511

// What a manifest records about one SST (and what its footer must repeat).
struct SstMeta {
  log::SealedFileRef ref;
  uint64_t entries = 0;
  uint64_t min_lba = 0;
  uint64_t max_lba = 0;
  bool operator==(const SstMeta&) const = default;
};

// Data blocks: entries strictly increasing by lba; 1..63 of them.
void encode_data_block(std::span<const Entry> entries, Block& out);
Status decode_data_block(const Block& in, std::vector<Entry>& out, const std::string& what);

// Fence blocks: the first lba of each data block, 1..511 per block.
void encode_fence_block(std::span<const uint64_t> fences, Block& out);
// Appends the block's fences to out.
Status decode_fence_block(const Block& in, std::vector<uint64_t>& out, const std::string& what);

struct SstFooter {
  uint64_t file_id = 0;
  uint64_t entries = 0;
  uint64_t min_lba = 0;
  uint64_t max_lba = 0;
  uint64_t data_blocks = 0;
  uint64_t fence_blocks = 0;
};
void encode_footer(const SstFooter& footer, Block& out);
Result<SstFooter> decode_footer(const Block& in, const std::string& what);

// Block counts an SST of n entries has (the writer's layout; readers require exactly this).
uint64_t data_blocks_for(uint64_t entries);
uint64_t fence_blocks_for(uint64_t data_blocks);
uint64_t sst_blocks_for(uint64_t entries);

}  // namespace jindisk::index
