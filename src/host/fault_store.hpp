// Wraps any Store and counts its mutating operations (write_at, sync, truncate, open with
// creation, remove, rename, sync_dir) so a test can make exactly the Nth one misbehave:
// fail with EIO or ENOSPC, tear (apply only a prefix of a write), or crash (that operation
// and every later one fail as if the machine stopped). Reads are never counted, and can be
// made to fail separately. Used with MemoryStore to explore every crash point of a workload:
// run once to count operations, then for N in 1..count: crash at N, simulate_crash() on the
// inner MemoryStore, reopen, check.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "host/store.hpp"

namespace jindisk::host {

enum class FaultKind : uint8_t {
  kIoError,   // the operation fails with kIoError and has no effect; later operations work
  kNoSpace,   // the operation fails with kNoSpace and has no effect; later operations work
  kCrash,     // the operation has no effect and fails; so does everything after it (dead)
  kTornWrite, // if a write_at: the first `torn_bytes` bytes land, then crash; else as kCrash
};

struct FaultPlan {
  uint64_t at_op = 0;  // 1-based index of the mutating operation to hit; 0 = never
  FaultKind kind = FaultKind::kCrash;
  uint64_t torn_bytes = 0;
  // When set, only operations on files whose name starts with this prefix are counted.
  std::string only_prefix;
};

class FaultInjectingStore final : public Store {
 public:
  explicit FaultInjectingStore(Store& inner);  // does not own inner
  ~FaultInjectingStore() override;

  void set_plan(FaultPlan plan);
  // Every read_at on a file whose name starts with prefix fails with kIoError ("" = none).
  void fail_reads(std::string prefix);
  uint64_t ops() const;       // mutating operations counted so far
  bool crashed() const;       // a kCrash/kTornWrite fault fired
  bool fault_fired() const;   // the planned fault happened
  void reset();               // counter to zero, not crashed, no plan

  Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  Status remove(std::string_view name) override;
  Status rename(std::string_view from, std::string_view to) override;
  Result<bool> exists(std::string_view name) override;
  Result<std::vector<std::string>> list() override;
  Status sync_dir() override;
  Result<std::unique_ptr<DirLock>> lock(std::string_view name) override;
  Result<SpaceInfo> space() override;
  std::string describe() const override;
  // Faults are planned by operation number, so the order must not depend on thread timing.
  // A test of the engine's concurrent paths may turn that off: the Nth operation is then
  // whichever comes Nth (only_prefix narrows it down).
  bool wants_ordered_operations() const override { return ordered_; }
  void set_ordered(bool ordered) { ordered_ = ordered; }
  size_t open_file_budget() const override { return inner_.open_file_budget(); }

  // Used by the File wrapper: decides the fate of one counted operation on `name`.
  // proceed = true: run it normally; else fail with `status`. torn_bytes is set for a torn
  // write (apply that prefix, then fail).
  struct Decision {
    bool proceed = true;
    Status status;
    std::optional<uint64_t> torn_bytes;
  };
  Decision decide(std::string_view name, bool is_write);
  Status check_read(std::string_view name);

 private:
  Store& inner_;
  mutable std::mutex mu_;
  FaultPlan plan_;
  std::string fail_reads_prefix_;
  uint64_t ops_ = 0;
  bool crashed_ = false;
  bool fired_ = false;
  bool ordered_ = true;
};

}  // namespace jindisk::host
