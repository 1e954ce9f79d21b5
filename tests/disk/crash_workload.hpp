// The workload the crash suite replays up to every crash point, the reference state after each
// flush it acknowledges, and a store wrapper that records which host operation each crash
// point is (so torn writes can be aimed at writes, and a failure can name what it hit).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "disk_test_util.hpp"
#include "host/store.hpp"

namespace jindisk::disk::test {

enum class OpKind : uint8_t { kWrite, kTrim, kFlush, kReopen, kCompact, kClean };

struct WorkOp {
  OpKind kind = OpKind::kWrite;
  uint64_t lba = 0;
  uint64_t count = 0;
  uint64_t version = 0;  // kWrite: pattern(lba, count, version)
};

struct Workload {
  std::vector<WorkOp> ops;
  // states[k]: the content after the k-th flush-like op (flush, or the close of a reopen);
  // states[0] is the empty disk the workload starts from.
  std::vector<RefState> states;
  uint64_t writes = 0, trims = 0, flushes = 0, reopens = 0, compactions = 0, cleanings = 0;
};

// A deterministic workload of `op_count` operations (the last one a flush) over `blocks` LBAs:
// writes of 1-8 blocks (with a hot region, so overwrites are common), trims, a flush every
// tenth op, compactions, cleaning passes right after some flushes (the cleaner only works when
// no user change is pending), and two close+reopen cycles.
Workload make_crash_workload(uint64_t seed, uint64_t op_count, uint64_t blocks);

// Large sequential writes: 16-64 blocks at a cursor that moves through the disk and wraps
// (several drains inside each write with the crash suite's small buffer), a flush every fifth
// op, a large trim now and then, a cleaning pass after some flushes, and one close+reopen.
Workload make_sequential_workload(uint64_t seed, uint64_t op_count, uint64_t blocks);

// How one run of the workload ended.
struct RunOutcome {
  size_t acked = 0;              // flush-like ops that returned OK
  bool failed = false;           // some operation failed (the run stopped there)
  bool failed_in_flush = false;  // ... and it was a flush or the close of a reopen
  size_t failed_op = 0;          // index into ops (ops.size() = the final close)
  std::string what;              // description of the failed operation and its status
  uint64_t blocks_moved = 0;     // by the cleaning ops (summed over every open of the run)
};

// Opens the disk on `store` (first op of the run), replays `w` until an operation fails, then
// closes (or drops) the disk. Compaction runs only through compact_now (deterministic).
RunOutcome run_workload(host::Store& store, const Workload& w, const DiskConfig& cfg);

// The states a recovery may legally show after `o`: the last acknowledged flush, or the next
// one if the run died inside that flush.
std::vector<size_t> allowed_states(const Workload& w, const RunOutcome& o);

// Which allowed state `content` equals, or -1.
int matching_state(const Workload& w, const std::vector<size_t>& allowed,
                   const std::vector<uint8_t>& content);

// ---- Recording store

enum class HostOp : uint8_t { kWrite, kSync, kTruncate, kCreate, kRemove, kRename, kSyncDir };
const char* host_op_name(HostOp op);

struct HostOpRecord {
  HostOp op;
  std::string name;
  uint64_t bytes = 0;  // write size
};

// Forwards to `inner` and records every mutating operation in the order and with the same
// counting rules as FaultInjectingStore (open with a creating mode counts), so record i is
// crash point i + 1 when placed under a FaultInjectingStore without a plan.
class RecordingStore final : public host::Store {
 public:
  explicit RecordingStore(host::Store& inner) : inner_(inner) {}
  const std::vector<HostOpRecord>& records() const { return records_; }
  void add(HostOp op, std::string_view name, uint64_t bytes = 0) {
    std::lock_guard lock(mu_);
    records_.push_back({op, std::string(name), bytes});
  }

  Result<std::unique_ptr<host::File>> open(std::string_view name, host::OpenMode mode) override;
  Status remove(std::string_view name) override {
    add(HostOp::kRemove, name);
    return inner_.remove(name);
  }
  Status rename(std::string_view from, std::string_view to) override {
    add(HostOp::kRename, std::string(from) + "->" + std::string(to));
    return inner_.rename(from, to);
  }
  Result<bool> exists(std::string_view name) override { return inner_.exists(name); }
  Result<std::vector<std::string>> list() override { return inner_.list(); }
  Status sync_dir() override {
    add(HostOp::kSyncDir, "");
    return inner_.sync_dir();
  }
  Result<std::unique_ptr<host::DirLock>> lock(std::string_view name) override {
    return inner_.lock(name);
  }
  Result<host::SpaceInfo> space() override { return inner_.space(); }
  std::string describe() const override { return inner_.describe(); }

 private:
  host::Store& inner_;
  std::mutex mu_;
  std::vector<HostOpRecord> records_;
};

}  // namespace jindisk::disk::test
