#include "jindisk/status.hpp"

#include <cerrno>
#include <cstring>

namespace jindisk {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kCorruption: return "corruption";
    case Code::kRollback: return "rollback";
    case Code::kIoError: return "io error";
    case Code::kNoSpace: return "no space";
    case Code::kWrongKey: return "wrong key";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kBusy: return "busy";
    case Code::kReadOnly: return "read-only";
    case Code::kUnsupported: return "unsupported";
  }
  return "unknown";
}

Status Status::from_errno(int err, std::string_view context) {
  std::string message(context);
  message += ": ";
  message += std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT: return no_space(std::move(message));
    case ENOENT: return not_found(std::move(message));
    case EEXIST: return already_exists(std::move(message));
    default: return io_error(std::move(message));
  }
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string s(code_name(code_));
  s += ": ";
  s += message_;
  return s;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message_;
  return {code_, std::move(m)};
}

}  // namespace jindisk
