// The conformance suite against the reference disk: it must pass here first, so that a failure
// on the secure disk points at the secure disk.
#include "conformance/block_device_suite.hpp"
#include "jindisk/memory_disk.hpp"

namespace {

struct MemoryDiskFixture {
  explicit MemoryDiskFixture(uint64_t blocks) : disk(blocks) {}
  jindisk::BlockDevice& dev() { return disk; }
  void reopen() {}  // memory persists for the life of the object
  jindisk::MemoryDisk disk;
};

}  // namespace

TEST_CASE_TEMPLATE_INVOKE(block_device_conformance, MemoryDiskFixture);

TEST_CASE("the reference disk counts flushes and mapped blocks") {
  jindisk::MemoryDisk disk(16);
  std::vector<uint8_t> b(2 * jindisk::kBlockSize, 1);
  REQUIRE(disk.write(3, b).is_ok());
  CHECK(disk.mapped_blocks() == 2);
  REQUIRE(disk.trim(4, 1).is_ok());
  CHECK(disk.mapped_blocks() == 1);
  REQUIRE(disk.flush().is_ok());
  CHECK(disk.flush_count() == 1);
}
