// A file of zeros ("reserve") that holds back host space for what a full host must still allow:
// the user's flush that commits buffered writes and trims, which is what frees space. Without
// it, a host that filled up with a full write buffer could never commit the trim that would
// give space back. The write path never uses the reserve; a flush that hits ENOSPC releases it
// and retries, and commits refill it when the host has room again.
#pragma once

#include <cstdint>

#include "host/store.hpp"
#include "jindisk/status.hpp"

namespace jindisk::disk {

constexpr char kReserveName[] = "reserve";

class SpaceReserve {
 public:
  SpaceReserve(host::Store& store, uint64_t bytes) : store_(store), bytes_(bytes) {}

  // Grows the file towards its full size, synced. Best effort: stops quietly when the host is
  // full (what was written stays reserved).
  void refill();
  // Removes the file, giving its space to the next writes. False if nothing was reserved.
  bool release();
  bool full() const { return held_ >= bytes_; }

 private:
  host::Store& store_;
  const uint64_t bytes_;
  uint64_t held_ = 0;
  bool checked_ = false;  // held_ reflects the file on the host
};

}  // namespace jindisk::disk
