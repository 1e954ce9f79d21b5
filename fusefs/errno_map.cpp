#include "errno_map.hpp"

#include <cerrno>

namespace jindisk::fusefs {

int to_errno(const Status& status) {
  switch (status.code()) {
    case Code::kOk: return 0;
    case Code::kCorruption:
    case Code::kRollback:
    case Code::kIoError: return EIO;
    case Code::kNoSpace: return ENOSPC;
    case Code::kReadOnly: return EROFS;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kNotFound: return ENOENT;
    case Code::kAlreadyExists: return EEXIST;
    case Code::kBusy: return EBUSY;
    case Code::kWrongKey: return EACCES;
    case Code::kUnsupported: return EOPNOTSUPP;
  }
  return EIO;
}

}  // namespace jindisk::fusefs
