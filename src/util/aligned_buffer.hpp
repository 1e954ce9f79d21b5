// A zero-initialised byte buffer aligned to 4096 bytes, so that whole pages of it can be written
// with O_DIRECT (the host store writes aligned pages that way).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>

namespace jindisk::util {

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 4096;

  explicit AlignedBuffer(size_t size) : size_(size) {
    const size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
    if (p == nullptr) throw std::bad_alloc();
    std::memset(p, 0, rounded == 0 ? kAlign : rounded);
    data_.reset(static_cast<uint8_t*>(p));
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
  size_t size_;
};

}  // namespace jindisk::util
