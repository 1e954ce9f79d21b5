// jindisk-fuse: opens (or creates) the disk, mounts it, serves FUSE until unmounted or
// signalled, then makes the final commit.
//
// Daemonizing: the process forks *before* the disk is opened (the engine starts threads, which
// do not survive a fork). The parent waits on a pipe: the child reports 0 once the disk is open
// and mounted, or an exit code after printing its error to the still-attached terminal. So
// every error before the mount reaches the user, with the right exit status.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/exit_codes.hpp"
#include "common/info_json.hpp"
#include "common/size_parse.hpp"
#include "daemon_options.hpp"
#include "image_fs.hpp"
#include "jindisk/disk.hpp"

namespace {

using namespace jindisk;
using namespace jindisk::fusefs;

bool g_syslog = false;

void log_line(int priority, const std::string& message) {
  if (g_syslog) syslog(priority, "%s", message.c_str());
  else std::fprintf(stderr, "jindisk-fuse: %s\n", message.c_str());
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// 0 if usable; else prints why and returns an exit code.
int check_mountpoint(const std::string& mountpoint) {
  struct stat st{}, parent{};
  // statvfs reaches the file system itself; stat may be answered from the attribute cache
  // and would call a just-crashed FUSE mount "in use" instead of stale.
  struct statvfs vfs{};
  if (statvfs(mountpoint.c_str(), &vfs) != 0 && errno == ENOTCONN) {
    log_line(LOG_ERR, mountpoint + " is a stale FUSE mount; run: fusermount3 -u " + mountpoint);
    return cli::kExitError;
  }
  if (stat(mountpoint.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      log_line(LOG_ERR, mountpoint + " is a stale FUSE mount; run: fusermount3 -u " + mountpoint);
    } else {
      log_line(LOG_ERR, "mountpoint " + mountpoint + ": " + std::strerror(errno));
    }
    return cli::kExitError;
  }
  if (!S_ISDIR(st.st_mode)) {
    log_line(LOG_ERR, "mountpoint " + mountpoint + " is not a directory");
    return cli::kExitError;
  }
  if (stat((mountpoint + "/..").c_str(), &parent) == 0 &&
      (st.st_dev != parent.st_dev || st.st_ino == parent.st_ino)) {
    log_line(LOG_ERR, "mountpoint " + mountpoint + " is already in use (something is mounted there)");
    return cli::kExitError;
  }
  return 0;
}

Result<std::unique_ptr<Disk>> open_or_create(const DaemonOptions& o, bool creating, const KeySource& key) {
  OpenOptions oo;
  oo.read_only = o.read_only;
  oo.cache_bytes = o.cache_bytes;
  oo.anchor = o.anchor;
  oo.anchor_path = o.anchor_path;
  oo.accept_rollback = o.accept_rollback;
  oo.on_warning = [](std::string_view m) { log_line(LOG_WARNING, std::string(m)); };
  if (creating) {
    CreateOptions co;
    co.logical_bytes = o.size;
    return Disk::create(o.secure_dir, key, co, oo);
  }
  // A daemon that was just unmounted may still be making its final commit: wait for it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool said = false;
  while (true) {
    auto d = Disk::open(o.secure_dir, key, oo);
    if (d.is_ok() || d.status().code() != Code::kBusy || std::chrono::steady_clock::now() > deadline) {
      return d;
    }
    if (!said) {
      log_line(LOG_NOTICE, d.status().message() + "; waiting up to 5 s for it to finish");
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Publishes DiskInfo as JSON for `jindisk info` while mounted, every 2 s until stopped.
class InfoPublisher {
 public:
  InfoPublisher(Disk& disk, std::string path) : disk_(disk), path_(std::move(path)) {
    thread_ = std::thread([this] { run(); });
  }
  ~InfoPublisher() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    ::unlink(path_.c_str());
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      (void)cli::write_private_file(path_, cli::info_to_json(disk_.info()));
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stop_; });
    }
  }
  Disk& disk_;
  std::string path_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

int report(int ready_fd, int code) {
  if (ready_fd >= 0) {
    const unsigned char c = static_cast<unsigned char>(code);
    (void)!::write(ready_fd, &c, 1);
    ::close(ready_fd);
  }
  return code;
}

int serve(const DaemonOptions& o, bool creating, const KeySource& key, int ready_fd) {
  auto opened = open_or_create(o, creating, key);
  if (!opened.is_ok()) {
    const Status& s = opened.status();
    std::string what = s.message();
    if (s.code() == Code::kWrongKey) what = "wrong passphrase or key";
    log_line(LOG_ERR, "cannot " + std::string(creating ? "create" : "open") + " the disk in " +
                          o.secure_dir + ": " + what);
    return report(ready_fd, cli::exit_code_for(s));
  }
  std::unique_ptr<Disk> disk = std::move(opened).value();
  ImageFs fs(*disk, o.image_name, o.read_only);
  fs.on_error = [](const std::string& m) { log_line(LOG_ERR, m); };

  // default_permissions: the kernel checks the image's mode bits, so -o allow_other lets
  // others reach the image only as its mode allows (0600: its owner and root).
  std::vector<std::string> argv_store = {
      "jindisk-fuse", "-o",
      "fsname=jindisk:" + o.secure_dir + ",subtype=jindisk,default_permissions"};
  for (const auto& opt : o.fuse_options) {
    argv_store.push_back("-o");
    argv_store.push_back(opt);
  }
  if (o.debug) argv_store.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse_session* se = fuse_session_new(&args, &ImageFs::operations(), sizeof(fuse_lowlevel_ops), &fs);
  // fuse_session_new may have grown args with its own allocations.
  fuse_opt_free_args(&args);
  if (se == nullptr) {
    log_line(LOG_ERR, "cannot start a FUSE session (see the message above; check -o options)");
    return report(ready_fd, cli::kExitUsage);
  }
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    log_line(LOG_ERR, "cannot mount " + o.mountpoint + " (is /dev/fuse available, and fusermount3 installed?)");
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return report(ready_fd, cli::kExitError);
  }
  const DiskInfo info = disk->info();
  log_line(LOG_NOTICE, std::string(creating ? "created and mounted " : "mounted ") + o.mountpoint +
                           "/" + o.image_name + " (" + cli::format_size(info.logical_bytes) +
                           (o.read_only ? ", read-only" : "") + ")");
  if (ready_fd >= 0) {
    // Detach: from now on messages go to syslog.
    setsid();
    if (chdir("/") != 0) {
    }
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
      dup2(null_fd, 0);
      dup2(null_fd, 1);
      dup2(null_fd, 2);
      ::close(null_fd);
    }
    openlog("jindisk-fuse", LOG_PID, LOG_DAEMON);
    g_syslog = true;
    report(ready_fd, 0);
  }

  int rc;
  {
    InfoPublisher publisher(*disk, live_info_path(info.uuid));
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    // The thread count bounds the host reads in flight (a read that misses the host's page
    // cache waits in its FUSE thread), but every writer takes the write buffer's lock. At
    // iodepth 32, 32 threads against 16: cold 4K random reads 124 vs 53 MiB/s, warm +18%,
    // 4K random writes -20%, +40 MiB RSS. Writes are this design's strength: 16.
    fuse_loop_cfg_set_max_threads(cfg, 16);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_session_unmount(se);
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
  }
  const Status s = disk->close();
  if (!s.is_ok()) {
    log_line(LOG_ERR, "final commit failed: " + s.to_string());
    return cli::kExitError;
  }
  log_line(LOG_NOTICE, "unmounted " + o.mountpoint + "; final commit done");
  return rc < 0 ? cli::kExitError : cli::kExitOk;
}

// Data segment files stay open between reads (two descriptors each). The usual soft limit of
// 1024 keeps 128 of them, 512 MiB of a disk, and random reads beyond that reopened files
// (+30% 4K random reads with the limit raised). The hard limit is the administrator's bound.
void raise_descriptor_limit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  (void)setrlimit(RLIMIT_NOFILE, &limit);  // keeps the old limit on failure: slower, not wrong
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each FUSE worker thread its own malloc arena and raises its mmap threshold
  // after the first large free, so every arena kept tens of MiB of freed request buffers
  // (500+ MiB RSS under fio). A few arenas and a fixed threshold return big buffers at once.
  mallopt(M_ARENA_MAX, 4);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  raise_descriptor_limit();
  DaemonOptions o;
  switch (parse_daemon_options(argc, argv, o)) {
    case ParseOutcome::kExitOk: return cli::kExitOk;
    case ParseOutcome::kUsageError: return cli::kExitUsage;
    case ParseOutcome::kRun: break;
  }
  o.secure_dir = absolute(o.secure_dir);
  o.mountpoint = absolute(o.mountpoint);
  if (int rc = check_mountpoint(o.mountpoint); rc != 0) return rc;

  auto state = inspect_dir(o.secure_dir);
  if (!state.is_ok()) {
    log_line(LOG_ERR, "SECURE_DIR: " + state.status().message());
    return cli::kExitError;
  }
  if (*state == DirState::kNotADisk) {
    log_line(LOG_ERR, o.secure_dir + " is not empty and holds no jindisk disk; refusing to use it");
    return cli::kExitError;
  }
  const bool creating = *state == DirState::kMissing || *state == DirState::kEmpty;
  if (creating && o.read_only) {
    log_line(LOG_ERR, "--read-only: " + o.secure_dir + " holds no disk to open");
    return cli::kExitUsage;
  }
  if (!creating && o.size_given) log_line(LOG_WARNING, "--size ignored: the disk exists already");

  cli::KeyArgs key_args = o.key;
  key_args.prompt = creating ? "New passphrase for " + o.secure_dir : "Passphrase for " + o.secure_dir;
  auto key = cli::acquire_key(key_args, creating);
  if (!key.is_ok()) {
    if (key.status().code() == Code::kNotFound) {
      log_line(LOG_ERR, "no key: give --key-file, --passphrase-file or JINDISK_PASSPHRASE "
                        "(there is no terminal to ask for a passphrase)");
    } else {
      log_line(LOG_ERR, key.status().message());
    }
    return cli::kExitUsage;
  }

  if (o.foreground) return serve(o, creating, *key, -1);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    log_line(LOG_ERR, std::string("pipe: ") + std::strerror(errno));
    return cli::kExitError;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    log_line(LOG_ERR, std::string("fork: ") + std::strerror(errno));
    return cli::kExitError;
  }
  if (pid > 0) {
    ::close(pipe_fds[1]);
    unsigned char code = cli::kExitError;
    ssize_t n;
    do {
      n = ::read(pipe_fds[0], &code, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
      int status = 0;
      waitpid(pid, &status, 0);
      return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : cli::kExitError;
    }
    if (code != 0) waitpid(pid, nullptr, 0);
    return code;
  }
  ::close(pipe_fds[0]);
  return serve(o, creating, *key, pipe_fds[1]);
}
