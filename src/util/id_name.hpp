// Host file names made of a prefix and a 64-bit id in 16 lower-case hex digits
// ("seg-000000000000002a"), shared by the layers that name their files by id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jindisk::util {

std::string id_name(std::string_view prefix, uint64_t id);

// The id, or nullopt unless `name` is exactly id_name(prefix, id) for some id: only the
// canonical lower-case spelling, so one id has exactly one name.
std::optional<uint64_t> parse_id_name(std::string_view prefix, std::string_view name);

}  // namespace jindisk::util
