// disk-crash: crash exploration. A workload (writes, overwrites, trims, >= 20 flushes, drains
// under buffer pressure, memtable dumps with WAL rotation, compactions, close+reopen) is run once
// fault-free to count its mutating host operations. Then, for EVERY operation index N (not a
// sample), a fresh copy of the created disk replays the workload with the host dying at N;
// after the crash model drops what a power cut may lose, SecureDisk::open must succeed and show
// exactly the last acknowledged flush, or the flush that was in progress - nothing else.
//
// The disk is created outside the fault plan (its empty image is the base of every run); the
// first operation of every run is SecureDisk::open, so crashes inside recovery's own commit and
// leftover removal are explored too. JINDISK_SEED replays a workload; JINDISK_TEST_SCALE scales
// its length.
#include <doctest/doctest.h>

#include <sstream>

#include "crash_workload.hpp"
#include "disk/segment_files.hpp"
#include "disk_test_util.hpp"
#include "host/fault_store.hpp"

namespace jindisk::disk::test {
namespace {

using host::CrashMode;
using host::FaultInjectingStore;
using host::FaultKind;
using host::FaultPlan;

const char* mode_name(CrashMode m) {
  switch (m) {
    case CrashMode::kDropUnsynced:
      return "drop-unsynced";
    case CrashMode::kKeepUnsynced:
      return "keep-unsynced";
    case CrashMode::kRandomSubset:
      return "random-subset";
  }
  return "?";
}

DiskConfig crash_config() {
  DiskConfig cfg;
  cfg.logical_bytes = 1u << 20;  // 256 blocks: overwrites are frequent
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;           // dumps (and WAL rotations) every few flushes
  cfg.write_buffer_bytes = 32u << 10;  // 8 blocks: drains between flushes
  return cfg;
}

// One workload, the empty disk it starts from, and the host operations of a fault-free run.
struct CrashLab {
  uint64_t seed = 0;
  DiskConfig cfg = crash_config();
  Workload work;
  std::unique_ptr<MemoryStore> base;
  std::vector<HostOpRecord> records;  // records[N - 1] is crash point N
  uint64_t total_ops = 0;
  uint64_t blocks_moved = 0;  // by the cleaner in the fault-free run

  std::string point(uint64_t n) const {
    if (n == 0 || n > records.size()) return "op #" + std::to_string(n) + " (beyond the count)";
    const HostOpRecord& r = records[n - 1];
    return "op #" + std::to_string(n) + " " + host_op_name(r.op) + " " + r.name +
           (r.op == HostOp::kWrite ? " (" + std::to_string(r.bytes) + " bytes)" : "");
  }
};

enum class WorkloadKind { kMixed, kSequential };

std::unique_ptr<CrashLab> make_lab(WorkloadKind kind = WorkloadKind::kMixed) {
  auto lab = std::make_unique<CrashLab>();
  lab->seed = test_seed();
  lab->work = kind == WorkloadKind::kMixed
                  ? make_crash_workload(lab->seed, scaled(240, 60), lab->cfg.blocks())
                  : make_sequential_workload(lab->seed, scaled(60, 20), lab->cfg.blocks());
  lab->base = std::make_unique<MemoryStore>();
  {
    DiskPtr d = create_disk(*lab->base, lab->cfg);
    close_disk(d);
  }
  // The fault-free run, through a recorder below the fault store (no plan: it only counts).
  auto store = lab->base->clone();
  RecordingStore rec(*store);
  FaultInjectingStore fault(rec);
  const RunOutcome o = run_workload(fault, lab->work, lab->cfg);
  REQUIRE_MESSAGE(!o.failed, "fault-free run failed: " << o.what);
  REQUIRE(o.acked + 1 == lab->work.states.size());
  lab->total_ops = fault.ops();
  lab->blocks_moved = o.blocks_moved;
  lab->records = rec.records();
  REQUIRE(lab->records.size() == lab->total_ops);
  // The fault-free run itself ends in the final state.
  DiskPtr d = open_disk(*store, lab->cfg);
  const auto content = read_device(*d);
  REQUIRE_MESSAGE(
      !first_mismatch(content, lab->work.states.back()),
      "fault-free run: wrong content at lba " << *first_mismatch(content, lab->work.states.back()));
  return lab;
}

struct Exploration {
  uint64_t points = 0;      // crash points explored
  uint64_t not_fired = 0;   // the planned fault never happened (the run was shorter)
  uint64_t in_flush = 0;    // the run died inside a flush or close
  uint64_t next_state = 0;  // ... and recovery showed the flush in progress
  std::vector<std::string> failures;

  // The engine places each drain's blocks in random order, so which segments empty out (and
  // when files are removed or allocation moves on) varies a little from run to run: a run may
  // end a few operations earlier than the counting run, and a crash point past its end is
  // never reached. Those runs still end in the final state (checked); almost all must fire.
  bool mostly_reached() const { return not_fired * 10 <= points; }

  void fail(std::string msg) {
    if (failures.size() < 25)
      failures.push_back(std::move(msg));
    else if (failures.size() == 25)
      failures.push_back("... (more failures not shown)");
  }
  void report(const std::string& what) const {
    std::ostringstream all;
    for (const auto& f : failures) all << "\n  " << f;
    CHECK_MESSAGE(failures.empty(), failures.size()
                                        << " bad crash points (" << what << "):" << all.str());
  }
};

// Files a recovered disk should have deleted, described ("" if none).
std::string leftovers(SecureDisk& d, MemoryStore& store) {
  const auto names = list_names(store);
  std::string out;
  for (const auto& n : d.index_for_tests().unreferenced_files(names)) out += " " + n;
  std::set<uint64_t> used;
  const uint32_t sb = d.info().segment_blocks;
  (void)d.index_for_tests().scan(0, d.block_count() - 1, [&](uint64_t, const index::BlockRef& r) {
    used.insert(r.hba / sb);
    return Status::ok();
  });
  for (const auto& n : names) {
    if (auto seg = SegmentFiles::parse_name(n); seg && !used.count(*seg)) out += " " + n;
  }
  return out.empty() ? "" : "left over:" + out;
}

// Crashes the workload at `plan`, applies the crash model, and checks recovery. Returns the
// recovered store (for the nested exploration) when recovery succeeded.
std::unique_ptr<MemoryStore> crash_and_check(const CrashLab& lab, const FaultPlan& plan,
                                             CrashMode mode, uint64_t crash_seed, Exploration& ex,
                                             bool check_writable_after = false) {
  auto store = lab.base->clone();
  RunOutcome o;
  bool fired = false;
  {
    FaultInjectingStore fault(*store);
    fault.set_plan(plan);
    o = run_workload(fault, lab.work, lab.cfg);
    fired = fault.fault_fired();
  }
  ++ex.points;
  std::ostringstream where;
  where << "seed " << lab.seed << ", crash at " << lab.point(plan.at_op) << " kind "
        << int(plan.kind) << " torn " << plan.torn_bytes << ", " << mode_name(mode)
        << " crash seed " << crash_seed << ": ";
  if (!fired) ++ex.not_fired;
  if (o.failed && !fired) {
    ex.fail(where.str() + "an operation failed before any fault: " + o.what);
    return nullptr;
  }
  if (o.failed_in_flush) ++ex.in_flush;
  store->simulate_crash(mode, crash_seed);
  auto d = try_open(*store, lab.cfg);
  if (!d.is_ok()) {
    ex.fail(where.str() + "recovery open failed: " + d.status().to_string() +
            " (run ended: " + o.what + ")");
    return nullptr;
  }
  std::vector<uint8_t> content((*d)->block_count() * kBlockSize);
  const Status rs = (*d)->read(0, content);
  if (!rs.is_ok()) {
    ex.fail(where.str() + "reading the recovered disk failed: " + rs.to_string());
    return nullptr;
  }
  const auto allowed = allowed_states(lab.work, o);
  const int got = matching_state(lab.work, allowed, content);
  if (got < 0) {
    std::ostringstream msg;
    msg << where.str() << "recovered content is none of the allowed states {";
    for (size_t k : allowed) msg << k << " ";
    msg << "}; run ended: " << (o.failed ? o.what : "completed") << "; acked " << o.acked;
    for (size_t k = 0; k < lab.work.states.size(); ++k) {
      if (!first_mismatch(content, lab.work.states[k])) msg << "; it equals state " << k;
    }
    msg << "; vs state " << allowed[0] << " first differing lba "
        << *first_mismatch(content, lab.work.states[allowed[0]]);
    ex.fail(msg.str());
    return nullptr;
  }
  if (static_cast<size_t>(got) != o.acked) ++ex.next_state;
  // Recovery cleaned up: no index file the root does not name, no segment without a live block.
  if (const std::string left = leftovers(**d, *store); !left.empty()) {
    ex.fail(where.str() + "after recovery: " + left);
    return nullptr;
  }
  if (check_writable_after) {
    // The recovered disk is a working disk: a new write survives a flush and a reopen.
    const auto block = pattern(7, 1, 1u << 30);
    Status s = (*d)->write(7, block);
    if (s.is_ok()) s = (*d)->flush();
    if (s.is_ok()) s = (*d)->close();
    if (!s.is_ok()) {
      ex.fail(where.str() + "the recovered disk does not accept a write+flush: " + s.to_string());
      return nullptr;
    }
    d.value().reset();
    auto again = try_open(*store, lab.cfg);
    std::vector<uint8_t> got7(kBlockSize);
    if (!again.is_ok() || !(*again)->read(7, got7).is_ok() || got7 != block) {
      ex.fail(where.str() + "a write after recovery did not survive a reopen");
      return nullptr;
    }
    return store;
  }
  return store;
}

void print_lab(const CrashLab& lab) {
  MESSAGE("workload seed " << lab.seed << ": " << lab.work.ops.size() << " ops (" << lab.work.writes
                           << " writes, " << lab.work.trims << " trims, " << lab.work.flushes
                           << " flushes, " << lab.work.reopens << " reopens, "
                           << lab.work.compactions << " compactions, " << lab.work.cleanings
                           << " cleaning passes moving " << lab.blocks_moved << " blocks), "
                           << lab.total_ops
                           << " mutating host operations");
}

}  // namespace

TEST_CASE("a crash at every host operation recovers the last acknowledged flush or the next") {
  auto lab = make_lab();
  CAPTURE(lab->seed);
  print_lab(*lab);
  CHECK(lab->work.ops.size() >= scaled(200, 50));
  CHECK(lab->work.flushes >= scaled(20, 5));
  // The workload reaches every kind of host file.
  std::set<std::string> kinds;
  for (const auto& r : lab->records) kinds.insert(r.name.substr(0, 4));
  CHECK(kinds.count("seg-") == 1);
  CHECK(kinds.count("wal-") == 1);
  CHECK(kinds.count("sst-") == 1);
  CHECK(kinds.count("man-") == 1);
  CHECK(kinds.count("root") == 1);
  // ... and the cleaner moves blocks, so crashes land inside cleaning too.
  CHECK(lab->blocks_moved > 0);

  Exploration ex;
  for (uint64_t n = 1; n <= lab->total_ops; ++n) {
    crash_and_check(*lab, FaultPlan{n, FaultKind::kCrash, 0, ""}, CrashMode::kDropUnsynced, 0, ex,
                    /*check_writable_after=*/true);
  }
  MESSAGE("drop-unsynced: explored "
          << ex.points << " crash points (" << ex.in_flush << " inside a flush, " << ex.next_state
          << " recovered the flush in progress, " << ex.not_fired << " never reached)");
  CHECK(ex.points == lab->total_ops);
  CHECK(ex.mostly_reached());
  ex.report("drop-unsynced");
}

TEST_CASE("large sequential writes: a crash at every host operation, and torn writes") {
  auto lab = make_lab(WorkloadKind::kSequential);
  CAPTURE(lab->seed);
  print_lab(*lab);
  Exploration ex;
  for (uint64_t n = 1; n <= lab->total_ops; ++n) {
    crash_and_check(*lab, FaultPlan{n, FaultKind::kCrash, 0, ""}, CrashMode::kDropUnsynced, 0, ex);
  }
  MESSAGE("sequential, drop-unsynced: explored "
          << ex.points << " crash points (" << ex.in_flush << " inside a flush, " << ex.next_state
          << " recovered the flush in progress, " << ex.not_fired << " never reached)");
  CHECK(ex.mostly_reached());
  ex.report("sequential drop-unsynced");
  Exploration torn;
  for (uint64_t n = 1; n <= lab->total_ops; ++n) {
    if (lab->records[n - 1].op != HostOp::kWrite) continue;
    // The torn prefix is an unsynced write: keep it (and everything before it) in the crash.
    crash_and_check(*lab, FaultPlan{n, FaultKind::kTornWrite, 2048, ""}, CrashMode::kKeepUnsynced,
                    0, torn);
  }
  MESSAGE("sequential, torn write of 2048 bytes: explored " << torn.points << " crash points ("
                                                            << torn.next_state
                                                            << " recovered the flush in progress)");
  torn.report("sequential torn");
}

TEST_CASE("a crash that keeps every unsynced write still recovers a flushed state") {
  auto lab = make_lab();
  CAPTURE(lab->seed);
  print_lab(*lab);
  Exploration ex;
  for (uint64_t n = 1; n <= lab->total_ops; ++n) {
    crash_and_check(*lab, FaultPlan{n, FaultKind::kCrash, 0, ""}, CrashMode::kKeepUnsynced, 0, ex);
  }
  MESSAGE("keep-unsynced: explored " << ex.points << " crash points (" << ex.next_state
                                     << " recovered the flush in progress, " << ex.not_fired
                                     << " never reached)");
  CHECK(ex.mostly_reached());
  ex.report("keep-unsynced");
}

TEST_CASE("a torn write at every host write recovers a flushed state") {
  auto lab = make_lab();
  CAPTURE(lab->seed);
  print_lab(*lab);
  uint64_t write_points = 0;
  for (const auto& r : lab->records) write_points += r.op == HostOp::kWrite;
  REQUIRE(write_points > 0);
  for (uint64_t torn : {uint64_t{1}, uint64_t{100}, uint64_t{4095}}) {
    Exploration ex;
    for (uint64_t n = 1; n <= lab->total_ops; ++n) {
      if (lab->records[n - 1].op != HostOp::kWrite) continue;
      // The torn prefix is an unsynced write: keep it (and everything before it) in the crash.
      crash_and_check(*lab, FaultPlan{n, FaultKind::kTornWrite, torn, ""}, CrashMode::kKeepUnsynced,
                      0, ex);
    }
    MESSAGE("torn write of " << torn << " bytes: explored " << ex.points << " crash points ("
                             << ex.next_state << " recovered the flush in progress, "
                             << ex.not_fired << " never reached)");
    CHECK(ex.points == write_points);
    CHECK(ex.mostly_reached());
    ex.report("torn write");
  }
}

TEST_CASE("a crash that keeps a random subset of unsynced writes recovers a flushed state") {
  auto lab = make_lab();
  CAPTURE(lab->seed);
  print_lab(*lab);
  const uint64_t seeds = test_scale() >= 1 ? 3 : 1;
  Exploration ex;
  for (uint64_t s = 1; s <= seeds; ++s) {
    for (uint64_t n = 1; n <= lab->total_ops; ++n) {
      crash_and_check(*lab, FaultPlan{n, FaultKind::kCrash, 0, ""}, CrashMode::kRandomSubset,
                      lab->seed * 31 + s * 1000003 + n, ex);
    }
  }
  MESSAGE("random-subset (" << seeds << " coin seeds per point): explored " << ex.points
                            << " crash points (" << ex.next_state
                            << " recovered the flush in progress, " << ex.not_fired
                            << " never reached)");
  CHECK(ex.points == seeds * lab->total_ops);
  CHECK(ex.mostly_reached());
  ex.report("random subset");
}

TEST_CASE("a crash during recovery from a crash recovers the same state") {
  auto lab = make_lab();
  CAPTURE(lab->seed);
  print_lab(*lab);
  // Every first crash point at full scale; a stride in scaled-down builds.
  const uint64_t stride = std::max<uint64_t>(1, static_cast<uint64_t>(1.0 / test_scale()));
  Exploration first, second;
  for (uint64_t n = 1; n <= lab->total_ops; n += stride) {
    auto crashed = crash_and_check(*lab, FaultPlan{n, FaultKind::kCrash, 0, ""},
                                   CrashMode::kDropUnsynced, 0, first);
    if (!crashed) continue;
    // (crash_and_check's own open already recovered `crashed` once; start again from a copy of
    // the image as the crash left it, which a fault-free recovery turns into `want`.)
    auto image = lab->base->clone();
    {
      FaultInjectingStore fault(*image);
      fault.set_plan(FaultPlan{n, FaultKind::kCrash, 0, ""});
      (void)run_workload(fault, lab->work, lab->cfg);
    }
    image->simulate_crash(CrashMode::kDropUnsynced, 0);
    uint64_t recovery_ops = 0;
    std::vector<uint8_t> want;
    {
      auto copy = image->clone();
      FaultInjectingStore fault(*copy);
      DiskPtr d = open_disk(fault, lab->cfg);
      want = read_device(*d);
      close_disk(d);
      recovery_ops = fault.ops();
    }
    for (uint64_t m = 1; m <= recovery_ops; ++m) {
      auto copy = image->clone();
      {
        FaultInjectingStore fault(*copy);
        fault.set_plan(FaultPlan{m, FaultKind::kCrash, 0, ""});
        auto d = try_open(fault, lab->cfg);
        if (d.is_ok()) (void)(*d)->close();
      }
      copy->simulate_crash(CrashMode::kDropUnsynced, 0);
      ++second.points;
      auto d = try_open(*copy, lab->cfg);
      std::ostringstream where;
      where << "seed " << lab->seed << ", first crash at " << lab->point(n)
            << ", recovery crashed at its op #" << m << " of " << recovery_ops << ": ";
      if (!d.is_ok()) {
        second.fail(where.str() + "open failed: " + d.status().to_string());
        continue;
      }
      std::vector<uint8_t> content((*d)->block_count() * kBlockSize);
      const Status rs = (*d)->read(0, content);
      if (!rs.is_ok())
        second.fail(where.str() + "read failed: " + rs.to_string());
      else if (content != want)
        second.fail(where.str() + "content differs from a clean recovery");
    }
  }
  MESSAGE("explored " << second.points << " crash points inside recovery, after " << first.points
                      << " first crash points");
  first.report("first crash");
  second.report("crash during recovery");
}

}  // namespace jindisk::disk::test
