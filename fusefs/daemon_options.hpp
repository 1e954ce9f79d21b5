// Command line of jindisk-fuse, parsed in one place (Boost.Program_options).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/key_input.hpp"
#include "jindisk/options.hpp"

namespace jindisk::fusefs {

struct DaemonOptions {
  std::string secure_dir;
  std::string mountpoint;
  uint64_t size = 16ull << 30;
  bool size_given = false;
  cli::KeyArgs key;
  std::string image_name = "disk.img";
  bool read_only = false;
  uint64_t cache_bytes = 64ull << 20;
  AnchorMode anchor = AnchorMode::kDefault;
  std::string anchor_path;
  bool accept_rollback = false;
  bool foreground = false;
  bool debug = false;
  std::vector<std::string> fuse_options;
};

enum class ParseOutcome { kRun, kExitOk, kUsageError };

// Fills `out`; prints --help/--version text to stdout and errors to stderr itself.
ParseOutcome parse_daemon_options(int argc, char** argv, DaemonOptions& out);

}  // namespace jindisk::fusefs
