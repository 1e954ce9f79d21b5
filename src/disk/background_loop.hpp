// A thread that runs one bounded step of background work at a time. It keeps calling `step`
// while step reports more work, then sleeps until wake() or until `idle` has passed. Steps
// take the locks they need themselves; stop() (also the destructor) waits for the current
// step to end, so the owner must not hold a lock a step takes while stopping it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace jindisk::disk {

class BackgroundLoop {
 public:
  BackgroundLoop(std::function<bool()> step, std::chrono::milliseconds idle);
  ~BackgroundLoop();
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  void wake();
  void stop();

 private:
  void run();

  std::function<bool()> step_;
  const std::chrono::milliseconds idle_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace jindisk::disk
