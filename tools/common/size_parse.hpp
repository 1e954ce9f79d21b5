// Sizes on the command line: a number with an optional suffix K, M, G, T (powers of 1024,
// optionally followed by "iB" or "B"), e.g. 16G, 512M, 1T, 1048576.
#pragma once

#include <cstdint>
#include <string>

#include "jindisk/status.hpp"

namespace jindisk::cli {

Result<uint64_t> parse_size(const std::string& text);
std::string format_size(uint64_t bytes);  // "16 GiB", "1.5 MiB", "512 B"

}  // namespace jindisk::cli
