// Compaction scheduling: a background thread (or compact_now) picks one compaction at a time
// from an immutable Version snapshot, writes its outputs without holding mu, then installs
// them into whatever Version is current by then (a dump may have added level-0 files
// meanwhile; only compactions remove files, and they are serialised by compaction_mu).
// The outputs become durable only through the next prepare_commit's manifest; the inputs are
// retired, to be removed once a committed root no longer lists them.
#include "index/compaction.hpp"
#include "index/index_impl.hpp"

namespace jindisk::index {

LsmIndex::Impl::~Impl() {
  {
    std::lock_guard lock(bg_mu);
    stopping = true;
  }
  bg_cv.notify_all();
  if (bg.joinable()) bg.join();
  remove_files(doomed);  // what the thread did not get to
}

void LsmIndex::Impl::start_background() {
  if (!options.background_compaction) return;
  // A state opened from disk may already be due for a compaction: look once at start.
  bg_work = true;
  bg = std::thread([this] { background_loop(); });
}

void LsmIndex::Impl::schedule_compaction() {
  if (!bg.joinable()) return;
  {
    std::lock_guard lock(bg_mu);
    bg_work = true;
  }
  bg_cv.notify_one();
}

void LsmIndex::Impl::background_loop() {
  std::unique_lock lock(bg_mu);
  for (;;) {
    bg_cv.wait(lock, [this] { return stopping.load() || bg_work || !doomed.empty(); });
    if (stopping) return;
    if (!doomed.empty()) {
      std::vector<std::string> names;
      names.swap(doomed);
      lock.unlock();
      remove_files(names);
      lock.lock();
      continue;
    }
    bg_work = false;
    lock.unlock();
    Status st = run_compactions();
    lock.lock();
    // After an error, wait for the next dump rather than retry in a loop against a host
    // that is full or failing; compact_now() reports the error to a caller who asks.
    bg_status = std::move(st);
  }
}

void LsmIndex::Impl::discard_output(uint64_t id) {
  // Never listed by any Version or manifest, so removing it at once is safe.
  (void)store.remove(file_name(FileKind::kSst, id));
  std::unique_lock lock(mu);
  writing.erase(id);
}

Result<bool> LsmIndex::Impl::compact_once() {
  std::lock_guard compaction_lock(compaction_mu);
  const std::shared_ptr<const Version> base = current();
  std::optional<CompactionPlan> plan = pick_compaction(*base, options, live_hint.load());
  if (!plan) return false;
  CompactionEnv env{store,
                    &cache,
                    [this] { return create_file(FileKind::kSst); },
                    [this](uint64_t id) { discard_output(id); },
                    &stopping,
                    &bytes_written};
  JD_ASSIGN_OR_RETURN(SstList outputs, run_compaction(*plan, env));
  const std::set<uint64_t> inputs = plan->input_ids();
  {
    std::unique_lock lock(mu);
    version = apply_edit(*version, inputs, plan->output_level, outputs, ++last_seq);
    for (const auto& f : outputs) writing.erase(f->file_id());
    for (uint64_t id : inputs) obsolete.insert(file_name(FileKind::kSst, id));
  }
  ++compactions;
  return true;
}

Status LsmIndex::Impl::run_compactions() {
  while (!stopping) {
    JD_ASSIGN_OR_RETURN(bool did, compact_once());
    if (!did) break;
  }
  return Status::ok();
}

}  // namespace jindisk::index
