#include "host/memory_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>

namespace jindisk::host {
namespace {

// One unsynced change to a file, kept so a crash can replay any subset of them.
struct PendingOp {
  bool is_truncate = false;
  uint64_t offset = 0;  // the new size, for a truncate
  std::vector<uint8_t> bytes;
};

// Bigger files would make a stray offset allocate the machine's memory instead of failing.
constexpr uint64_t kMaxFileSize = uint64_t{1} << 36;
// What space() reports as the total when no capacity is set.
constexpr uint64_t kUnlimitedTotal = uint64_t{1} << 40;

void apply_op(std::vector<uint8_t>& content, const PendingOp& op) {
  if (op.is_truncate) {
    content.resize(op.offset);  // growing fills with zeros, like a sparse file
    return;
  }
  uint64_t end = op.offset + op.bytes.size();
  if (content.size() < end) content.resize(end);
  std::copy(op.bytes.begin(), op.bytes.end(), content.begin() + static_cast<ptrdiff_t>(op.offset));
}

Status check_name(std::string_view name) {
  if (valid_name(name)) return Status::ok();
  return Status::invalid_argument("invalid store name '" + std::string(name) + "'");
}

std::string where(std::string_view name) {
  return "memory/" + std::string(name);
}

}  // namespace

struct MemoryStore::Node {
  std::vector<uint8_t> durable;    // what survives any crash
  std::vector<PendingOp> pending;  // since the last sync, in order
  std::vector<uint8_t> current;    // durable with pending applied: what reads see
};

using NodeMap = std::map<std::string, std::shared_ptr<MemoryStore::Node>, std::less<>>;

struct MemoryStore::State {
  // One mutex for the directory and every Node's content: simple, and the memory store is for
  // tests, not throughput.
  std::mutex mu;
  NodeMap names;                                       // current
  NodeMap durable_names;                               // as of the last sync_dir
  std::map<std::string, int, std::less<>> held_locks;  // name -> owner pid
  uint64_t generation = 0;  // bumped by a crash; File and DirLock objects of older ones are dead
  uint64_t capacity = 0;    // 0 = unlimited

  uint64_t used_locked() const {
    uint64_t used = 0;
    for (const auto& [name, node] : names) used += node->current.size();
    return used;
  }

  // Whether node may grow to new_size without passing the capacity.
  Status check_growth_locked(const Node& node, uint64_t new_size, std::string_view name) const {
    if (new_size > kMaxFileSize) return Status::no_space(where(name) + ": file too large");
    if (capacity == 0 || new_size <= node.current.size()) return Status::ok();
    if (used_locked() + (new_size - node.current.size()) > capacity) {
      return Status::no_space(where(name) + ": memory store capacity exhausted");
    }
    return Status::ok();
  }

  // Appends an op to a node's unsynced changes and applies it to the visible content.
  static void record(Node& node, PendingOp op) {
    apply_op(node.current, op);
    node.pending.push_back(std::move(op));
  }

  static void sync(Node& node) {
    node.durable = node.current;
    node.pending.clear();
  }

  // Writes "pid\n" as the whole content of a lock file, durably (PosixStore fdatasyncs it).
  Status write_pid_locked(std::string_view name, int pid) {
    auto it = names.find(name);
    if (it == names.end()) return Status::ok();  // removed under us; the pid map still holds it
    Node& node = *it->second;
    std::string text = std::to_string(pid) + "\n";
    JD_TRY(check_growth_locked(node, text.size(), name));
    record(node, PendingOp{false, 0, std::vector<uint8_t>(text.begin(), text.end())});
    record(node, PendingOp{true, text.size(), {}});
    sync(node);
    return Status::ok();
  }
};

namespace {

using State = MemoryStore::State;
using Node = MemoryStore::Node;

Status crashed() {
  return Status::io_error("store crashed");
}

class MemoryFile final : public File {
 public:
  MemoryFile(std::shared_ptr<State> state, std::shared_ptr<Node> node, uint64_t generation,
             std::string name)
      : state_(std::move(state)),
        node_(std::move(node)),
        generation_(generation),
        name_(std::move(name)) {}

  Result<size_t> read_at(uint64_t offset, std::span<uint8_t> out) override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    const auto& content = node_->current;
    if (offset >= content.size()) return size_t{0};
    size_t n = std::min<uint64_t>(out.size(), content.size() - offset);
    std::copy_n(content.begin() + static_cast<ptrdiff_t>(offset), n, out.begin());
    return n;
  }

  Status write_at(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    if (data.empty()) return Status::ok();  // like pwrite: an empty write does not extend
    if (offset > kMaxFileSize) return Status::no_space(where(name_) + ": file too large");
    uint64_t end = offset + data.size();
    JD_TRY(
        state_->check_growth_locked(*node_, std::max<uint64_t>(end, node_->current.size()), name_));
    State::record(*node_, PendingOp{false, offset, std::vector<uint8_t>(data.begin(), data.end())});
    return Status::ok();
  }

  Status sync() override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    State::sync(*node_);
    return Status::ok();
  }

  Result<uint64_t> size() override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    return uint64_t{node_->current.size()};
  }

  Status truncate(uint64_t size) override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    JD_TRY(state_->check_growth_locked(*node_, size, name_));
    State::record(*node_, PendingOp{true, size, {}});
    return Status::ok();
  }

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<Node> node_;
  uint64_t generation_;
  std::string name_;  // as opened, for messages
};

class MemoryDirLock final : public DirLock {
 public:
  MemoryDirLock(std::shared_ptr<State> state, std::string name, uint64_t generation)
      : state_(std::move(state)), name_(std::move(name)), generation_(generation) {}

  ~MemoryDirLock() override {
    std::lock_guard lock(state_->mu);
    // After a crash the lock was already released and may now belong to someone else.
    if (generation_ == state_->generation) state_->held_locks.erase(name_);
  }

  Status set_owner(int pid) override {
    std::lock_guard lock(state_->mu);
    if (generation_ != state_->generation) return crashed();
    state_->held_locks[name_] = pid;
    return state_->write_pid_locked(name_, pid);
  }

 private:
  std::shared_ptr<State> state_;
  std::string name_;
  uint64_t generation_;
};

}  // namespace

MemoryStore::MemoryStore() : state_(std::make_shared<State>()) {}
MemoryStore::~MemoryStore() = default;

Result<std::unique_ptr<File>> MemoryStore::open(std::string_view name, OpenMode mode) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  std::shared_ptr<Node> node;
  auto it = state_->names.find(name);
  if (it != state_->names.end()) {
    if (mode == OpenMode::kCreateNew) return Status::already_exists(where(name) + " exists");
    node = it->second;
  } else {
    if (mode == OpenMode::kExisting) return Status::not_found(where(name) + ": no such file");
    node = std::make_shared<Node>();
    state_->names.emplace(std::string(name), node);
  }
  return std::unique_ptr<File>(
      new MemoryFile(state_, std::move(node), state_->generation, std::string(name)));
}

Status MemoryStore::remove(std::string_view name) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  auto it = state_->names.find(name);
  if (it == state_->names.end()) return Status::not_found(where(name) + ": no such file");
  state_->names.erase(it);
  return Status::ok();
}

Status MemoryStore::rename(std::string_view from, std::string_view to) {
  JD_TRY(check_name(from));
  JD_TRY(check_name(to));
  std::lock_guard lock(state_->mu);
  auto it = state_->names.find(from);
  if (it == state_->names.end()) return Status::not_found(where(from) + ": no such file");
  if (from == to) return Status::ok();  // rename(2) does nothing when both name one file
  std::shared_ptr<Node> node = std::move(it->second);
  state_->names.erase(it);
  state_->names.insert_or_assign(std::string(to), std::move(node));
  return Status::ok();
}

Result<bool> MemoryStore::exists(std::string_view name) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  return state_->names.contains(name);
}

Result<std::vector<std::string>> MemoryStore::list() {
  std::lock_guard lock(state_->mu);
  std::vector<std::string> out;
  out.reserve(state_->names.size());
  for (const auto& [name, node] : state_->names) out.push_back(name);
  return out;
}

Status MemoryStore::sync_dir() {
  std::lock_guard lock(state_->mu);
  state_->durable_names = state_->names;
  return Status::ok();
}

Result<std::unique_ptr<DirLock>> MemoryStore::lock(std::string_view name) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  auto held = state_->held_locks.find(name);
  if (held != state_->held_locks.end()) {
    return Status::busy("memory store is in use by process " + std::to_string(held->second));
  }
  // Like PosixStore, the lock is also a file holding the pid, so list() sees the same names.
  if (!state_->names.contains(name))
    state_->names.emplace(std::string(name), std::make_shared<Node>());
  int pid = static_cast<int>(::getpid());
  JD_TRY(state_->write_pid_locked(name, pid));
  state_->held_locks.emplace(std::string(name), pid);
  return std::unique_ptr<DirLock>(new MemoryDirLock(state_, std::string(name), state_->generation));
}

Result<SpaceInfo> MemoryStore::space() {
  std::lock_guard lock(state_->mu);
  SpaceInfo info;
  info.total_bytes = state_->capacity != 0 ? state_->capacity : kUnlimitedTotal;
  uint64_t used = state_->used_locked();
  info.free_bytes = used < info.total_bytes ? info.total_bytes - used : 0;
  return info;
}

void MemoryStore::simulate_crash(CrashMode mode, uint64_t seed) {
  std::lock_guard lock(state_->mu);
  std::mt19937_64 coin(seed);
  state_->names = state_->durable_names;
  // The map is ordered, so a seed replays the same coin flips onto the same files.
  for (auto& [name, node] : state_->names) {
    switch (mode) {
      case CrashMode::kDropUnsynced:
        break;
      case CrashMode::kKeepUnsynced:
        node->durable = node->current;
        break;
      case CrashMode::kRandomSubset:
        for (const PendingOp& op : node->pending) {
          if (coin() & 1) apply_op(node->durable, op);
        }
        break;
    }
    node->current = node->durable;
    node->pending.clear();
  }
  state_->held_locks.clear();
  ++state_->generation;
}

void MemoryStore::set_capacity(uint64_t bytes) {
  std::lock_guard lock(state_->mu);
  state_->capacity = bytes;
}

Result<std::vector<uint8_t>> MemoryStore::read_all(std::string_view name) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  auto it = state_->names.find(name);
  if (it == state_->names.end()) return Status::not_found(where(name) + ": no such file");
  return it->second->current;
}

Status MemoryStore::write_all(std::string_view name, std::span<const uint8_t> bytes) {
  JD_TRY(check_name(name));
  std::lock_guard lock(state_->mu);
  auto it = state_->names.find(name);
  std::shared_ptr<Node> node = it != state_->names.end() ? it->second : std::make_shared<Node>();
  JD_TRY(state_->check_growth_locked(*node, bytes.size(), name));
  node->durable.assign(bytes.begin(), bytes.end());
  node->current = node->durable;
  node->pending.clear();
  state_->names.insert_or_assign(std::string(name), node);
  state_->durable_names.insert_or_assign(std::string(name), node);
  return Status::ok();
}

std::unique_ptr<MemoryStore> MemoryStore::clone() const {
  auto copy = std::make_unique<MemoryStore>();
  std::lock_guard lock(state_->mu);
  // Capacity is not copied: the copy stands for another host directory with its own limits.
  for (const auto& [name, node] : state_->names) {
    auto fresh = std::make_shared<Node>();
    fresh->durable = node->current;
    fresh->current = node->current;
    copy->state_->names.emplace(name, fresh);
  }
  copy->state_->durable_names = copy->state_->names;
  return copy;
}

}  // namespace jindisk::host
