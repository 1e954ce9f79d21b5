// Shared helpers of the libFuzzer targets (fuzz/*.cpp): a forward reader over the fuzz input,
// the writer that builds seed inputs in the same layout, the check that turns a broken
// invariant into a crash libFuzzer records, and the `--write-seeds=DIR` mode every target has.
//
// Layouts are read front to back with every field optional: a short input reads zeros, so any
// byte string is a valid input, and seeds written by Seed below parse back field by field.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/sodium.hpp"
#include "jindisk/status.hpp"

namespace jindisk::fuzz {

// Reads little-endian fields from the fuzz input; past the end it yields zeros / empty spans.
class In {
 public:
  In(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  // Up to n bytes (fewer at the end of the input).
  std::span<const uint8_t> bytes(size_t n) {
    n = std::min(n, n_ - pos_);
    std::span<const uint8_t> out(p_ + pos_, n);
    pos_ += n;
    return out;
  }
  template <size_t N>
  void fill(std::array<uint8_t, N>& out) {
    out.fill(0);
    auto b = bytes(N);
    if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
  }
  std::span<const uint8_t> rest() { return bytes(n_ - pos_); }
  bool empty() const { return pos_ >= n_; }
  size_t remaining() const { return n_ - pos_; }

 private:
  uint64_t take(size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) {
      if (pos_ < n_) v |= uint64_t{p_[pos_++]} << (8 * i);
    }
    return v;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

// Builds inputs in In's layout (for seeds).
class Seed {
 public:
  Seed& u8(uint8_t v) { return put(v, 1); }
  Seed& u16(uint16_t v) { return put(v, 2); }
  Seed& u32(uint32_t v) { return put(v, 4); }
  Seed& u64(uint64_t v) { return put(v, 8); }
  Seed& bytes(std::span<const uint8_t> b) {
    out.insert(out.end(), b.begin(), b.end());
    return *this;
  }
  std::vector<uint8_t> out;

 private:
  Seed& put(uint64_t v, size_t k) {
    for (size_t i = 0; i < k; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
};

// A block given in the input as u16 length + bytes, zero-padded to `size` (most plaintext
// blocks end in zero padding, so seeds stay small and mutations stay meaningful).
inline std::vector<uint8_t> padded_block(In& in, size_t size) {
  std::vector<uint8_t> block(size, 0);
  const size_t len = std::min<size_t>(in.u16(), size);
  auto b = in.bytes(len);
  if (!b.empty()) std::memcpy(block.data(), b.data(), b.size());
  return block;
}
// The seed side of padded_block: trailing zeros are dropped.
inline void put_padded_block(Seed& s, std::span<const uint8_t> block) {
  size_t len = block.size();
  while (len > 0 && block[len - 1] == 0) --len;
  s.u16(static_cast<uint16_t>(len)).bytes(block.first(len));
}

// A broken invariant: print and abort, so libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "FUZZ INVARIANT BROKEN: %s%s%s\n", what, detail.empty() ? "" : ": ",
               detail.c_str());
  std::abort();
}
inline void check(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) fail(what, detail);
}
// A Status that must be OK (harness setup, or an operation the invariants say must work).
inline void must(const Status& s, const char* what) {
  if (!s.is_ok()) fail(what, s.to_string());
}

// `--write-seeds=DIR` among the arguments (libFuzzer ignores flags starting with "--"): the
// directory to write this target's seed corpus into.
inline std::optional<std::string> seed_dir(int* argc, char*** argv) {
  for (int i = 1; argc != nullptr && i < *argc; ++i) {
    std::string_view a((*argv)[i]);
    if (a.starts_with("--write-seeds=")) return std::string(a.substr(14));
  }
  return std::nullopt;
}

// The body of every target's LLVMFuzzerInitialize: starts libsodium, and with
// `--write-seeds=DIR` writes the target's seed corpus there and exits.
inline void initialize_target(int* argc, char*** argv, void (*write_seeds)(const std::string&)) {
  crypto::init();
  if (auto dir = seed_dir(argc, argv)) {
    write_seeds(*dir);
    std::exit(0);
  }
}

inline void write_seed(const std::string& dir, const std::string& name,
                       std::span<const uint8_t> bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail("cannot write seed", path);
  std::fprintf(stderr, "seed %s (%zu bytes)\n", path.c_str(), bytes.size());
}

}  // namespace jindisk::fuzz
