// Choosing and running one compaction. A compaction is a pure function of its input files:
// it merges them newest first, keeps the newest version of each lba, drops tombstones only
// when nothing deeper than the output level could still hold the lba, and writes the result
// as new SSTs (cut at about 2 MiB) for the output level. It never touches the memtable or the
// current Version; LsmIndex installs the outputs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

#include "host/store.hpp"
#include "index/file_names.hpp"
#include "index/lsm_index.hpp"
#include "index/version.hpp"

namespace jindisk::index {

// Entries per output SST: 512 full data blocks, about 2 MiB of host file.
constexpr uint64_t kTargetFileEntries = 512 * kEntriesPerBlock;

struct CompactionPlan {
  size_t output_level = 1;
  SstList newer;  // all of level 0 (newest first), or all of level output_level - 1
  SstList older;  // the files of output_level whose lba range overlaps `newer`
  bool drop_tombstones = false;
  std::set<uint64_t> input_ids() const;
};

// Level 0 holding >= level0_files files goes first; then the shallowest level i >= 1 holding
// more than memtable_entries * level_ratio^i entries (the deepest level never overflows).
// `live_entries`: how many lbas the disk maps now (a hint from the owner). When the SSTs hold
// far more entries than that (shadowed versions and tombstones, e.g. after trims), levels are
// pushed down so that the merge into the bottom level drops them.
std::optional<CompactionPlan> pick_compaction(const Version& v, const IndexOptions& options,
                                              uint64_t live_entries = UINT64_MAX);

struct CompactionEnv {
  host::Store& store;
  BlockCache* cache;
  // Creates an output file and records its id as being written; discard() removes the file
  // of an output that will not be installed (best effort) and forgets the id.
  std::function<Result<NewFile>()> create_output;
  std::function<void(uint64_t)> discard;
  const std::atomic<bool>* stop = nullptr;  // set: give up soon (index shutting down)
  std::atomic<uint64_t>* bytes_written = nullptr;
};

// Writes the outputs (possibly none, if everything was dropped) and opens them for reading.
Result<SstList> run_compaction(const CompactionPlan& plan, CompactionEnv& env);

}  // namespace jindisk::index
