// A reusable byte buffer aligned to 4096 bytes, so that whole pages of it can be written with
// O_DIRECT (the host store writes aligned pages that way).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <span>

namespace jindisk::util {

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 4096;

  AlignedBuffer() = default;

  // Makes the buffer `size` bytes, contents unspecified (the caller overwrites them). Keeps the
  // memory when it is large enough already, so a buffer reused across calls costs no allocation
  // (and no page faults) in steady state.
  void reset(size_t size) {
    const size_t rounded = size == 0 ? kAlign : (size + kAlign - 1) / kAlign * kAlign;
    if (rounded > capacity_) {
      void* p = std::aligned_alloc(kAlign, rounded);
      if (p == nullptr) throw std::bad_alloc();
      data_.reset(static_cast<uint8_t*>(p));
      capacity_ = rounded;
    }
    size_ = size;
  }

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<uint8_t> span() { return {data_.get(), size_}; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace jindisk::util
