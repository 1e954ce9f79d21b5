// Store kept in memory, with the crash model of LevelDB's fault-injection env and then some:
// each file keeps its durable content and the writes made since its last sync; the directory
// keeps its durable name table and the changes since the last sync_dir. simulate_crash()
// throws away what a power cut may lose. Used by unit tests and by crash exploration.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "host/store.hpp"

namespace jindisk::host {

// What survives a simulated crash of the data written but not synced.
enum class CrashMode : uint8_t {
  kDropUnsynced,    // nothing unsynced survives (the classic model)
  kKeepUnsynced,    // everything written survives, even unsynced (a crash right after writes)
  kRandomSubset,    // each unsynced write, in order, survives or not by a seeded coin
};

class MemoryStore final : public Store {
 public:
  MemoryStore();
  ~MemoryStore() override;

  Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) override;
  Status remove(std::string_view name) override;
  Status rename(std::string_view from, std::string_view to) override;
  Result<bool> exists(std::string_view name) override;
  Result<std::vector<std::string>> list() override;
  Status sync_dir() override;
  Result<std::unique_ptr<DirLock>> lock(std::string_view name) override;
  Result<SpaceInfo> space() override;
  std::string describe() const override { return "memory"; }

  // Forgets what a crash may lose (per mode; names not made durable by sync_dir revert too).
  // Open File objects from before the crash fail every later call with kIoError; locks are
  // released. `seed` drives kRandomSubset.
  void simulate_crash(CrashMode mode = CrashMode::kDropUnsynced, uint64_t seed = 0);

  // Caps the total bytes of all files: a write past it fails with kNoSpace (0 = unlimited).
  void set_capacity(uint64_t bytes);

  // Test access to raw bytes (the attacker's view): current content of a file.
  Result<std::vector<uint8_t>> read_all(std::string_view name);
  // Replaces a file's content, durably (an attacker edits the host directory while offline).
  Status write_all(std::string_view name, std::span<const uint8_t> bytes);

  // A deep copy of the current (not only durable) state, as an attacker copying the directory
  // sees it.
  std::unique_ptr<MemoryStore> clone() const;

  struct Node;  // one file's content (shared by a name and the File objects opened on it)
  // Names, nodes, held locks, generation and capacity behind one mutex. Shared with every File
  // and DirLock, so one that outlives the store (or a crash) stays safe to use and destroy.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace jindisk::host
