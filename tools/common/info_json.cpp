#include "common/info_json.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/size_parse.hpp"

namespace jindisk::cli {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

std::string info_to_json(const DiskInfo& i) {
  std::string j = "{\n";
  auto field = [&](const char* name, const std::string& value, bool last = false) {
    j += "  \"";
    j += name;
    j += "\": " + value + (last ? "\n" : ",\n");
  };
  field("uuid", quote(i.uuid));
  field("logical_bytes", std::to_string(i.logical_bytes));
  field("epoch", std::to_string(i.epoch));
  field("root_tag", quote(i.root_tag));
  field("cipher", quote(i.cipher));
  field("segment_blocks", std::to_string(i.segment_blocks));
  field("live_blocks", std::to_string(i.live_blocks));
  field("live_bytes", std::to_string(i.live_blocks * kBlockSize));
  field("allocated_blocks", std::to_string(i.allocated_blocks));
  field("segments", std::to_string(i.segments));
  field("host_bytes", std::to_string(i.host_bytes));
  field("garbage_ratio", number(i.garbage_ratio));
  field("segments_cleaned_session", std::to_string(i.segments_cleaned));
  field("blocks_moved_session", std::to_string(i.blocks_moved));
  field("cleaner_errors_session", std::to_string(i.cleaner_errors));
  field("user_bytes_written", std::to_string(i.user_bytes_written));
  field("host_bytes_written", std::to_string(i.host_bytes_written));
  field("write_amplification", number(i.write_amplification));
  field("user_bytes_written_session", std::to_string(i.user_bytes_written_session));
  field("host_bytes_written_session", std::to_string(i.host_bytes_written_session));
  field("write_amplification_session", number(i.write_amplification_session));
  field("index_files", std::to_string(i.index_files));
  field("compactions", std::to_string(i.compactions));
  field("read_only", i.read_only ? "true" : "false");
  field("read_only_reason", quote(i.read_only_reason));
  field("anchor", quote(i.anchor), true);
  return j + "}\n";
}

std::string info_to_text(const DiskInfo& i) {
  char wa[64];
  std::snprintf(wa, sizeof wa, "%.3f (this mount: %.3f)", i.write_amplification,
                i.write_amplification_session);
  std::string t;
  t += "uuid:                " + i.uuid + "\n";
  t += "logical size:        " + format_size(i.logical_bytes) + "\n";
  t += "commits (epoch):     " + std::to_string(i.epoch) + "\n";
  t += "root tag:            " + i.root_tag + "\n";
  t += "data cipher:         " + i.cipher + "\n";
  t += "live data:           " + format_size(i.live_blocks * kBlockSize) + " (" +
       std::to_string(i.live_blocks) + " blocks)\n";
  t += "host directory:      " + format_size(i.host_bytes) + " in " + std::to_string(i.segments) +
       " data segments and " + std::to_string(i.index_files) + " index files\n";
  char garbage[32];
  std::snprintf(garbage, sizeof garbage, "%.1f%%", 100 * i.garbage_ratio);
  t += "garbage in segments: " + std::string(garbage) + " (space the cleaner can reclaim)\n";
  t += "cleaner, this mount: " + std::to_string(i.segments_cleaned) + " segments cleaned, " +
       std::to_string(i.blocks_moved) + " blocks moved" +
       (i.cleaner_errors ? ", " + std::to_string(i.cleaner_errors) + " failed steps" : "") + "\n";
  t += "written by users:    " + format_size(i.user_bytes_written) + " (this mount: " +
       format_size(i.user_bytes_written_session) + ")\n";
  t += "written to the host: " + format_size(i.host_bytes_written) + " (this mount: " +
       format_size(i.host_bytes_written_session) + ")\n";
  t += "write amplification: " + std::string(wa) + "\n";
  t += "state:               " + (i.read_only ? "read-only (" + i.read_only_reason + ")" : std::string("writable")) + "\n";
  t += "anchor:              " + (i.anchor.empty() ? std::string("none") : i.anchor) + "\n";
  return t;
}

Status write_private_file(const std::string& path, const std::string& text) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/' && mkdir(path.substr(0, i).c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::from_errno(errno, "create " + path.substr(0, i));
    }
  }
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::from_errno(errno, "write " + temp);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok) return Status::from_errno(err ? err : EIO, "write " + temp);
  if (::rename(temp.c_str(), path.c_str()) != 0) return Status::from_errno(errno, "rename " + temp);
  return Status::ok();
}

}  // namespace jindisk::cli
