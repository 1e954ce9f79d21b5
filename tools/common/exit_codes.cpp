#include "common/exit_codes.hpp"

namespace jindisk::cli {

int exit_code_for(const Status& status) {
  switch (status.code()) {
    case Code::kOk: return kExitOk;
    case Code::kWrongKey: return kExitWrongKey;
    case Code::kCorruption:
    case Code::kRollback: return kExitDamage;
    default: return kExitError;
  }
}

}  // namespace jindisk::cli
