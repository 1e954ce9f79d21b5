#include "common/key_input.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace jindisk::cli {
namespace {

// Reads a whole small file (a key or passphrase file) into a string that is wiped by the caller.
Result<std::string> read_small_file(const std::string& path, size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  // Not kNotFound: that code means "no key source at all" to the callers.
  if (fd < 0) return Status::invalid_argument("cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[512];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      sodium_memzero(buf, sizeof buf);
      return Status::from_errno(err, "cannot read " + path);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > limit) break;
  }
  ::close(fd);
  sodium_memzero(buf, sizeof buf);
  return data;
}

void wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

}  // namespace

Result<std::string> read_from_terminal(const std::string& prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Status::not_found("no terminal to ask for a passphrase");
  termios old{};
  const bool is_tty = tcgetattr(fd, &old) == 0;
  if (is_tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ICANON;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  const std::string text = prompt + ": ";
  (void)!::write(fd, text.data(), text.size());
  std::string line;
  char c;
  while (true) {
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line.push_back(c);
  }
  c = 0;
  if (is_tty) tcsetattr(fd, TCSAFLUSH, &old);
  (void)!::write(fd, "\n", 1);
  ::close(fd);
  return line;
}

Result<KeySource> acquire_key(const KeyArgs& args, bool confirm) {
  if (!args.key_file.empty()) {
    JD_ASSIGN_OR_RETURN(std::string bytes, read_small_file(args.key_file, 64));
    if (bytes.size() != 32) {
      const size_t n = bytes.size();
      wipe(bytes);
      return Status::invalid_argument("key file " + args.key_file + " must hold exactly 32 bytes (it has " +
                                      (n > 64 ? std::string("more than 64") : std::to_string(n)) + ")");
    }
    KeySource key = KeySource::key_file_bytes(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
    wipe(bytes);
    return key;
  }
  if (!args.passphrase_file.empty()) {
    JD_ASSIGN_OR_RETURN(std::string text, read_small_file(args.passphrase_file, 4096));
    const size_t eol = text.find('\n');
    std::string_view pass(text.data(), eol == std::string::npos ? text.size() : eol);
    if (!pass.empty() && pass.back() == '\r') pass.remove_suffix(1);
    if (pass.empty()) {
      wipe(text);
      return Status::invalid_argument("passphrase file " + args.passphrase_file + " is empty");
    }
    KeySource key = KeySource::passphrase(pass);
    wipe(text);
    return key;
  }
  if (const char* env = std::getenv(args.env_var.c_str()); env != nullptr) {
    if (env[0] == '\0') return Status::invalid_argument(args.env_var + " is set but empty");
    return KeySource::passphrase(env);
  }
  JD_ASSIGN_OR_RETURN(std::string first, read_from_terminal(args.prompt));
  if (first.empty()) return Status::invalid_argument("empty passphrase");
  if (confirm) {
    auto second = read_from_terminal(args.prompt + " (again)");
    if (!second.is_ok()) {
      wipe(first);
      return second.status();
    }
    const bool same = first == *second;
    wipe(*second);
    if (!same) {
      wipe(first);
      return Status::invalid_argument("the two passphrases differ");
    }
  }
  KeySource key = KeySource::passphrase(first);
  wipe(first);
  return key;
}

}  // namespace jindisk::cli
