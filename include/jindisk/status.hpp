// Error values for every call that touches the host or parses host bytes.
//
// The engine never throws across layers: each fallible call returns a Status (or a Result<T>),
// and callers propagate with early returns (JD_TRY / JD_ASSIGN_OR_RETURN). Codes are distinct
// for the failures a user must tell apart; the FUSE adapter maps each code to one errno in one
// place (fusefs/errno_map.cpp), and the tools map them to exit codes.
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jindisk {

enum class Code : uint8_t {
  kOk = 0,
  kCorruption,       // authenticated bytes failed to verify, or a host structure is malformed
  kRollback,         // a valid but older state than a trusted reference (anchor, parent tag)
  kIoError,          // the host refused or failed an operation (EIO and friends)
  kNoSpace,          // the host file system is full (ENOSPC, EDQUOT)
  kWrongKey,         // the key or passphrase does not unwrap the master key
  kInvalidArgument,  // the caller asked for something out of range or malformed
  kNotFound,         // a named object does not exist
  kAlreadyExists,    // creating something that is already there
  kBusy,             // held by someone else (the directory lock)
  kReadOnly,         // the disk refuses writes (opened read-only, or after a failed sync)
  kUnsupported,      // a format version or feature this build does not know
};

// Stable lower-case name of a code, for messages and JSON.
std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status rollback(std::string m) { return {Code::kRollback, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status no_space(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status wrong_key(std::string m) { return {Code::kWrongKey, std::move(m)}; }
  static Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status read_only(std::string m) { return {Code::kReadOnly, std::move(m)}; }
  static Status unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }

  // Maps an errno from a failed system call: ENOSPC/EDQUOT -> kNoSpace, ENOENT -> kNotFound,
  // EEXIST -> kAlreadyExists, anything else -> kIoError. The message is "context: strerror".
  static Status from_errno(int err, std::string_view context);

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "corruption: <message>", or "ok".
  std::string to_string() const;

  // Returns a copy whose message is "context: message" (code kept), for adding where-info.
  Status with_context(std::string_view context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none. A Result never holds an OK status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like std::expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).is_ok() && "a Result cannot carry an OK status");
  }

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jindisk

#define JD_CONCAT_INNER(a, b) a##b
#define JD_CONCAT(a, b) JD_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define JD_TRY(expr)                                   \
  do {                                                 \
    ::jindisk::Status jd_try_status_ = (expr);         \
    if (!jd_try_status_.is_ok()) return jd_try_status_; \
  } while (0)

// `lhs` = the value of the Result `expr`, or returns its Status from the enclosing function.
#define JD_ASSIGN_OR_RETURN(lhs, expr) \
  JD_ASSIGN_OR_RETURN_IMPL(JD_CONCAT(jd_result_, __LINE__), lhs, expr)
#define JD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.is_ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
