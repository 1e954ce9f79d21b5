// Exit codes shared by jindisk-fuse and jindisk (documented in both man pages).
#pragma once

#include "jindisk/status.hpp"

namespace jindisk::cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;      // anything else: I/O errors, busy directory, bad directory
constexpr int kExitUsage = 2;      // bad command line, or no key and no terminal to ask for one
constexpr int kExitWrongKey = 3;   // the passphrase or key file does not unlock the disk
constexpr int kExitDamage = 4;     // integrity or rollback failure (open refused, check found damage)

// The exit code for a failed open or command.
int exit_code_for(const Status& status);

}  // namespace jindisk::cli
