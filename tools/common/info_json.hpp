// DiskInfo as JSON (jindisk info --json, and the daemon's live info file) and as text.
#pragma once

#include <string>

#include "jindisk/disk.hpp"
#include "jindisk/status.hpp"

namespace jindisk::cli {

std::string info_to_json(const DiskInfo& info);
std::string info_to_text(const DiskInfo& info);

// Writes text to path atomically (temp file + rename), mode 0600, creating parent directories.
Status write_private_file(const std::string& path, const std::string& text);

}  // namespace jindisk::cli
