#include "disk/background_loop.hpp"

namespace jindisk::disk {

BackgroundLoop::BackgroundLoop(std::function<bool()> step, std::chrono::milliseconds idle)
    : step_(std::move(step)), idle_(idle), thread_([this] { run(); }) {}

BackgroundLoop::~BackgroundLoop() { stop(); }

void BackgroundLoop::wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_one();
}

void BackgroundLoop::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void BackgroundLoop::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    woken_ = false;
    lock.unlock();
    const bool more = step_();
    lock.lock();
    if (more) continue;
    cv_.wait_for(lock, idle_, [this] { return stop_ || woken_; });
  }
}

}  // namespace jindisk::disk
