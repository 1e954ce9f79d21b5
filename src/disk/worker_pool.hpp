// A fixed pool of threads for data-parallel AEAD work: parallel_for splits [0, n) into chunks
// that the pool's threads and the calling thread take in turn. Sealing 4 KiB blocks is ~2 µs
// each, so small batches run inline on the caller.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace jindisk::disk {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);  // 0: hardware_concurrency() - 1
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls fn(i) for every i in [0, n); returns when all calls have finished. Calls for
  // different i may run concurrently. While another caller's job runs, the calling thread
  // does all of its own work. Not reentrant from inside fn.
  void parallel_for(size_t n, const std::function<void(size_t)>& fn);

 private:
  void worker_loop();
  bool run_one_chunk();  // with mu_ released around the work

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::mutex job_mu_;  // one job on the pool at a time
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  size_t next_ = 0;
  size_t chunk_ = 1;
  size_t active_ = 0;
  bool stop_ = false;
};

}  // namespace jindisk::disk
