#include "crash_workload.hpp"

#include <random>

namespace jindisk::disk::test {
namespace {

class RecordingFile final : public host::File {
 public:
  RecordingFile(RecordingStore& store, std::unique_ptr<host::File> inner, std::string name)
      : store_(store), inner_(std::move(inner)), name_(std::move(name)) {}
  Result<size_t> read_at(uint64_t offset, std::span<uint8_t> out) override {
    return inner_->read_at(offset, out);
  }
  Status write_at(uint64_t offset, std::span<const uint8_t> data) override {
    store_.add(HostOp::kWrite, name_, data.size());
    return inner_->write_at(offset, data);
  }
  Status sync() override {
    store_.add(HostOp::kSync, name_);
    return inner_->sync();
  }
  Result<uint64_t> size() override { return inner_->size(); }
  Status truncate(uint64_t size) override {
    store_.add(HostOp::kTruncate, name_);
    return inner_->truncate(size);
  }

 private:
  RecordingStore& store_;
  std::unique_ptr<host::File> inner_;
  std::string name_;
};

std::string describe_op(const WorkOp& op) {
  switch (op.kind) {
    case OpKind::kWrite:
      return "write lba " + std::to_string(op.lba) + " x" + std::to_string(op.count) + " v" +
             std::to_string(op.version);
    case OpKind::kTrim:
      return "trim lba " + std::to_string(op.lba) + " x" + std::to_string(op.count);
    case OpKind::kFlush:
      return "flush";
    case OpKind::kReopen:
      return "close+reopen";
    case OpKind::kCompact:
      return "compact_now";
    case OpKind::kClean:
      return "clean_step x3";
  }
  return "?";
}

}  // namespace

const char* host_op_name(HostOp op) {
  switch (op) {
    case HostOp::kWrite:
      return "write_at";
    case HostOp::kSync:
      return "sync";
    case HostOp::kTruncate:
      return "truncate";
    case HostOp::kCreate:
      return "open(create)";
    case HostOp::kRemove:
      return "remove";
    case HostOp::kRename:
      return "rename";
    case HostOp::kSyncDir:
      return "sync_dir";
  }
  return "?";
}

Result<std::unique_ptr<host::File>> RecordingStore::open(std::string_view name,
                                                         host::OpenMode mode) {
  if (mode != host::OpenMode::kExisting) add(HostOp::kCreate, name);
  JD_ASSIGN_OR_RETURN(auto file, inner_.open(name, mode));
  return std::unique_ptr<host::File>(new RecordingFile(*this, std::move(file), std::string(name)));
}

Workload make_crash_workload(uint64_t seed, uint64_t op_count, uint64_t blocks) {
  std::mt19937_64 rng(seed);
  Workload w;
  RefState ref;
  w.states.push_back(ref);
  uint64_t version = 0;
  const uint64_t hot = std::min<uint64_t>(32, blocks);
  for (uint64_t i = 0; i < op_count; ++i) {
    WorkOp op;
    if (i + 1 == op_count || i % 10 == 9) {
      op.kind = OpKind::kFlush;
    } else if (i == op_count / 3 || i == 2 * op_count / 3) {
      op.kind = OpKind::kReopen;  // with unflushed writes before it: the close commits them
    } else if (i % 37 == 36) {
      op.kind = OpKind::kCompact;
    } else if (i % 20 == 10) {
      op.kind = OpKind::kClean;  // right after a flush (i % 10 == 9)
    } else if (rng() % 100 < 12) {
      op.kind = OpKind::kTrim;
      op.count = 1 + rng() % 16;
      op.lba = rng() % (blocks - op.count + 1);
    } else {
      op.kind = OpKind::kWrite;
      op.count = 1 + rng() % 8;
      const uint64_t span = (rng() % 100 < 40) ? hot : blocks;
      op.lba = rng() % (span - std::min(span, op.count) + 1);
      if (op.lba + op.count > blocks) op.lba = blocks - op.count;
      op.version = ++version;
    }
    switch (op.kind) {
      case OpKind::kWrite:
        ref.write(op.lba, op.count, op.version);
        ++w.writes;
        break;
      case OpKind::kTrim:
        ref.trim(op.lba, op.count);
        ++w.trims;
        break;
      case OpKind::kFlush:
        w.states.push_back(ref);
        ++w.flushes;
        break;
      case OpKind::kReopen:
        w.states.push_back(ref);
        ++w.reopens;
        break;
      case OpKind::kCompact:
        ++w.compactions;
        break;
      case OpKind::kClean:
        ++w.cleanings;  // moves blocks; the content stays that of the last flush
        break;
    }
    w.ops.push_back(op);
  }
  return w;
}

Workload make_sequential_workload(uint64_t seed, uint64_t op_count, uint64_t blocks) {
  std::mt19937_64 rng(seed);
  Workload w;
  RefState ref;
  w.states.push_back(ref);
  uint64_t version = 0, cursor = 0;
  for (uint64_t i = 0; i < op_count; ++i) {
    WorkOp op;
    if (i + 1 == op_count || i % 5 == 4) {
      op.kind = OpKind::kFlush;
      w.states.push_back(ref);
      ++w.flushes;
    } else if (i == op_count / 2) {
      op.kind = OpKind::kReopen;
      w.states.push_back(ref);
      ++w.reopens;
    } else if (i % 10 == 5) {
      op.kind = OpKind::kClean;
      ++w.cleanings;
    } else if (i % 13 == 12) {
      op.kind = OpKind::kTrim;
      op.count = std::min<uint64_t>(blocks, 32 + rng() % 64);
      op.lba = rng() % (blocks - op.count + 1);
      ref.trim(op.lba, op.count);
      ++w.trims;
    } else {
      op.kind = OpKind::kWrite;
      op.count = std::min<uint64_t>(blocks, 16 + rng() % 49);
      if (cursor + op.count > blocks) cursor = 0;
      op.lba = cursor;
      cursor += op.count;
      op.version = ++version;
      ref.write(op.lba, op.count, op.version);
      ++w.writes;
    }
    w.ops.push_back(op);
  }
  return w;
}

RunOutcome run_workload(host::Store& store, const Workload& w, const DiskConfig& cfg) {
  RunOutcome o;
  Warnings warnings;
  auto fail = [&](size_t i, bool in_flush, const std::string& what, const Status& s) {
    o.failed = true;
    o.failed_in_flush = in_flush;
    o.failed_op = i;
    o.what = what + ": " + s.to_string();
  };
  auto opened = try_open(store, cfg, warnings);
  if (!opened.is_ok()) {
    fail(0, false, "initial open", opened.status());
    return o;
  }
  DiskPtr d = std::move(opened).value();
  for (size_t i = 0; i < w.ops.size(); ++i) {
    const WorkOp& op = w.ops[i];
    Status s;
    switch (op.kind) {
      case OpKind::kWrite:
        s = d->write(op.lba, pattern(op.lba, op.count, op.version));
        break;
      case OpKind::kTrim:
        s = d->trim(op.lba, op.count);
        break;
      case OpKind::kCompact:
        s = d->index_for_tests().compact_now();
        break;
      case OpKind::kClean:
        // Up to three forced steps: each empties one segment and commits the move.
        for (int step = 0; step < 3 && s.is_ok(); ++step) {
          auto more = d->clean_step(/*force=*/true);
          s = more.status();
          if (s.is_ok() && !*more) break;
        }
        break;
      case OpKind::kFlush:
        s = d->flush();
        if (!s.is_ok()) {
          fail(i, true, "op " + std::to_string(i) + " " + describe_op(op), s);
          return o;
        }
        ++o.acked;
        continue;
      case OpKind::kReopen: {
        o.blocks_moved += d->info().blocks_moved;
        s = d->close();
        d.reset();
        if (!s.is_ok()) {
          fail(i, true, "op " + std::to_string(i) + " close", s);
          return o;
        }
        ++o.acked;
        auto again = try_open(store, cfg, warnings);
        if (!again.is_ok()) {
          fail(i, false, "op " + std::to_string(i) + " reopen", again.status());
          return o;
        }
        d = std::move(again).value();
        continue;
      }
    }
    if (!s.is_ok()) {
      fail(i, false, "op " + std::to_string(i) + " " + describe_op(op), s);
      return o;
    }
  }
  // The workload ends with a flush, so the final close has nothing to commit; its result still
  // counts (a failure there may not change the state).
  o.blocks_moved += d->info().blocks_moved;
  const Status s = d->close();
  d.reset();
  if (!s.is_ok()) fail(w.ops.size(), true, "final close", s);
  return o;
}

std::vector<size_t> allowed_states(const Workload& w, const RunOutcome& o) {
  std::vector<size_t> out{o.acked};
  if (o.failed && o.failed_in_flush && o.acked + 1 < w.states.size()) out.push_back(o.acked + 1);
  return out;
}

int matching_state(const Workload& w, const std::vector<size_t>& allowed,
                   const std::vector<uint8_t>& content) {
  for (size_t k : allowed) {
    if (!first_mismatch(content, w.states[k])) return static_cast<int>(k);
  }
  return -1;
}

}  // namespace jindisk::disk::test
