// The host layer: named files in one untrusted directory (SECURE_DIR).
//
// Everything above this layer sees the host only through Store and File. The store is flat (no
// subdirectories); names are short and made of [a-z0-9._-]. Nothing here authenticates or
// encrypts: that is the job of crypto/ and log/. What this layer does promise is the durability
// model the commit protocol relies on:
//   - File::write_at is durable only after File::sync() returns OK;
//   - a created, renamed or removed name is durable only after Store::sync_dir() returns OK;
//   - rename() atomically replaces the target name.
// Implementations: PosixStore (a real directory), MemoryStore (in memory, with a crash model
// that forgets everything not synced), FaultInjectingStore (wraps any store to inject errors,
// torn writes and crashes at a chosen operation).
//
// Thread-safety: a Store and distinct File objects may be used from several threads at once.
// One File may be read concurrently; concurrent write_at calls to one File at overlapping
// ranges have no defined outcome.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jindisk/status.hpp"

namespace jindisk::host {

class File {
 public:
  virtual ~File() = default;
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Reads up to out.size() bytes at offset. Returns the number of bytes read, which is smaller
  // than out.size() only when the file ends first. Retries EINTR and short reads.
  virtual Result<size_t> read_at(uint64_t offset, std::span<uint8_t> out) = 0;

  // Writes all of data at offset, extending the file if needed (a gap reads as zeros).
  // Retries EINTR and short writes. kNoSpace when the host is full.
  virtual Status write_at(uint64_t offset, std::span<const uint8_t> data) = 0;

  // Makes every completed write_at durable (fdatasync).
  virtual Status sync() = 0;

  // A hint that [offset, offset + bytes) will be read soon: the store may start fetching it
  // without waiting, so that reads of several scattered ranges overlap. No effect on results.
  virtual void prefetch(uint64_t offset, size_t bytes) { (void)offset, (void)bytes; }

  // A hint that the file will be written up to `bytes`: the store may allocate host space for
  // it now, without changing size(), so that those writes find it allocated. Failure (a full
  // host, a file system without preallocation) is ignored: the writes report what matters.
  virtual void preallocate(uint64_t bytes) { (void)bytes; }

  virtual Result<uint64_t> size() = 0;

  // Sets the file size; bytes past a grown size read as zeros. Durable after sync().
  virtual Status truncate(uint64_t size) = 0;

  // Reads exactly out.size() bytes at offset: a short file is kCorruption (host data is
  // untrusted, so "the file is too short" is damage, not an I/O error).
  Status read_exact(uint64_t offset, std::span<uint8_t> out);
};

enum class OpenMode : uint8_t {
  kExisting,      // the name must exist (kNotFound otherwise)
  kCreateNew,     // the name must not exist (kAlreadyExists otherwise); starts empty
  kCreateOrOpen,  // open, creating an empty file if needed
};

// Held exclusive lock on a store; released when destroyed.
class DirLock {
 public:
  virtual ~DirLock() = default;
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  // Records a new owner pid (after a daemon forks, the child holds the lock).
  virtual Status set_owner(int pid) = 0;
};

struct SpaceInfo {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to this process
};

class Store {
 public:
  virtual ~Store() = default;
  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  virtual Result<std::unique_ptr<File>> open(std::string_view name, OpenMode mode) = 0;
  virtual Status remove(std::string_view name) = 0;  // kNotFound if absent
  virtual Status rename(std::string_view from, std::string_view to) = 0;
  virtual Result<bool> exists(std::string_view name) = 0;
  // Names of all files in the store, in no particular order (lock files included).
  virtual Result<std::vector<std::string>> list() = 0;
  // Makes creations, renames and removals durable (fsync of the directory).
  virtual Status sync_dir() = 0;
  // Takes the exclusive lock `name` (a file in the store holding the owner's pid). If another
  // holder has it: kBusy with a message naming the holder's pid. Not reentrant: a second
  // lock() of the same name in this process is also kBusy.
  virtual Result<std::unique_ptr<DirLock>> lock(std::string_view name) = 0;
  virtual Result<SpaceInfo> space() = 0;
  // Human-readable location, for messages ("/home/u/secure.d", "memory").
  virtual std::string describe() const = 0;
  // True if the caller must issue its mutating operations one at a time, in a fixed order.
  // The engine then runs the syncs of a commit one after the other instead of at once.
  virtual bool wants_ordered_operations() const { return false; }
  // How many Files a caller that caches open files should keep open at once: enough to be
  // useful, few enough to leave the process room for everything else it opens.
  virtual size_t open_file_budget() const { return 4096; }
};

// True if name is a valid store name: 1-64 chars of [a-z0-9._-], not "." or "..".
bool valid_name(std::string_view name);

}  // namespace jindisk::host
