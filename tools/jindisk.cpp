// jindisk: the offline companion of jindisk-fuse.
//   jindisk format|info|check|passwd|dump [OPTIONS] SECURE_DIR
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "common/exit_codes.hpp"
#include "common/info_json.hpp"
#include "common/key_input.hpp"
#include "common/size_parse.hpp"
#include "jindisk/disk.hpp"
#include "jindisk_version.h"

namespace po = boost::program_options;
using namespace jindisk;

namespace {

constexpr char kUsage[] = R"(Usage: jindisk COMMAND [OPTIONS] SECURE_DIR

Commands:
  format   create a new disk in SECURE_DIR (missing or empty), with --size
  info     show sizes, commits, write amplification (--json for JSON); works while mounted
  check    read and authenticate every index block and every live data block
  passwd   change the passphrase or key file (re-wraps the master key; no data is rewritten)
  dump     list the disk's metadata and host files, for debugging

Run 'jindisk COMMAND --help' for a command's options.
Exit status: 0 success; 1 error; 2 usage error or no key; 3 wrong passphrase or key;
4 damage found (check) or integrity/rollback failure at open.
)";

struct Common {
  cli::KeyArgs key;
  std::string anchor_path;
  bool no_anchor = false;
  bool accept_rollback = false;
  std::string dir;
};

void add_key_options(po::options_description& d, Common& c) {
  d.add_options()
      ("key-file", po::value(&c.key.key_file), "unlock with FILE (32 raw bytes)")
      ("passphrase-file", po::value(&c.key.passphrase_file), "unlock with the first line of FILE");
}

void add_anchor_options(po::options_description& d, Common& c) {
  d.add_options()
      ("anchor", po::value(&c.anchor_path), "anchor FILE (default $XDG_STATE_HOME/jindisk/<uuid>.anchor)")
      ("no-anchor", po::bool_switch(&c.no_anchor), "do not check or update the anchor")
      ("accept-rollback", po::bool_switch(&c.accept_rollback), "accept a disk behind its anchor");
}

// Parses the command's options; returns -1 to continue, else an exit code.
int parse(const std::string& command, int argc, char** argv, po::options_description& opts, Common& c) {
  opts.add_options()("help,h", "print this help");
  po::options_description hidden;
  hidden.add_options()("secure-dir", po::value(&c.dir));
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("secure-dir", 1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "jindisk " << command << ": " << e.what() << "\nTry 'jindisk " << command << " --help'.\n";
    return cli::kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << "Usage: jindisk " << command << " [OPTIONS] SECURE_DIR\n\n" << opts;
    return cli::kExitOk;
  }
  if (c.dir.empty()) {
    std::cerr << "jindisk " << command << ": SECURE_DIR is required\nTry 'jindisk " << command << " --help'.\n";
    return cli::kExitUsage;
  }
  if (!c.key.key_file.empty() && !c.key.passphrase_file.empty()) {
    std::cerr << "jindisk " << command << ": --key-file and --passphrase-file exclude each other\n";
    return cli::kExitUsage;
  }
  return -1;
}

int fail(const std::string& command, const Status& s) {
  const std::string what = s.code() == Code::kWrongKey ? "wrong passphrase or key" : s.message();
  std::cerr << "jindisk " << command << ": " << what << "\n";
  return cli::exit_code_for(s);
}

int key_failure(const std::string& command, const Status& s) {
  if (s.code() == Code::kNotFound) {
    std::cerr << "jindisk " << command << ": no key: give --key-file, --passphrase-file or "
              << "JINDISK_PASSPHRASE (there is no terminal to ask for a passphrase)\n";
  } else {
    std::cerr << "jindisk " << command << ": " << s.message() << "\n";
  }
  return cli::kExitUsage;
}

OpenOptions read_only_options(const Common& c) {
  OpenOptions o;
  o.read_only = true;
  o.background_compaction = false;
  o.anchor = c.no_anchor ? AnchorMode::kNone : (c.anchor_path.empty() ? AnchorMode::kDefault : AnchorMode::kPath);
  o.anchor_path = c.anchor_path;
  o.accept_rollback = c.accept_rollback;
  o.on_warning = [](std::string_view m) { std::cerr << "jindisk: warning: " << m << "\n"; };
  return o;
}

Result<std::unique_ptr<Disk>> open_read_only(const std::string& command, const Common& c, int& exit_code) {
  cli::KeyArgs args = c.key;
  args.prompt = "Passphrase for " + c.dir;
  auto key = cli::acquire_key(args, false);
  if (!key.is_ok()) {
    exit_code = key_failure(command, key.status());
    return key.status();
  }
  auto d = Disk::open(c.dir, *key, read_only_options(c));
  if (!d.is_ok()) exit_code = fail(command, d.status());
  return d;
}

int cmd_format(int argc, char** argv) {
  Common c;
  std::string size = "16G";
  po::options_description opts("Options");
  opts.add_options()("size", po::value(&size), "logical size (default 16G; suffixes K, M, G, T)");
  add_key_options(opts, c);
  add_anchor_options(opts, c);
  if (int rc = parse("format", argc, argv, opts, c); rc >= 0) return rc;
  auto bytes = cli::parse_size(size);
  if (!bytes.is_ok() || *bytes % 4096 != 0 || *bytes < (1u << 20)) {
    std::cerr << "jindisk format: --size must be a multiple of 4 KiB and at least 1M\n";
    return cli::kExitUsage;
  }
  auto state = inspect_dir(c.dir);
  if (!state.is_ok()) return fail("format", state.status());
  if (*state == DirState::kDisk || *state == DirState::kNotADisk) {
    std::cerr << "jindisk format: " << c.dir << " is not empty; refusing to format it\n";
    return cli::kExitError;
  }
  cli::KeyArgs args = c.key;
  args.prompt = "New passphrase for " + c.dir;
  auto key = cli::acquire_key(args, true);
  if (!key.is_ok()) return key_failure("format", key.status());
  CreateOptions co;
  co.logical_bytes = *bytes;
  OpenOptions oo = read_only_options(c);
  oo.read_only = false;
  auto d = Disk::create(c.dir, *key, co, oo);
  if (!d.is_ok()) return fail("format", d.status());
  const DiskInfo info = (*d)->info();
  if (Status s = (*d)->close(); !s.is_ok()) return fail("format", s);
  std::cout << "created a " << cli::format_size(info.logical_bytes) << " disk in " << c.dir
            << " (uuid " << info.uuid << ")\n";
  return cli::kExitOk;
}

int cmd_info(int argc, char** argv) {
  Common c;
  bool json = false;
  po::options_description opts("Options");
  opts.add_options()("json", po::bool_switch(&json), "print JSON");
  add_key_options(opts, c);
  add_anchor_options(opts, c);
  if (int rc = parse("info", argc, argv, opts, c); rc >= 0) return rc;
  auto header = read_header_info(c.dir);
  if (!header.is_ok()) return fail("info", header.status());
  // Mounted: the daemon holds the lock and publishes its live info; no key needed.
  std::ifstream live(live_info_path(header->uuid));
  if (live) {
    auto busy = dir_in_use(c.dir);
    if (busy.is_ok() && *busy) {
      std::stringstream ss;
      ss << live.rdbuf();
      if (json) {
        std::cout << ss.str();
      } else {
        std::cout << "mounted (live information from " << live_info_path(header->uuid) << "):\n"
                  << ss.str();
      }
      return cli::kExitOk;
    }
  }
  int code = 0;
  auto d = open_read_only("info", c, code);
  if (!d.is_ok()) return code;
  const DiskInfo info = (*d)->info();
  std::cout << (json ? cli::info_to_json(info) : cli::info_to_text(info));
  return cli::kExitOk;
}

int cmd_check(int argc, char** argv) {
  Common c;
  po::options_description opts("Options");
  add_key_options(opts, c);
  add_anchor_options(opts, c);
  if (int rc = parse("check", argc, argv, opts, c); rc >= 0) return rc;
  int code = 0;
  auto d = open_read_only("check", c, code);
  if (!d.is_ok()) return code;
  const bool tty = isatty(STDERR_FILENO);
  auto report = (*d)->check([tty](uint64_t done, uint64_t total) {
    if (!tty || total == 0) return;
    const int pct = static_cast<int>(done * 100 / total);
    std::fprintf(stderr, "\rchecking: [%-40.*s] %3d%% (%llu/%llu blocks)", pct * 40 / 100,
                 "########################################", pct,
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    if (done == total) std::fprintf(stderr, "\n");
  });
  if (!report.is_ok()) return fail("check", report.status());
  for (const auto& p : report->problems) std::cout << "damaged: " << p << "\n";
  std::cout << "checked " << report->blocks_verified + report->damaged_blocks << " of "
            << report->live_blocks << " live blocks: " << report->damaged_blocks << " damaged"
            << (report->clean() ? "; the disk is clean\n" : "\n");
  return report->clean() ? cli::kExitOk : cli::kExitDamage;
}

int cmd_passwd(int argc, char** argv) {
  Common c;
  cli::KeyArgs fresh;
  fresh.env_var = "JINDISK_NEW_PASSPHRASE";
  po::options_description opts("Options");
  add_key_options(opts, c);
  opts.add_options()
      ("new-key-file", po::value(&fresh.key_file), "new key: FILE (32 raw bytes)")
      ("new-passphrase-file", po::value(&fresh.passphrase_file), "new passphrase: first line of FILE");
  if (int rc = parse("passwd", argc, argv, opts, c); rc >= 0) return rc;
  if (!fresh.key_file.empty() && !fresh.passphrase_file.empty()) {
    std::cerr << "jindisk passwd: --new-key-file and --new-passphrase-file exclude each other\n";
    return cli::kExitUsage;
  }
  cli::KeyArgs old_args = c.key;
  old_args.prompt = "Current passphrase for " + c.dir;
  auto old_key = cli::acquire_key(old_args, false);
  if (!old_key.is_ok()) return key_failure("passwd", old_key.status());
  fresh.prompt = "New passphrase for " + c.dir;
  auto new_key = cli::acquire_key(fresh, true);
  if (!new_key.is_ok()) return key_failure("passwd", new_key.status());
  if (Status s = Disk::change_key(c.dir, *old_key, *new_key); !s.is_ok()) return fail("passwd", s);
  std::cout << "the key of " << c.dir << " was changed\n";
  return cli::kExitOk;
}

int cmd_dump(int argc, char** argv) {
  Common c;
  po::options_description opts("Options");
  add_key_options(opts, c);
  add_anchor_options(opts, c);
  if (int rc = parse("dump", argc, argv, opts, c); rc >= 0) return rc;
  auto header = read_header_info(c.dir);
  if (!header.is_ok()) return fail("dump", header.status());
  std::cout << "header: format " << header->format_version << ", uuid " << header->uuid << ", "
            << cli::format_size(header->logical_bytes) << ", " << header->segment_blocks
            << " blocks per segment, " << header->cipher << ", unlocked by "
            << (header->passphrase ? "passphrase" : "key file") << "\n";
  int code = 0;
  auto d = open_read_only("dump", c, code);
  if (!d.is_ok()) return code;
  std::cout << cli::info_to_text((*d)->info());
  std::cout << "host files:\n" << (*d)->describe_files();
  return cli::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return cli::kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return cli::kExitOk;
  }
  if (command == "--version" || command == "-V") {
    std::cout << "jindisk " << JINDISK_VERSION << "\n";
    return cli::kExitOk;
  }
  if (command == "format") return cmd_format(argc - 1, argv + 1);
  if (command == "info") return cmd_info(argc - 1, argv + 1);
  if (command == "check") return cmd_check(argc - 1, argv + 1);
  if (command == "passwd") return cmd_passwd(argc - 1, argv + 1);
  if (command == "dump") return cmd_dump(argc - 1, argv + 1);
  std::cerr << "jindisk: unknown command '" << command << "'\n" << kUsage;
  return cli::kExitUsage;
}
