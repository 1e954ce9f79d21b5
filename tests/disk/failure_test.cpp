// disk-endurance (host failures): a failed sync inside a flush makes the disk read-only (sticky,
// with a warning) while reads keep working, and a reopen shows the last acknowledged flush (or
// the one that was in progress); a full host gives kNoSpace (never kIoError), keeps flushed data,
// and once space is back, writes and flushes work again without reopening.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "crash_workload.hpp"
#include "disk_test_util.hpp"
#include "host/fault_store.hpp"

namespace jindisk::disk::test {
namespace {

using host::FaultInjectingStore;
using host::FaultKind;
using host::FaultPlan;

constexpr uint64_t kEndOfB = 500;  // B writes LBAs [200, 500): 300 blocks

DiskConfig failure_config() {
  DiskConfig cfg;
  cfg.logical_bytes = 2u << 20;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;
  cfg.write_buffer_bytes = 2u << 20;  // nothing drained before the flush
  return cfg;
}

// A base image in state A, and the writes that make state B (enough to dump the memtable, so
// the flush writes segments, a WAL, an SST and a manifest; and 300 blocks, more than one
// chunk of the drain's seal-while-writing pipeline, so faults land inside it too).
struct FlushLab {
  DiskConfig cfg = failure_config();
  std::unique_ptr<MemoryStore> base;
  RefState a, b;
  std::vector<HostOpRecord> records;         // host ops of "open, write B, flush, close"
  uint64_t flush_first = 0, flush_last = 0;  // crash-point numbers of the flush's ops

  void write_b(SecureDisk& d) const {
    for (uint64_t lba = 200; lba < kEndOfB; lba += 5) JD_REQUIRE_OK(d.write(lba, pattern(lba, 5, 2)));
    JD_REQUIRE_OK(d.trim(0, 3));
  }
};

FlushLab make_flush_lab() {
  FlushLab lab;
  lab.base = std::make_unique<MemoryStore>();
  {
    DiskPtr d = create_disk(*lab.base, lab.cfg);
    JD_REQUIRE_OK(d->write(0, pattern(0, 64, 1)));
    JD_REQUIRE_OK(d->flush());
    close_disk(d);
  }
  lab.a.write(0, 64, 1);
  lab.b = lab.a;
  for (uint64_t lba = 200; lba < kEndOfB; lba += 5) lab.b.write(lba, 5, 2);
  lab.b.trim(0, 3);
  auto store = lab.base->clone();
  RecordingStore rec(*store);
  FaultInjectingStore fault(rec);
  DiskPtr d = open_disk(fault, lab.cfg);
  lab.write_b(*d);
  lab.flush_first = fault.ops() + 1;
  JD_REQUIRE_OK(d->flush());
  lab.flush_last = fault.ops();
  close_disk(d);
  lab.records = rec.records();
  REQUIRE(lab.flush_last >= lab.flush_first);
  return lab;
}

// Which of the two states the content is ("A", "B" or "neither").
std::string which(const std::vector<uint8_t>& content, const FlushLab& lab) {
  if (!first_mismatch(content, lab.a)) return "A";
  if (!first_mismatch(content, lab.b)) return "B";
  return "neither";
}

}  // namespace

TEST_CASE(
    "a failed sync inside a flush turns the disk read-only; reopening shows a flushed state") {
  const FlushLab lab = make_flush_lab();
  std::map<std::string, int> outcomes;
  int cases = 0;
  for (uint64_t n = lab.flush_first; n <= lab.flush_last; ++n) {
    const HostOpRecord& r = lab.records[n - 1];
    if (r.op != HostOp::kSync && r.op != HostOp::kSyncDir) continue;
    for (bool crash_after : {false, true}) {
      ++cases;
      std::ostringstream where;
      where << "EIO at op #" << n << " " << host_op_name(r.op) << " " << r.name
            << (crash_after ? ", then a crash" : "");
      INFO(where.str());
      auto store = lab.base->clone();
      Warnings warnings;
      bool flush_ok = false;
      {
        FaultInjectingStore fault(*store);
        fault.set_plan(FaultPlan{n, FaultKind::kIoError, 0, ""});
        DiskPtr d = open_disk(fault, lab.cfg, warnings);
        lab.write_b(*d);
        const Status fs = d->flush();
        REQUIRE(fault.fault_fired());
        flush_ok = fs.is_ok();
        if (!fs.is_ok()) CHECK_MESSAGE(fs.code() == Code::kIoError, fs.to_string());
        // Reads still work, and show everything written (B).
        CHECK(which(read_device(*d), lab) == "B");
        // Sticky: the host state is unknown, so no more writes, whatever flush returned. (The
        // probes write what B already holds, so a wrongly accepted write changes no content.)
        const Status ws = d->write(200, pattern(200, 1, 2));
        CHECK_MESSAGE(ws.code() == Code::kReadOnly,
                      "write after the failed sync: " << ws.to_string() << " (flush returned "
                                                      << fs.to_string() << ")");
        CHECK(d->trim(0, 1).code() == Code::kReadOnly);
        CHECK(d->info().read_only);
        CHECK(warnings.contains("read-only"));
        CHECK(which(read_device(*d), lab) == "B");
        (void)d->close();
      }
      if (crash_after) store->simulate_crash(host::CrashMode::kDropUnsynced, 0);
      DiskPtr d = open_disk(*store, lab.cfg);
      const std::string got = which(read_device(*d), lab);
      if (flush_ok)
        CHECK(got == "B");
      else
        CHECK((got == "A" || got == "B"));
      outcomes[std::string(host_op_name(r.op)) + " " + r.name.substr(0, 4) + " -> flush " +
               (flush_ok ? "ok" : "failed") + ", reopened " + got]++;
      // And the reopened disk is writable again.
      JD_REQUIRE_OK(d->write(400, pattern(400, 1, 3)));
      JD_REQUIRE_OK(d->flush());
    }
  }
  std::ostringstream s;
  for (const auto& [k, v] : outcomes) s << "\n  " << k << ": " << v;
  MESSAGE(cases << " failed-sync cases:" << s.str());
  CHECK(cases >= 6);
}

TEST_CASE("a failed host write inside a flush fails the flush; nothing half-done becomes visible") {
  const FlushLab lab = make_flush_lab();
  int cases = 0, flush_ok_cases = 0;
  for (uint64_t n = lab.flush_first; n <= lab.flush_last; ++n) {
    const HostOpRecord& r = lab.records[n - 1];
    if (r.op != HostOp::kWrite) continue;
    for (FaultKind kind : {FaultKind::kIoError, FaultKind::kNoSpace}) {
      ++cases;
      const std::string where = "op #" + std::to_string(n) + " write_at " + r.name +
                                " fails with " + (kind == FaultKind::kIoError ? "EIO" : "ENOSPC");
      INFO(where);
      auto store = lab.base->clone();
      bool retried_ok = false;
      {
        FaultInjectingStore fault(*store);
        fault.set_plan(FaultPlan{n, kind, 0, ""});
        Warnings warnings;
        DiskPtr d = open_disk(fault, lab.cfg, warnings);
        lab.write_b(*d);
        const Status fs = d->flush();
        REQUIRE(fault.fault_fired());
        // Either the flush fails with the host's code, or the failed write was of an object
        // the commit did not need (a memtable dump: its entries stay in the memtable and go to
        // the WAL) and the flush committed B (checked after the reopen below).
        if (!fs.is_ok()) {
          CHECK(fs.code() == (kind == FaultKind::kIoError ? Code::kIoError : Code::kNoSpace));
        } else {
          ++flush_ok_cases;
        }
        CHECK(which(read_device(*d), lab) == "B");
        // The fault is gone. ENOSPC on data or index files is not sticky: a retry commits B.
        const Status again = d->flush();
        retried_ok = again.is_ok() || fs.is_ok();
        if (kind == FaultKind::kNoSpace && r.name != "root") {
          CHECK_MESSAGE(again.is_ok(), "retry after ENOSPC: " << again.to_string());
        }
        if (!again.is_ok()) {
          CHECK((again.code() == Code::kReadOnly || again.code() == Code::kIoError));
        }
        (void)d->close();
      }
      DiskPtr d = open_disk(*store, lab.cfg);
      const std::string got = which(read_device(*d), lab);
      if (retried_ok)
        CHECK(got == "B");
      else
        CHECK((got == "A" || got == "B"));
    }
  }
  MESSAGE(cases << " failed-write cases; " << flush_ok_cases
                << " of them were writes the commit did not need (flush succeeded)");
  CHECK(cases >= 4);
}

TEST_CASE("a full host gives kNoSpace, keeps flushed data, and recovers when space returns") {
  const uint64_t seed = test_seed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  DiskConfig cfg;
  cfg.logical_bytes = 4u << 20;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;
  cfg.write_buffer_bytes = 32u << 10;
  for (bool reopen_while_full : {false, true}) {
    CAPTURE(reopen_while_full);
    MemoryStore store;
    DiskPtr d = create_disk(store, cfg);
    RefState live, flushed;
    uint64_t version = 0;
    for (uint64_t lba = 0; lba < 200; lba += 8) {
      JD_REQUIRE_OK(d->write(lba, pattern(lba, 8, ++version)));
      live.write(lba, 8, version);
    }
    JD_REQUIRE_OK(d->flush());
    flushed = live;
    store.set_capacity(total_host_bytes(store) + (256u << 10));
    Status failure;
    uint64_t ops = 0;
    for (; ops < 5000 && failure.is_ok(); ++ops) {
      if (ops % 16 == 15) {
        failure = d->flush();
        if (failure.is_ok()) flushed = live;
        continue;
      }
      const uint64_t n = 1 + rng() % 8;
      const uint64_t lba = rng() % (cfg.blocks() - n + 1);
      failure = d->write(lba, pattern(lba, n, ++version));
      if (failure.is_ok()) live.write(lba, n, version);
    }
    REQUIRE_MESSAGE(!failure.is_ok(), "the host never filled up");
    CHECK_MESSAGE(failure.code() == Code::kNoSpace, failure.to_string());
    MESSAGE("host full after " << ops << " operations: " << failure.to_string());
    // Everything acknowledged is still readable.
    CHECK(!first_mismatch(read_device(*d), live));
    if (!reopen_while_full) {
      store.set_capacity(0);
      JD_REQUIRE_OK(d->flush());
      for (uint64_t lba = 300; lba < 340; lba += 4) {
        JD_REQUIRE_OK(d->write(lba, pattern(lba, 4, ++version)));
        live.write(lba, 4, version);
      }
      JD_REQUIRE_OK(d->flush());
      CHECK(!d->info().read_only);
      CHECK(!first_mismatch(read_device(*d), live));
      close_disk(d);
      d = open_disk(store, cfg);
      CHECK(!first_mismatch(read_device(*d), live));
    } else {
      const Status cs = d->close();  // its final commit may fail for want of space too
      if (!cs.is_ok()) CHECK_MESSAGE(cs.code() == Code::kNoSpace, cs.to_string());
      d.reset();
      auto r = try_open(store, cfg);
      if (!r.is_ok()) {
        CHECK_MESSAGE(r.status().code() == Code::kNoSpace, r.status().to_string());
        store.set_capacity(0);
        r = try_open(store, cfg);
      }
      REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
      const auto content = read_device(**r);
      // The last acknowledged flush, or (if the close committed) everything acknowledged.
      const bool ok =
          !first_mismatch(content, flushed) || (cs.is_ok() && !first_mismatch(content, live));
      CHECK(ok);
    }
  }
}

TEST_CASE(
    "a data write failing inside a large drain, with placing concurrent: placed chunks stay, "
    "the rest is retried") {
  // The drain seals, writes and places its 1 MiB chunks on three threads when the store does
  // not ask for ordered operations. A failed write (ENOSPC or EIO) then leaves the chunks
  // before it placed in the index and puts the rest back into the write buffer: every block
  // must still read as written, a retry must commit them all, and a reopen must show them.
  DiskConfig cfg;
  cfg.logical_bytes = 16u << 20;
  cfg.segment_blocks = 128;
  cfg.memtable_entries = 1024;        // placing dumps the memtable too
  cfg.write_buffer_bytes = 16u << 20;  // one drain, at the flush: 2 048 blocks in 8 chunks
  constexpr uint64_t kBlocks = 2048;
  int partial = 0;
  // The Nth operation on a segment file: 16 creations (most of them by the placer, at once)
  // and 32 summary and data writes (by the writer), in an order that depends on timing.
  for (uint64_t at : {1, 5, 10, 20, 25, 30, 35, 40, 45})
  for (FaultKind kind : {FaultKind::kNoSpace, FaultKind::kIoError}) {
    CAPTURE(at);
    CAPTURE(kind == FaultKind::kNoSpace ? "ENOSPC" : "EIO");
    MemoryStore base;
    {
      DiskPtr d = create_disk(base, cfg);
      close_disk(d);
    }
    RefState ref;
    {
      FaultInjectingStore fault(base);
      fault.set_ordered(false);
      Warnings warnings;
      DiskPtr d = open_disk(fault, cfg, warnings);
      for (uint64_t lba = 0; lba < kBlocks; lba += 16) {
        JD_REQUIRE_OK(d->write(lba, pattern(lba, 16, 1)));
        ref.write(lba, 16, 1);
      }
      fault.reset();  // count from here, segment files only
      fault.set_plan(FaultPlan{at, kind, 0, "seg-"});
      const Status fs = d->flush();
      REQUIRE(fault.fault_fired());
      // A failed creation by the placer is only a hint lost: the writer opens the file again.
      if (!fs.is_ok()) {
        CHECK_MESSAGE(fs.code() == (kind == FaultKind::kNoSpace ? Code::kNoSpace : Code::kIoError),
                      fs.to_string());
      }
      uint64_t in_index = 0;
      for (uint64_t lba = 0; lba < kBlocks; ++lba) {
        auto got = d->index_for_tests().get(lba);
        JD_REQUIRE_OK(got.status());
        if (*got) ++in_index;
      }
      if (!fs.is_ok() && in_index > 0 && in_index < kBlocks) ++partial;
      CHECK(!first_mismatch(read_device(*d), ref));
      JD_REQUIRE_OK(d->flush());
      CHECK(!first_mismatch(read_device(*d), ref));
      close_disk(d);
    }
    DiskPtr d = open_disk(base, cfg);
    CHECK(!first_mismatch(read_device(*d), ref));
  }
  MESSAGE(partial << " of 18 cases failed after placing part of the drain");
  CHECK(partial >= 6);
}

namespace {

// Writers that keep writing while a drain runs: the drain takes what they buffered as further
// rounds, sealed while the earlier rounds are written, with LBAs that earlier rounds of the
// same drain still hold. Each writer owns kRangeBlocks LBAs and rewrites all of them in every
// pass, in 16-block writes in shuffled order; `done[t]` counts its finished passes.
struct RoundsLab {
  static constexpr uint64_t kWriters = 3;
  static constexpr uint64_t kRangeBlocks = 1024;
  static constexpr uint64_t kPiece = 16;
  DiskConfig cfg;
  RoundsLab() {
    cfg.logical_bytes = kWriters * kRangeBlocks * kBlockSize;
    cfg.segment_blocks = 128;
    cfg.memtable_entries = 1024;
    cfg.write_buffer_bytes = 2u << 20;  // 512 blocks: every drain is a pipelined one
  }
  // Runs the writers for passes [first_pass, last_pass]; `model` gets each acknowledged write.
  // Errors other than `allowed` are counted in `unexpected`. Every drain that may take a
  // further round waits (up to a second) until the writers have buffered half a buffer: left
  // to timing, further rounds were rare under ThreadSanitizer.
  void write_passes(SecureDisk& d, uint64_t first_pass, uint64_t last_pass, RefState& model,
                    std::array<std::atomic<uint64_t>, kWriters>& done, std::atomic<int>& failures,
                    std::atomic<int>& unexpected, Code allowed) const {
    // The drain runs on one writer's thread: the others fill the buffer while they write.
    std::atomic<uint64_t> writing{kWriters};
    const size_t half = cfg.write_buffer_bytes / kBlockSize / 2;
    d.set_before_further_round_for_tests([&] {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (writing > 1 && d.buffered_blocks_for_tests() < half &&
             std::chrono::steady_clock::now() < give_up) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
    std::mutex model_mu;
    std::vector<std::thread> writers;
    for (uint64_t t = 0; t < kWriters; ++t) {
      writers.emplace_back([&, t] {
        std::mt19937_64 rng(test_seed() + t);
        std::vector<uint64_t> pieces;
        for (uint64_t lba = t * kRangeBlocks; lba < (t + 1) * kRangeBlocks; lba += kPiece) pieces.push_back(lba);
        for (uint64_t pass = first_pass; pass <= last_pass; ++pass) {
          std::shuffle(pieces.begin(), pieces.end(), rng);
          for (uint64_t lba : pieces) {
            const Status s = d.write(lba, pattern(lba, kPiece, pass));
            if (s.is_ok()) {
              std::lock_guard lock(model_mu);
              model.write(lba, kPiece, pass);
            } else {
              ++failures;
              if (s.code() != allowed) ++unexpected;
            }
          }
          done[t] = pass;
        }
        --writing;
      });
    }
    for (auto& w : writers) w.join();
    d.set_before_further_round_for_tests(nullptr);
  }
};

}  // namespace

TEST_CASE("drain rounds: writers keep writing while a drain runs; reads stay exact") {
  // While they write, a reader checks random blocks: each must be the version its writer had
  // finished before the read, or a later one it was writing meanwhile; never older, never
  // another LBA's, never torn.
  RoundsLab lab;
  constexpr uint64_t kPasses = 6;
  MemoryStore store;
  RefState model;
  DiskPtr d = create_disk(store, lab.cfg);
  std::array<std::atomic<uint64_t>, RoundsLab::kWriters> done{};
  for (uint64_t lba = 0; lba < lab.cfg.blocks(); lba += RoundsLab::kPiece) {
    JD_REQUIRE_OK(d->write(lba, pattern(lba, RoundsLab::kPiece, 1)));
    model.write(lba, RoundsLab::kPiece, 1);
  }
  JD_REQUIRE_OK(d->flush());
  for (auto& x : done) x = 1;
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> reads{0}, bad_reads{0};
  std::string first_bad;  // written by the reader thread only, read after join
  std::thread reader([&] {
    std::mt19937_64 rng(test_seed() + 99);
    std::array<uint8_t, kBlockSize> got, want;
    while (writing) {
      const uint64_t lba = rng() % lab.cfg.blocks();
      const uint64_t t = lba / RoundsLab::kRangeBlocks;
      const uint64_t before = done[t];
      const Status s = d->read(lba, got);
      const uint64_t after = done[t];
      bool ok = false;
      for (uint64_t v = before; s.is_ok() && v <= after + 1 && !ok; ++v) {
        fill_pattern(want.data(), lba, v);
        ok = got == want;
      }
      ++reads;
      if (!ok && bad_reads++ == 0) {
        first_bad = "block " + std::to_string(lba) + " (passes done " + std::to_string(before) +
                    ".." + std::to_string(after) + "): " + s.to_string();
      }
    }
  });
  std::atomic<int> failures{0}, unexpected{0};
  const uint64_t rounds_before = d->further_rounds_for_tests();
  lab.write_passes(*d, 2, kPasses, model, done, failures, unexpected, Code::kOk);
  writing = false;
  reader.join();
  const uint64_t further = d->further_rounds_for_tests() - rounds_before;
  MESSAGE(reads.load() << " concurrent reads; drains took " << further << " further rounds");
  CHECK_MESSAGE(bad_reads == 0, bad_reads.load() << " bad reads; first: " << first_bad);
  CHECK(failures == 0);
  CHECK(unexpected == 0);
  CHECK(further > 0);
  CHECK(!first_mismatch(read_device(*d), model));
  JD_REQUIRE_OK(d->flush());
  close_disk(d);
  d = open_disk(store, lab.cfg);
  CHECK(!first_mismatch(read_device(*d), model));
}

TEST_CASE("drain rounds: a write failing in a drain of several rounds loses no acknowledged write") {
  // The Nth segment-file operation fails once (ENOSPC or EIO) while three writers keep the
  // drains taking further rounds. Only the writer whose drain failed sees the error, and its
  // write is not taken; every write acknowledged before or after must read back, after a flush
  // and after a reopen. Blocks of a later round whose LBA an earlier, unplaced round also
  // held go back to the buffer as the newer version (a stale one would fail the comparison).
  RoundsLab lab;
  int failed_cases = 0;
  uint64_t further_total = 0, failed_multi_round = 0;
  for (uint64_t at : {3, 7, 12, 20, 30, 45, 60, 90})
  for (FaultKind kind : {FaultKind::kNoSpace, FaultKind::kIoError}) {
    const Code code = kind == FaultKind::kNoSpace ? Code::kNoSpace : Code::kIoError;
    CAPTURE(at);
    CAPTURE(code_str(code));
    MemoryStore base;
    RefState model;
    {
      DiskPtr d = create_disk(base, lab.cfg);
      for (uint64_t lba = 0; lba < lab.cfg.blocks(); lba += RoundsLab::kPiece) {
        JD_REQUIRE_OK(d->write(lba, pattern(lba, RoundsLab::kPiece, 1)));
        model.write(lba, RoundsLab::kPiece, 1);
      }
      close_disk(d);
    }
    {
      FaultInjectingStore fault(base);
      fault.set_ordered(false);
      DiskPtr d = open_disk(fault, lab.cfg);
      fault.reset();
      fault.set_plan(FaultPlan{at, kind, 0, "seg-"});
      std::array<std::atomic<uint64_t>, RoundsLab::kWriters> done{};
      std::atomic<int> failures{0}, unexpected{0};
      const uint64_t rounds_before = d->further_rounds_for_tests();
      lab.write_passes(*d, 2, 4, model, done, failures, unexpected, code);
      further_total += d->further_rounds_for_tests() - rounds_before;
      failed_multi_round += d->failed_multi_round_drains_for_tests();
      CHECK(unexpected == 0);
      if (fault.fault_fired() && failures > 0) ++failed_cases;
      CHECK(!first_mismatch(read_device(*d), model));
      JD_REQUIRE_OK(d->flush());
      CHECK(!first_mismatch(read_device(*d), model));
      close_disk(d);
    }
    DiskPtr d = open_disk(base, lab.cfg);
    CHECK(!first_mismatch(read_device(*d), model));
  }
  MESSAGE(failed_cases << " of 16 cases failed a write, " << failed_multi_round
                       << " drains of several rounds failed; drains took " << further_total
                       << " further rounds in all");
  // A fault that hits the placer's early creation of a file is only a lost hint, and a late
  // one may come after the last write: not every case fails a write.
  // Seen: 9-15 cases and 8-14 drains in normal builds; under ThreadSanitizer, where the
  // placer's early file creations take more of the counted operations, 6-8 and 6-8.
  CHECK(failed_cases >= 3);
  CHECK(failed_multi_round >= 2);
  CHECK(further_total > 0);
}

TEST_CASE("EIO on reads of one data segment fails exactly the reads of its blocks") {
  DiskConfig cfg = failure_config();
  MemoryStore store;
  RefState ref;
  {
    DiskPtr d = create_disk(store, cfg);
    for (uint64_t lba = 0; lba < 96; lba += 8) {
      JD_REQUIRE_OK(d->write(lba, pattern(lba, 8, 1)));
      ref.write(lba, 8, 1);
      JD_REQUIRE_OK(d->flush());
    }
    close_disk(d);
  }
  FaultInjectingStore fault(store);
  DiskPtr d = open_disk(fault, cfg);
  const auto segs = names_with_prefix(store, "seg-");
  REQUIRE(segs.size() >= 3);
  const std::string victim = segs[1];
  const uint64_t victim_id = *SegmentFiles::parse_name(victim);
  fault.fail_reads(victim);
  uint64_t failed = 0, ok = 0;
  std::vector<uint8_t> got(kBlockSize);
  for (uint64_t lba = 0; lba < 96; ++lba) {
    auto r = d->index_for_tests().get(lba);
    JD_REQUIRE_OK(r.status());
    REQUIRE(r->has_value());
    const bool in_victim = (*r)->hba / cfg.segment_blocks == victim_id;
    const Status s = d->read(lba, got);
    if (in_victim) {
      CHECK_MESSAGE(s.code() == Code::kIoError, "lba " << lba << ": " << s.to_string());
      ++failed;
    } else {
      JD_REQUIRE_OK(s);
      CHECK(block_equals(got.data(), ref, lba));
      ++ok;
    }
  }
  MESSAGE("reads of " << victim << " fail: " << failed << " blocks gave EIO, " << ok
                      << " other blocks read correctly");
  CHECK(failed > 0);
  CHECK(ok > 0);
  // The disk is still writable, and once the host reads again every block is back.
  JD_REQUIRE_OK(d->write(200, pattern(200, 1, 2)));
  ref.write(200, 1, 2);
  JD_REQUIRE_OK(d->flush());
  fault.fail_reads("");
  const auto content = read_device(*d);
  CHECK(!first_mismatch(content, ref));
}

}  // namespace jindisk::disk::test
