// Options for creating and opening a secure disk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace jindisk {

// How strongly a passphrase is stretched (Argon2id). Key files are not stretched.
enum class KdfStrength : uint8_t {
  kModerate,  // 3 passes over 256 MiB: about a second; the default
  kTesting,   // libsodium's minimum: for tests only, never for real disks
};

struct CreateOptions {
  uint64_t logical_bytes = 16ull << 30;  // a multiple of 4096, at least 1 MiB
  KdfStrength kdf = KdfStrength::kModerate;
  // Blocks per data segment file (a power of two from 16 to 65536). 1024 = 4 MiB segments.
  uint32_t segment_blocks = 1024;
  // Force ChaCha20-Poly1305 for data blocks even where AES-256-GCM is available.
  bool force_chacha = false;
};

enum class AnchorMode : uint8_t {
  kDefault,  // $XDG_STATE_HOME/jindisk/<uuid>.anchor (or ~/.local/state/jindisk/...)
  kPath,     // OpenOptions::anchor_path
  kNone,     // no whole-disk rollback protection
};

struct OpenOptions {
  bool read_only = false;
  // Memory for caches: the index block cache and the memtable take their share of it.
  size_t cache_bytes = 64u << 20;
  // Plaintext bytes buffered between flushes before they are sealed and written to the host
  // (still unreachable there until a flush commits them).
  size_t write_buffer_bytes = 16u << 20;
  // Host space held back in SECURE_DIR/reserve so that, once the host is full, a flush can still
  // commit the buffered writes and the trims that give space back. UINT64_MAX: the write buffer
  // plus 4 MiB for index metadata; 0: none.
  uint64_t space_reserve_bytes = UINT64_MAX;
  AnchorMode anchor = AnchorMode::kDefault;
  std::string anchor_path;       // with AnchorMode::kPath
  bool accept_rollback = false;  // open a disk that is behind its anchor, and reset the anchor
  // Compaction in a background thread (false: tests that want determinism).
  bool background_compaction = true;
  // The segment cleaner in a background thread (false: nothing reclaims partly used segments;
  // tests turn it off and call SecureDisk::clean_step themselves).
  bool background_cleaning = true;
  // Entries the index memtable holds before it is written out (0 = derived from cache_bytes).
  size_t memtable_entries = 0;
  // Where warnings go (missing anchor created, anchor update failed, ...). Default: stderr.
  std::function<void(std::string_view)> on_warning;
};

}  // namespace jindisk
