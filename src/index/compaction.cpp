#include "index/compaction.hpp"

#include <algorithm>
#include <limits>

#include "index/merge_iterator.hpp"
#include "index/sst_writer.hpp"

namespace jindisk::index {
namespace {

uint64_t level_limit(size_t level, const IndexOptions& options) {
  uint64_t limit = std::max<uint64_t>(options.memtable_entries, 1);
  for (size_t i = 0; i < level; ++i) {
    const uint64_t ratio = std::max<uint64_t>(options.level_ratio, 2);
    if (limit > std::numeric_limits<uint64_t>::max() / ratio) {
      return std::numeric_limits<uint64_t>::max();
    }
    limit *= ratio;
  }
  return limit;
}

CompactionPlan plan_into(const Version& v, size_t output_level) {
  CompactionPlan plan;
  plan.output_level = output_level;
  plan.newer = v.levels[output_level - 1];
  uint64_t lo = std::numeric_limits<uint64_t>::max();
  uint64_t hi = 0;
  for (const auto& f : plan.newer) {
    lo = std::min(lo, f->meta().min_lba);
    hi = std::max(hi, f->meta().max_lba);
  }
  for (const auto& f : v.levels[output_level]) {
    if (f->meta().max_lba >= lo && f->meta().min_lba <= hi) plan.older.push_back(f);
  }
  // A tombstone can go only if no deeper level may hold an older version of its lba.
  plan.drop_tombstones = v.depth() <= output_level + 1;
  return plan;
}

Status finish_output(std::optional<SstWriter>& writer, CompactionEnv& env, SstList& outputs) {
  JD_ASSIGN_OR_RETURN(SstMeta meta, writer->finish());
  writer.reset();
  if (env.bytes_written != nullptr) {
    *env.bytes_written += meta.ref.blocks * (crypto::kBlockSize + crypto::kTagSize);
  }
  JD_ASSIGN_OR_RETURN(std::shared_ptr<const SstReader> reader,
                      SstReader::open(env.store, meta, env.cache));
  outputs.push_back(std::move(reader));
  return Status::ok();
}

Result<SstList> merge_into_outputs(const CompactionPlan& plan, CompactionEnv& env,
                                   std::vector<uint64_t>& ids) {
  std::vector<std::unique_ptr<EntrySource>> sources;
  if (plan.output_level == 1) {
    for (const auto& f : plan.newer) sources.push_back(std::make_unique<SstIterator>(f, false));
  } else {
    sources.push_back(std::make_unique<LevelIterator>(plan.newer, false));
  }
  sources.push_back(std::make_unique<LevelIterator>(plan.older, false));
  MergeIterator it(std::move(sources));
  JD_TRY(it.seek(0));

  SstList outputs;
  std::optional<SstWriter> writer;
  while (it.valid()) {
    if (env.stop != nullptr && env.stop->load(std::memory_order_relaxed)) {
      return Status::io_error("compaction stopped: index is closing");
    }
    const Entry& e = it.entry();
    if (!(plan.drop_tombstones && is_tombstone(e.ref))) {
      if (!writer) {
        JD_ASSIGN_OR_RETURN(NewFile out, env.create_output());
        ids.push_back(out.id);
        writer.emplace(std::move(out.file), out.id);
      }
      JD_TRY(writer->add(e));
      if (writer->entries() >= kTargetFileEntries) JD_TRY(finish_output(writer, env, outputs));
    }
    JD_TRY(it.next());
  }
  if (writer) JD_TRY(finish_output(writer, env, outputs));
  return outputs;
}

}  // namespace

std::set<uint64_t> CompactionPlan::input_ids() const {
  std::set<uint64_t> ids;
  for (const auto& f : newer) ids.insert(f->file_id());
  for (const auto& f : older) ids.insert(f->file_id());
  return ids;
}

std::optional<CompactionPlan> pick_compaction(const Version& v, const IndexOptions& options,
                                              uint64_t live_entries) {
  if (!v.levels[0].empty() && v.levels[0].size() >= options.level0_files) return plan_into(v, 1);
  for (size_t level = 1; level + 1 < kMaxLevels; ++level) {
    if (v.level_entries(level) > level_limit(level, options)) return plan_into(v, level + 1);
  }
  const size_t depth = v.depth();
  const uint64_t slack = 2 * std::max<uint64_t>(options.memtable_entries, 1);
  if (depth >= 2 && live_entries <= (v.entries() - std::min(v.entries(), slack)) / 2) {
    for (size_t level = 0; level + 1 < depth; ++level) {
      if (!v.levels[level].empty()) return plan_into(v, level + 1);
    }
  }
  return std::nullopt;
}

Result<SstList> run_compaction(const CompactionPlan& plan, CompactionEnv& env) {
  std::vector<uint64_t> ids;
  Result<SstList> outputs = merge_into_outputs(plan, env, ids);
  if (!outputs.is_ok()) {
    for (uint64_t id : ids) env.discard(id);
  }
  return outputs;
}

}  // namespace jindisk::index
