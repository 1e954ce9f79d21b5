#include "host/fault_store.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace jindisk::host {
namespace {

Status dead() {
  return Status::io_error("store crashed");
}

// Forwards to the inner File, letting the store decide the fate of each counted operation.
// Must not outlive the FaultInjectingStore that opened it.
class FaultFile final : public File {
 public:
  FaultFile(FaultInjectingStore& store, std::unique_ptr<File> inner, std::string name)
      : store_(store), inner_(std::move(inner)), name_(std::move(name)) {}

  Result<size_t> read_at(uint64_t offset, std::span<uint8_t> out) override {
    JD_TRY(store_.check_read(name_));
    return inner_->read_at(offset, out);
  }

  Status write_at(uint64_t offset, std::span<const uint8_t> data) override {
    FaultInjectingStore::Decision d = store_.decide(name_, /*is_write=*/true);
    if (d.proceed) return inner_->write_at(offset, data);
    if (d.torn_bytes && *d.torn_bytes > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(*d.torn_bytes, data.size()));
      // The machine stops during this write either way, so its own result does not matter.
      (void)inner_->write_at(offset, data.first(n));
    }
    return d.status;
  }

  Status sync() override {
    FaultInjectingStore::Decision d = store_.decide(name_, false);
    return d.proceed ? inner_->sync() : d.status;
  }

  Result<uint64_t> size() override {
    if (store_.crashed()) return dead();
    return inner_->size();
  }

  Status truncate(uint64_t size) override {
    FaultInjectingStore::Decision d = store_.decide(name_, false);
    return d.proceed ? inner_->truncate(size) : d.status;
  }

 private:
  FaultInjectingStore& store_;
  std::unique_ptr<File> inner_;
  std::string name_;
};

}  // namespace

FaultInjectingStore::FaultInjectingStore(Store& inner) : inner_(inner) {}
FaultInjectingStore::~FaultInjectingStore() = default;

void FaultInjectingStore::set_plan(FaultPlan plan) {
  std::lock_guard lock(mu_);
  plan_ = std::move(plan);
  fired_ = false;
}

void FaultInjectingStore::fail_reads(std::string prefix) {
  std::lock_guard lock(mu_);
  fail_reads_prefix_ = std::move(prefix);
}

uint64_t FaultInjectingStore::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

bool FaultInjectingStore::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

bool FaultInjectingStore::fault_fired() const {
  std::lock_guard lock(mu_);
  return fired_;
}

void FaultInjectingStore::reset() {
  std::lock_guard lock(mu_);
  ops_ = 0;
  crashed_ = false;
  fired_ = false;
  plan_ = FaultPlan{};
  // Read failures are part of the plan too: after reset the wrapper behaves like a new one.
  fail_reads_prefix_.clear();
}

FaultInjectingStore::Decision FaultInjectingStore::decide(std::string_view name, bool is_write) {
  std::lock_guard lock(mu_);
  if (crashed_) return {false, dead(), std::nullopt};
  // An empty name (sync_dir) never matches a non-empty prefix, so it is counted only when
  // every operation is.
  if (!name.starts_with(plan_.only_prefix)) return {};
  ++ops_;
  if (plan_.at_op == 0 || ops_ != plan_.at_op) return {};
  fired_ = true;
  std::string at = " at op " + std::to_string(ops_);
  switch (plan_.kind) {
    case FaultKind::kIoError:
      return {false, Status::io_error("injected EIO" + at), std::nullopt};
    case FaultKind::kNoSpace:
      return {false, Status::no_space("injected ENOSPC" + at), std::nullopt};
    case FaultKind::kTornWrite:
      crashed_ = true;
      if (is_write)
        return {false, Status::io_error("crashed during torn write" + at), plan_.torn_bytes};
      return {false, Status::io_error("crashed" + at), std::nullopt};
    case FaultKind::kCrash:
      break;
  }
  crashed_ = true;
  return {false, Status::io_error("crashed" + at), std::nullopt};
}

Status FaultInjectingStore::check_read(std::string_view name) {
  std::lock_guard lock(mu_);
  if (crashed_) return dead();
  if (!fail_reads_prefix_.empty() && name.starts_with(fail_reads_prefix_)) {
    return Status::io_error("injected read EIO on " + std::string(name));
  }
  return Status::ok();
}

Result<std::unique_ptr<File>> FaultInjectingStore::open(std::string_view name, OpenMode mode) {
  if (mode == OpenMode::kExisting) {
    if (crashed()) return dead();
  } else {
    // Counted even when the file already exists: the caller cannot know in advance whether
    // this open creates, so crash exploration must be able to stop at it.
    Decision d = decide(name, false);
    if (!d.proceed) return d.status;
  }
  JD_ASSIGN_OR_RETURN(std::unique_ptr<File> file, inner_.open(name, mode));
  return std::unique_ptr<File>(new FaultFile(*this, std::move(file), std::string(name)));
}

Status FaultInjectingStore::remove(std::string_view name) {
  Decision d = decide(name, false);
  return d.proceed ? inner_.remove(name) : d.status;
}

Status FaultInjectingStore::rename(std::string_view from, std::string_view to) {
  // A rename touches two names; it counts if either is under the prefix.
  std::string_view key = from;
  {
    std::lock_guard lock(mu_);
    if (!from.starts_with(plan_.only_prefix)) key = to;
  }
  Decision d = decide(key, false);
  return d.proceed ? inner_.rename(from, to) : d.status;
}

Result<bool> FaultInjectingStore::exists(std::string_view name) {
  if (crashed()) return dead();
  return inner_.exists(name);
}

Result<std::vector<std::string>> FaultInjectingStore::list() {
  if (crashed()) return dead();
  return inner_.list();
}

Status FaultInjectingStore::sync_dir() {
  Decision d = decide("", false);
  return d.proceed ? inner_.sync_dir() : d.status;
}

Result<std::unique_ptr<DirLock>> FaultInjectingStore::lock(std::string_view name) {
  if (crashed()) return dead();
  return inner_.lock(name);
}

Result<SpaceInfo> FaultInjectingStore::space() {
  if (crashed()) return dead();
  return inner_.space();
}

// Transparent, so messages built from describe() read the same with and without the wrapper.
std::string FaultInjectingStore::describe() const {
  return inner_.describe();
}

}  // namespace jindisk::host
