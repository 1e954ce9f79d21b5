// Helpers shared by the crypto suites: byte patterns and a fork-based "this aborts" check
// (doctest has no death tests, and the contract says programming errors abort).
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace jindisk::crypto::test {

// A deterministic, non-trivial pattern (not all zero, so "output zeroed" means something).
inline void fill_pattern(std::span<uint8_t> out, uint8_t seed) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
}

inline bool all_zero(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (b != 0) return false;
  }
  return true;
}

inline std::vector<uint8_t> to_vec(std::span<const uint8_t> bytes) {
  return {bytes.begin(), bytes.end()};
}

// Runs fn in a child process; passes if the child died of SIGABRT and wrote `message` to stderr.
template <typename Fn>
void check_aborts_with(Fn fn, const std::string& message) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    // doctest's crash handler would report the expected abort as a failure from the child.
    std::signal(SIGABRT, SIG_DFL);
    fn();
    _exit(0);  // reached only if fn did not abort; skips doctest's reporting in the child
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  INFO("child stderr: " << err);
  CHECK(WIFSIGNALED(wstatus));
  if (WIFSIGNALED(wstatus)) CHECK(WTERMSIG(wstatus) == SIGABRT);
  CHECK(err.find(message) != std::string::npos);
}

}  // namespace jindisk::crypto::test
