// Where the key comes from, for every command that unlocks a disk. First match wins:
// --key-file FILE (32 raw bytes), --passphrase-file FILE (its first line), the environment
// variable (JINDISK_PASSPHRASE, or JINDISK_NEW_PASSPHRASE for a new key), else a prompt on
// the controlling terminal without echo (asked twice when creating).
#pragma once

#include <optional>
#include <string>

#include "jindisk/disk.hpp"
#include "jindisk/status.hpp"

namespace jindisk::cli {

struct KeyArgs {
  std::string key_file;
  std::string passphrase_file;
  std::string env_var = "JINDISK_PASSPHRASE";
  std::string prompt = "Passphrase";
};

// kInvalidArgument: a file cannot be read or has the wrong size; kNotFound: no source and no
// terminal (the caller exits with kExitUsage); kInvalidArgument also for mismatched or empty
// passphrases typed at the prompt.
Result<KeySource> acquire_key(const KeyArgs& args, bool confirm);

// Reads a passphrase from /dev/tty with echo off. kNotFound if there is no terminal.
Result<std::string> read_from_terminal(const std::string& prompt);

}  // namespace jindisk::cli
