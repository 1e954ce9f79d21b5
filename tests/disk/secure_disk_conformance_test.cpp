// The block-device conformance suite against the secure disk: over a memory store, over a real
// directory (the public Disk::create/open), and over the fault-injecting store with no fault
// planned (a transparent wrapper must change nothing).
#include "conformance/block_device_suite.hpp"
#include "disk_test_util.hpp"
#include "host/fault_store.hpp"

namespace {

using namespace jindisk;
using namespace jindisk::disk::test;

DiskConfig conformance_config(uint64_t blocks) {
  DiskConfig cfg;
  cfg.logical_bytes = blocks * kBlockSize;
  cfg.segment_blocks = 16;
  cfg.memtable_entries = 64;
  cfg.write_buffer_bytes = 64u << 10;
  return cfg;
}

struct SecureMemoryFixture {
  explicit SecureMemoryFixture(uint64_t blocks) : cfg(conformance_config(blocks)) {
    disk = create_disk(store, cfg);
  }
  BlockDevice& dev() { return *disk; }
  void reopen() {
    close_disk(disk);
    disk = open_disk(store, cfg);
  }
  DiskConfig cfg;
  host::MemoryStore store;
  DiskPtr disk;
};

struct SecurePosixFixture {
  explicit SecurePosixFixture(uint64_t blocks) : cfg(conformance_config(blocks)) {
    auto d = Disk::create(dir(), test_key(), cfg.create_options(), cfg.open_options());
    REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
    disk = std::move(d).value();
  }
  BlockDevice& dev() { return *disk; }
  void reopen() {
    const Status s = disk->close();
    REQUIRE_MESSAGE(s.is_ok(), s.to_string());
    disk.reset();
    auto d = Disk::open(dir(), test_key(), cfg.open_options());
    REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
    disk = std::move(d).value();
  }
  std::string dir() const { return tmp.file("secure"); }
  DiskConfig cfg;
  TempDir tmp;
  std::unique_ptr<Disk> disk;
};

struct SecureFaultStoreFixture {
  explicit SecureFaultStoreFixture(uint64_t blocks)
      : cfg(conformance_config(blocks)), fault(store) {
    disk = create_disk(fault, cfg);
  }
  ~SecureFaultStoreFixture() {
    disk.reset();
    CHECK(!fault.crashed());
  }
  BlockDevice& dev() { return *disk; }
  void reopen() {
    close_disk(disk);
    disk = open_disk(fault, cfg);
  }
  DiskConfig cfg;
  host::MemoryStore store;
  host::FaultInjectingStore fault;
  DiskPtr disk;
};

}  // namespace

TEST_CASE_TEMPLATE_INVOKE(block_device_conformance, SecureMemoryFixture, SecurePosixFixture,
                          SecureFaultStoreFixture);

TEST_CASE("a secure disk over a real directory cannot be opened twice at once") {
  TempDir tmp;
  const std::string dir = tmp.file("secure");
  const DiskConfig cfg = conformance_config(512);
  auto d = Disk::create(dir, test_key(), cfg.create_options(), cfg.open_options());
  REQUIRE_MESSAGE(d.is_ok(), d.status().to_string());
  auto second = Disk::open(dir, test_key(), cfg.open_options());
  REQUIRE(!second.is_ok());
  CHECK(second.status().code() == Code::kBusy);
  JD_REQUIRE_OK((*d)->close());
  auto third = Disk::open(dir, test_key(), cfg.open_options());
  CHECK_MESSAGE(third.is_ok(), third.status().to_string());
}
