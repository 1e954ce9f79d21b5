#include "daemon_options.hpp"

#include <boost/program_options.hpp>
#include <iostream>

#include "common/size_parse.hpp"
#include "jindisk_version.h"

namespace po = boost::program_options;

namespace jindisk::fusefs {
namespace {

constexpr char kUsage[] = "Usage: jindisk-fuse [OPTIONS] SECURE_DIR MOUNTPOINT";

constexpr char kDescription[] = R"(Mounts the secure disk kept in SECURE_DIR as the file MOUNTPOINT/disk.img.
A missing or empty SECURE_DIR gets a new disk (the passphrase is asked twice).
SECURE_DIR holds only ciphertext; reads of tampered blocks fail with EIO.
)";

constexpr char kEpilog[] = R"(
Key sources, first match wins: --key-file, --passphrase-file, the environment
variable JINDISK_PASSPHRASE, else a prompt on the terminal (without echo).

After mounting:  losetup --direct-io=on -f --show MOUNTPOINT/disk.img
Unmount:         fusermount3 -u MOUNTPOINT   (final commit, then the daemon exits 0)

Exit status: 0 success; 1 error; 2 usage error or no key; 3 wrong passphrase or
key; 4 integrity or rollback failure. See jindisk-fuse(1).
)";

}  // namespace

ParseOutcome parse_daemon_options(int argc, char** argv, DaemonOptions& out) {
  std::string size, cache;
  po::options_description visible("Options", 110, 60);
  visible.add_options()
      ("size", po::value(&size), "size of a new disk (default 16G; suffixes K, M, G, T)")
      ("key-file", po::value(&out.key.key_file), "unlock with FILE (32 raw bytes)")
      ("passphrase-file", po::value(&out.key.passphrase_file), "unlock with the first line of FILE")
      ("image-name", po::value(&out.image_name), "name of the image file (default disk.img)")
      ("read-only", po::bool_switch(&out.read_only), "refuse writes; only the lock file is written")
      ("cache", po::value(&cache), "memory for index caches (default 64M)")
      ("anchor", po::value(&out.anchor_path), "anchor FILE (default $XDG_STATE_HOME/jindisk/<uuid>.anchor)")
      ("no-anchor", "no anchor: restoring an older copy of SECURE_DIR goes undetected")
      ("accept-rollback", po::bool_switch(&out.accept_rollback), "open a disk behind its anchor and reset the anchor")
      ("foreground,f", po::bool_switch(&out.foreground), "stay in the foreground")
      ("debug,d", po::bool_switch(&out.debug), "print FUSE requests (implies -f)")
      ("option,o", po::value<std::vector<std::string>>(&out.fuse_options)->composing(),
       "FUSE mount options, e.g. allow_other")
      ("help,h", "print this help and exit")
      ("version,V", "print the version and exit");
  po::options_description hidden;
  hidden.add_options()("secure-dir", po::value(&out.secure_dir))("mountpoint", po::value(&out.mountpoint));
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("secure-dir", 1).add("mountpoint", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "jindisk-fuse: " << e.what() << "\n" << kUsage << "\nTry 'jindisk-fuse --help'.\n";
    return ParseOutcome::kUsageError;
  }
  if (vm.count("help")) {
    std::cout << kUsage << "\n\n" << kDescription << "\n" << visible << kEpilog;
    return ParseOutcome::kExitOk;
  }
  if (vm.count("version")) {
    std::cout << "jindisk-fuse " << JINDISK_VERSION << "\n";
    return ParseOutcome::kExitOk;
  }
  auto usage_error = [](const std::string& message) {
    std::cerr << "jindisk-fuse: " << message << "\n" << kUsage << "\nTry 'jindisk-fuse --help'.\n";
    return ParseOutcome::kUsageError;
  };
  if (out.secure_dir.empty() || out.mountpoint.empty()) return usage_error("SECURE_DIR and MOUNTPOINT are required");
  if (!size.empty()) {
    auto v = cli::parse_size(size);
    if (!v.is_ok()) return usage_error("--size: " + v.status().message());
    if (*v % 4096 != 0 || *v < (1u << 20)) return usage_error("--size must be a multiple of 4 KiB and at least 1M");
    out.size = *v;
    out.size_given = true;
  }
  if (!cache.empty()) {
    auto v = cli::parse_size(cache);
    if (!v.is_ok()) return usage_error("--cache: " + v.status().message());
    if (*v < (4u << 20)) return usage_error("--cache must be at least 4M");
    out.cache_bytes = *v;
  }
  if (vm.count("no-anchor") && !out.anchor_path.empty()) return usage_error("--anchor and --no-anchor exclude each other");
  if (vm.count("no-anchor")) out.anchor = AnchorMode::kNone;
  else if (!out.anchor_path.empty()) out.anchor = AnchorMode::kPath;
  if (!out.key.key_file.empty() && !out.key.passphrase_file.empty()) {
    return usage_error("--key-file and --passphrase-file exclude each other");
  }
  const std::string& n = out.image_name;
  if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos || n.size() > 255) {
    return usage_error("--image-name must be a plain file name");
  }
  if (out.debug) out.foreground = true;
  return ParseOutcome::kRun;
}

}  // namespace jindisk::fusefs
