// The secure disk: a BlockDevice whose blocks live, sealed, in an untrusted host directory.
//
// Guarantees (DESIGN.md §2), given the key and, for whole-disk freshness, the anchor file:
//  - confidentiality: the directory holds only ciphertext; no plaintext, key or LBA;
//  - integrity: a block that does not verify is never returned: read() fails with kCorruption
//    (the FUSE adapter returns EIO) and other blocks keep working;
//  - freshness: an older version of any block or metadata file is detected; with an anchor,
//    an older copy of the whole directory is refused at open with kRollback;
//  - atomic flush: after a crash the disk opens to exactly the state of the last flush that
//    returned OK, or of a later one that was in progress (never a mix, never an earlier one);
//  - anonymity: where a block lives on the host says nothing about its LBA; every write of an
//    LBA goes to a new place with a new key.
//
// Thread-safety: read, write, trim, flush, the byte helpers and info may be called from many
// threads at once. close() must not race with other calls.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>
#include <memory>
#include <span>
#include <string>

#include "jindisk/block_device.hpp"
#include "jindisk/options.hpp"
#include "jindisk/status.hpp"

namespace jindisk {

// What unlocks a disk: a passphrase or the 32 raw bytes of a key file. The secret is wiped
// when the object is destroyed.
class KeySource {
 public:
  static KeySource passphrase(std::string_view text);
  static KeySource key_file_bytes(std::span<const uint8_t> bytes);  // must be 32 bytes
  ~KeySource();
  KeySource(KeySource&&) noexcept;
  KeySource& operator=(KeySource&&) noexcept;
  KeySource(const KeySource&) = delete;
  KeySource& operator=(const KeySource&) = delete;

  bool is_passphrase() const { return is_passphrase_; }
  std::span<const uint8_t> secret() const {
    return {reinterpret_cast<const uint8_t*>(secret_.data()), secret_.size()};
  }

 private:
  KeySource(bool is_passphrase, std::string secret);
  bool is_passphrase_ = true;
  std::string secret_;
};

struct DiskInfo {
  std::string uuid;              // 8-4-4-4-12 hex
  uint64_t logical_bytes = 0;
  uint64_t epoch = 0;            // commits since creation
  std::string root_tag;          // hex of the newest root slot's tag: the disk's measurement
  std::string cipher;            // data block cipher
  uint32_t segment_blocks = 0;
  uint64_t live_blocks = 0;      // logical blocks that hold data
  uint64_t segments = 0;         // data segment files
  uint64_t host_bytes = 0;       // bytes of all files in the host directory
  uint64_t allocated_blocks = 0; // host blocks in use (live + not yet released)
  uint64_t user_bytes_written = 0;   // since creation
  uint64_t host_bytes_written = 0;   // since creation (data + metadata)
  uint64_t user_bytes_written_session = 0;
  uint64_t host_bytes_written_session = 0;
  double write_amplification = 0;    // host / user, since creation (0 if nothing written)
  double write_amplification_session = 0;
  // Share of the data segment files' bytes that holds no live block (trimmed or overwritten
  // data not yet cleaned, plus the segment summaries).
  double garbage_ratio = 0;
  uint64_t segments_cleaned = 0;     // by the cleaner, since open
  uint64_t blocks_moved = 0;         // by the cleaner, since open
  uint64_t cleaner_errors = 0;       // failed cleaning steps since open (e.g. host full)
  uint64_t index_files = 0;
  uint64_t compactions = 0;
  bool read_only = false;
  std::string read_only_reason;  // why writes are refused ("" if writable)
  std::string anchor;            // anchor file path, or "" when not used
};

// What check() found. Opening the disk already verified the header, root slots, manifest,
// every SST's tag table and the WAL's committed chain.
struct CheckReport {
  uint64_t live_blocks = 0;      // live mappings found in the index
  uint64_t blocks_verified = 0;  // data blocks read and authenticated
  uint64_t damaged_blocks = 0;
  std::vector<std::string> problems;  // one line per damaged object (capped at 100)
  bool clean() const { return problems.empty() && damaged_blocks == 0; }
};

// What the plaintext header says, readable without the key.
struct HeaderInfo {
  uint32_t format_version = 0;
  std::string uuid;
  uint64_t logical_bytes = 0;
  uint32_t segment_blocks = 0;
  std::string cipher;
  bool passphrase = true;  // false: unlocked with a key file
};
Result<HeaderInfo> read_header_info(const std::string& dir);

// Where a mounted disk's daemon publishes its live DiskInfo as JSON (mode 0600, beside the
// default anchor): $XDG_STATE_HOME/jindisk/<uuid>.live.json, else ~/.local/state/jindisk/.
std::string live_info_path(const std::string& uuid);

// True while another process (a mounted daemon) holds the disk's directory lock.
Result<bool> dir_in_use(const std::string& dir);

// What a directory holds, before anything is unlocked.
enum class DirState : uint8_t { kMissing, kEmpty, kDisk, kNotADisk };
Result<DirState> inspect_dir(const std::string& dir);

class Disk : public BlockDevice {
 public:
  // Creates a new disk in `dir` (created if missing; must be empty otherwise) and opens it.
  static Result<std::unique_ptr<Disk>> create(const std::string& dir, const KeySource& key,
                                              const CreateOptions& create_options,
                                              const OpenOptions& open_options);
  // Opens an existing disk. kWrongKey: the key does not fit. kCorruption/kRollback: the
  // directory failed verification (the message names what). kBusy: another process has it.
  static Result<std::unique_ptr<Disk>> open(const std::string& dir, const KeySource& key,
                                            const OpenOptions& options);
  // Re-wraps the master key under a new passphrase or key file (no data is rewritten).
  static Status change_key(const std::string& dir, const KeySource& old_key,
                           const KeySource& new_key, KdfStrength kdf = KdfStrength::kModerate);

  // Byte-granular I/O for callers such as FUSE: any offset and length inside the device.
  // Partial blocks are read-modify-written under a per-block lock, so concurrent partial
  // writes to one block never lose each other's bytes. Reads past the end are truncated to
  // the device size (the returned count says how many bytes were read).
  virtual Result<size_t> read_bytes(uint64_t offset, std::span<uint8_t> out) = 0;
  virtual Status write_bytes(uint64_t offset, std::span<const uint8_t> data) = 0;
  // Trims whole blocks inside [offset, offset + length) and zeroes the partial edges.
  virtual Status trim_bytes(uint64_t offset, uint64_t length) = 0;

  virtual DiskInfo info() const = 0;

  // Reads every index block (all levels) and every live data block, authenticating each.
  // progress(done, total) is called now and then. Damage is reported in the CheckReport; an
  // error Status means the check itself could not run.
  virtual Result<CheckReport> check(const std::function<void(uint64_t, uint64_t)>& progress) = 0;

  // One line per host file: name, size and what it holds (for `jindisk dump`).
  virtual std::string describe_files() const = 0;

  // Final flush, stops background work, releases the directory lock. Later calls fail with
  // kInvalidArgument. The destructor calls it if needed (ignoring its result).
  virtual Status close() = 0;
};

}  // namespace jindisk
