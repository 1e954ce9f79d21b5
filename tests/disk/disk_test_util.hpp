// Helpers shared by the secure disk's failure and attack suites: scaled sizes, replayable
// seeds, disk options for tests, a reference model of the disk's content, and the attacker's
// view of a MemoryStore.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "conformance/block_device_suite.hpp"
#include "disk/secure_disk.hpp"
#include "host/memory_store.hpp"
#include "jindisk/disk.hpp"
#include "jindisk/options.hpp"

namespace jindisk::disk::test {

using conformance::fill_pattern;
using conformance::pattern;
using host::MemoryStore;

// ---- Scale and seeds

// Factor applied to operation counts. JINDISK_TEST_SCALE overrides; without it, sanitizer and
// unoptimised builds (the ASan build is buildtype=debug) run half of the work.
inline double test_scale() {
  static const double scale = [] {
    if (const char* env = std::getenv("JINDISK_TEST_SCALE"); env && *env) {
      const double v = std::strtod(env, nullptr);
      if (v > 0) return v;
    }
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
    return 0.5;
#else
    return 1.0;
#endif
  }();
  return scale;
}

// n scaled, never below `at_least`.
inline uint64_t scaled(uint64_t n, uint64_t at_least = 1) {
  const auto v = static_cast<uint64_t>(static_cast<double>(n) * test_scale());
  return v < at_least ? at_least : v;
}

// JINDISK_SEED if set (to replay a failure), else a random seed. Tests print it with CAPTURE.
inline uint64_t test_seed() {
  if (const char* env = std::getenv("JINDISK_SEED"); env && *env) {
    return std::strtoull(env, nullptr, 0);
  }
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

// ---- Temporary directories

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/jindisk-disk-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_os_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_os_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// ---- Options

inline constexpr char kPassphrase[] = "test passphrase";
inline KeySource test_key() {
  return KeySource::passphrase(kPassphrase);
}

// Collects the engine's warnings (instead of stderr), thread-safe; copies share the log.
class Warnings {
 public:
  std::function<void(std::string_view)> sink() const {
    auto s = state_;
    return [s](std::string_view m) {
      std::lock_guard lock(s->mu);
      s->messages.emplace_back(m);
    };
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(state_->mu);
    return state_->messages;
  }
  bool contains(std::string_view needle) const {
    for (const auto& m : messages()) {
      if (m.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  void clear() {
    std::lock_guard lock(state_->mu);
    state_->messages.clear();
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<std::string> messages;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

struct DiskConfig {
  uint64_t logical_bytes = 4u << 20;
  uint32_t segment_blocks = 16;
  size_t memtable_entries = 64;
  size_t write_buffer_bytes = 64u << 10;
  bool background_compaction = false;
  bool background_cleaning = false;  // tests call clean_step() themselves
  uint64_t space_reserve_bytes = 0;  // none: host usage bounds count data and metadata only
  AnchorMode anchor = AnchorMode::kNone;
  std::string anchor_path;
  bool read_only = false;
  bool accept_rollback = false;

  uint64_t blocks() const { return logical_bytes / kBlockSize; }

  CreateOptions create_options() const {
    CreateOptions co;
    co.logical_bytes = logical_bytes;
    co.kdf = KdfStrength::kTesting;
    co.segment_blocks = segment_blocks;
    return co;
  }
  OpenOptions open_options(const Warnings& warnings = Warnings()) const {
    OpenOptions oo;
    oo.read_only = read_only;
    oo.cache_bytes = 4u << 20;
    oo.write_buffer_bytes = write_buffer_bytes;
    oo.anchor = anchor;
    oo.anchor_path = anchor_path;
    oo.accept_rollback = accept_rollback;
    oo.background_compaction = background_compaction;
    oo.background_cleaning = background_cleaning;
    oo.space_reserve_bytes = space_reserve_bytes;
    oo.memtable_entries = memtable_entries;
    oo.on_warning = warnings.sink();
    return oo;
  }
};

using DiskPtr = std::unique_ptr<SecureDisk>;

inline DiskPtr create_disk(host::Store& store, const DiskConfig& cfg,
                           const Warnings& warnings = Warnings()) {
  auto d = SecureDisk::create(store, test_key(), cfg.create_options(), cfg.open_options(warnings));
  REQUIRE_MESSAGE(d.is_ok(), "create: " << d.status().to_string());
  return std::move(d).value();
}

inline Result<DiskPtr> try_open(host::Store& store, const DiskConfig& cfg,
                                const Warnings& warnings = Warnings()) {
  return SecureDisk::open(store, test_key(), cfg.open_options(warnings));
}

inline DiskPtr open_disk(host::Store& store, const DiskConfig& cfg,
                         const Warnings& warnings = Warnings()) {
  auto d = try_open(store, cfg, warnings);
  REQUIRE_MESSAGE(d.is_ok(), "open: " << d.status().to_string());
  return std::move(d).value();
}

// Clean close (checked), then the object goes away.
inline void close_disk(DiskPtr& d) {
  if (!d) return;
  const Status s = d->close();
  REQUIRE_MESSAGE(s.is_ok(), "close: " << s.to_string());
  d.reset();
}

#define JD_REQUIRE_OK(expr)                                          \
  do {                                                               \
    const ::jindisk::Status jd_s_ = (expr);                          \
    REQUIRE_MESSAGE(jd_s_.is_ok(), #expr ": " << jd_s_.to_string()); \
  } while (0)

// ---- Reference model: lba -> version of pattern(lba, version); absent = zeros.

struct RefState {
  std::map<uint64_t, uint64_t> version;

  void write(uint64_t lba, uint64_t n, uint64_t v) {
    for (uint64_t i = 0; i < n; ++i) version[lba + i] = v;
  }
  void trim(uint64_t lba, uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) version.erase(lba + i);
  }
  void expected_block(uint64_t lba, uint8_t* out) const {
    auto it = version.find(lba);
    if (it == version.end())
      std::memset(out, 0, kBlockSize);
    else
      fill_pattern(out, lba, it->second);
  }
  bool operator==(const RefState&) const = default;
};

// The whole device, read in chunks; REQUIREs success.
inline std::vector<uint8_t> read_device(BlockDevice& d) {
  const uint64_t blocks = d.block_count();
  std::vector<uint8_t> out(blocks * kBlockSize);
  constexpr uint64_t kChunk = 256;
  for (uint64_t lba = 0; lba < blocks; lba += kChunk) {
    const uint64_t n = std::min(kChunk, blocks - lba);
    const Status s = d.read(lba, std::span(out.data() + lba * kBlockSize, n * kBlockSize));
    REQUIRE_MESSAGE(s.is_ok(), "read of " << n << " blocks at " << lba << ": " << s.to_string());
  }
  return out;
}

// First LBA where `content` (a whole device) differs from `ref`, or nullopt.
inline std::optional<uint64_t> first_mismatch(const std::vector<uint8_t>& content,
                                              const RefState& ref) {
  std::array<uint8_t, kBlockSize> want;
  const uint64_t blocks = content.size() / kBlockSize;
  for (uint64_t lba = 0; lba < blocks; ++lba) {
    ref.expected_block(lba, want.data());
    if (std::memcmp(content.data() + lba * kBlockSize, want.data(), kBlockSize) != 0) return lba;
  }
  return std::nullopt;
}

inline bool block_equals(const uint8_t* got, const RefState& ref, uint64_t lba) {
  std::array<uint8_t, kBlockSize> want;
  ref.expected_block(lba, want.data());
  return std::memcmp(got, want.data(), kBlockSize) == 0;
}

// ---- Attacker's view of a MemoryStore

inline std::vector<std::string> list_names(host::Store& store) {
  auto names = store.list();
  REQUIRE_MESSAGE(names.is_ok(), names.status().to_string());
  std::vector<std::string> v = *names;
  std::sort(v.begin(), v.end());
  return v;
}

inline std::vector<std::string> names_with_prefix(host::Store& store, std::string_view prefix) {
  std::vector<std::string> out;
  for (auto& n : list_names(store)) {
    if (n.starts_with(prefix)) out.push_back(n);
  }
  return out;
}

inline std::vector<uint8_t> raw(MemoryStore& store, std::string_view name) {
  auto bytes = store.read_all(name);
  REQUIRE_MESSAGE(bytes.is_ok(), name << ": " << bytes.status().to_string());
  return std::move(bytes).value();
}

inline void put_raw(MemoryStore& store, std::string_view name, const std::vector<uint8_t>& b) {
  const Status s = store.write_all(name, b);
  REQUIRE_MESSAGE(s.is_ok(), name << ": " << s.to_string());
}

// Removes a file durably (the attacker deletes it while the disk is offline).
inline void remove_raw(MemoryStore& store, std::string_view name) {
  JD_REQUIRE_OK(store.remove(name));
  JD_REQUIRE_OK(store.sync_dir());
}

// Every file's bytes, by name.
inline std::map<std::string, std::vector<uint8_t>> snapshot_files(MemoryStore& store) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (const auto& n : list_names(store)) out[n] = raw(store, n);
  return out;
}

inline uint64_t total_host_bytes(MemoryStore& store) {
  uint64_t sum = 0;
  for (const auto& n : list_names(store)) {
    // Background compaction removes index files it no longer needs at any time.
    auto bytes = store.read_all(n);
    if (bytes.is_ok()) sum += bytes->size();
    else REQUIRE_MESSAGE(bytes.status().code() == Code::kNotFound, n << ": " << bytes.status().to_string());
  }
  return sum;
}

inline bool contains_bytes(const std::vector<uint8_t>& hay, std::span<const uint8_t> needle) {
  if (needle.empty() || hay.size() < needle.size()) return false;
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

inline std::string code_str(Code c) {
  return std::string(code_name(c));
}

}  // namespace jindisk::disk::test
