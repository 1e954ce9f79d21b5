// The one place where engine errors become errno values for FUSE replies.
#pragma once

#include "jindisk/status.hpp"

namespace jindisk::fusefs {

// corruption, rollback, I/O error -> EIO; no space -> ENOSPC; read-only -> EROFS;
// invalid argument -> EINVAL; not found -> ENOENT; busy -> EBUSY; wrong key -> EACCES;
// unsupported -> EOPNOTSUPP; already exists -> EEXIST. OK -> 0.
int to_errno(const Status& status);

}  // namespace jindisk::fusefs
