#include "disk/worker_pool.hpp"

#include <algorithm>

namespace jindisk::disk {

WorkerPool::WorkerPool(size_t threads) {
  if (threads == 0) {
    const unsigned hw = std::thread::hardware_concurrency();
    threads = hw > 1 ? hw - 1 : 0;
  }
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { worker_loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkerPool::run_one_chunk() {
  // Called with mu_ held via the unique_lock in the callers; takes a chunk, runs it unlocked.
  if (fn_ == nullptr || next_ >= n_) return false;
  const size_t begin = next_;
  const size_t end = std::min(n_, begin + chunk_);
  next_ = end;
  ++active_;
  const auto* fn = fn_;
  mu_.unlock();
  for (size_t i = begin; i < end; ++i) (*fn)(i);
  mu_.lock();
  if (--active_ == 0 && next_ >= n_) done_cv_.notify_all();
  return true;
}

void WorkerPool::worker_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || (fn_ != nullptr && next_ < n_); });
    if (stop_) return;
    while (run_one_chunk()) {
    }
  }
}

void WorkerPool::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  // Busy with another caller's job: run this one here. Concurrent callers (FUSE threads
  // reading at a queue depth) already keep the cores busy, and waiting for the pool made
  // them take turns.
  std::unique_lock job(job_mu_, std::try_to_lock);
  if (threads_.empty() || n < 8 || !job.owns_lock()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::unique_lock lock(mu_);
  fn_ = &fn;
  n_ = n;
  next_ = 0;
  chunk_ = std::max<size_t>(4, n / ((threads_.size() + 1) * 4));
  work_cv_.notify_all();
  while (run_one_chunk()) {
  }
  done_cv_.wait(lock, [this] { return active_ == 0 && next_ >= n_; });
  fn_ = nullptr;
  n_ = 0;
}

}  // namespace jindisk::disk
