// Little-endian encoding helpers for on-disk structures, and a bounds-checked reader that every
// parser of host bytes uses so that a short or malformed buffer becomes a Status, not a read past
// the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "jindisk/status.hpp"

namespace jindisk::util {

inline void put_u16(uint8_t* p, uint16_t v) { p[0] = uint8_t(v); p[1] = uint8_t(v >> 8); }
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
inline uint16_t get_u16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Appends little-endian fields to a growing byte vector.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { grow(2); put_u16(end(2), v); }
  void u32(uint32_t v) { grow(4); put_u32(end(4), v); }
  void u64(uint64_t v) { grow(8); put_u64(end(8), v); }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

 private:
  void grow(size_t n) { out_.resize(out_.size() + n); }
  uint8_t* end(size_t n) { return out_.data() + out_.size() - n; }
  std::vector<uint8_t>& out_;
};

// Reads little-endian fields from untrusted bytes. The first read past the end latches an
// error; later reads return zeros, and status() reports the problem with `what` as context.
class Reader {
 public:
  Reader(std::span<const uint8_t> in, std::string what) : in_(in), what_(std::move(what)) {}
  uint8_t u8() { return take(1) ? in_[pos_ - 1] : 0; }
  uint16_t u16() { return take(2) ? get_u16(&in_[pos_ - 2]) : 0; }
  uint32_t u32() { return take(4) ? get_u32(&in_[pos_ - 4]) : 0; }
  uint64_t u64() { return take(8) ? get_u64(&in_[pos_ - 8]) : 0; }
  // Copies n bytes into out (zeros if short).
  void bytes(std::span<uint8_t> out) {
    if (take(out.size())) std::memcpy(out.data(), &in_[pos_ - out.size()], out.size());
    else std::memset(out.data(), 0, out.size());
  }
  std::span<const uint8_t> view(size_t n) {
    return take(n) ? in_.subspan(pos_ - n, n) : std::span<const uint8_t>{};
  }
  size_t remaining() const { return failed_ ? 0 : in_.size() - pos_; }
  size_t position() const { return pos_; }
  bool failed() const { return failed_; }
  Status status() const {
    return failed_ ? Status::corruption(what_ + ": truncated or malformed") : Status::ok();
  }

 private:
  bool take(size_t n) {
    if (failed_ || n > in_.size() - pos_) { failed_ = true; return false; }
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> in_;
  std::string what_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace jindisk::util
