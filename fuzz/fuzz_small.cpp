// Fuzz target: the small parsers of untrusted bytes that the other targets do not reach.
//
// First input byte selects the mode:
//   0 anchor raw:    the rest is the anchor file (docs/format.md §3); Anchor::read() must
//                    reject anything whose MAC the fuzzer cannot forge.
//   1 anchor sealed: the input describes both slots (flags for damage, epoch, root tag) and
//                    the file length; the harness MACs them with the test anchor key, and
//                    read() must return exactly the valid slot with the highest epoch; an
//                    update() after it must be what the next read() returns.
//   2 names:         the rest is a host file name as Store::list() reports it: the id-name
//                    parsers (segments, WAL/SST/manifest) and valid_name() must agree with the
//                    canonical spelling (parse then print gives the same name).
//   3 lock file:     the rest is the content of SECURE_DIR/lock while another holder has the
//                    lock: PosixStore::lock() parses the holder's pid from it for its kBusy
//                    message (a real directory under $TMPDIR; a second lock() in one process
//                    conflicts like another process would).
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "crypto/aead.hpp"
#include "crypto/sodium.hpp"
#include "disk/anchor.hpp"
#include "disk/segment_files.hpp"
#include "fuzz_common.hpp"
#include "host/posix_store.hpp"
#include "host/store.hpp"
#include "index/file_names.hpp"
#include "index/lsm_index.hpp"
#include "util/id_name.hpp"
#include "util/le.hpp"

using namespace jindisk;
using namespace jindisk::fuzz;

namespace {

const log::Uuid kUuid = {0xa7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

const crypto::SecretKey& anchor_key() {
  static const crypto::SecretKey key = [] {
    std::array<uint8_t, 32> b{};
    b.fill(0x3c);
    return crypto::SecretKey::from_bytes(b);
  }();
  return key;
}

const std::string& anchor_path() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && tmp[0] == '/' ? tmp : "/tmp") + "/jd-fuzz-anchor-" +
           std::to_string(getpid());
  }();
  return path;
}

void write_file(std::span<const uint8_t> bytes) {
  std::ofstream f(anchor_path(), std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail("cannot write the anchor file", anchor_path());
}

void run_anchor_raw(std::span<const uint8_t> bytes) {
  write_file(bytes);
  disk::Anchor anchor(anchor_path(), anchor_key(), kUuid);
  auto st = anchor.read();
  unlink(anchor_path().c_str());
  if (st.is_ok()) {
    check(st->has_value(), "an existing anchor file read as missing");
  } else {
    check(st.status().code() == Code::kCorruption, "anchor: unexpected code");
  }
}

void run_anchor_sealed(In& in) {
  struct RemoveAtEnd {
    ~RemoveAtEnd() { unlink(anchor_path().c_str()); }
  } remove_at_end;
  uint8_t file[128] = {};
  bool valid[2];
  uint64_t epochs[2];
  crypto::Tag tags[2];
  for (int s = 0; s < 2; ++s) {
    const uint8_t flags = in.u8();  // bit0 bad magic, bit1 other uuid, bit2 bad MAC
    epochs[s] = in.u64();
    in.fill(tags[s]);
    uint8_t* p = file + 64 * s;
    std::memcpy(p, "JDANCHR1", 8);
    std::memcpy(p + 8, kUuid.data(), 16);
    util::put_u64(p + 24, epochs[s]);
    std::memcpy(p + 32, tags[s].data(), 16);
    const crypto::Tag mac = crypto::mac(anchor_key().bytes(), {p, 48});
    std::memcpy(p + 48, mac.data(), 16);
    if (flags & 1) p[0] ^= 1;
    if (flags & 2) p[9] ^= 1;
    if (flags & 4) p[63] ^= 1;
    valid[s] = (flags & 7) == 0;
  }
  const uint8_t len = in.u8();
  const size_t size = len < 128 ? len : 128;
  if (size < 64) valid[0] = false;
  if (size < 128) valid[1] = false;
  write_file({file, size});
  disk::Anchor anchor(anchor_path(), anchor_key(), kUuid);
  auto st = anchor.read();
  check(st.is_ok() == (valid[0] || valid[1]), "anchor acceptance disagrees with the format");
  if (!st.is_ok()) return;
  check(st->has_value(), "anchor read as missing");
  const int want = !valid[1] ? 0 : !valid[0] ? 1 : (epochs[1] > epochs[0] ? 1 : 0);
  check((*st)->epoch == epochs[want] && (*st)->root_tag == tags[want],
        "anchor read did not return the newest valid slot");
  if ((*st)->epoch < UINT64_MAX) {
    disk::AnchorState next{(*st)->epoch + 1, tags[1 - want]};
    must(anchor.update(next), "anchor update");
    disk::Anchor again(anchor_path(), anchor_key(), kUuid);
    auto st2 = again.read();
    must(st2.status(), "anchor read after update");
    check(st2->has_value() && (*st2)->epoch == next.epoch && (*st2)->root_tag == next.root_tag,
          "anchor update is not what the next read returns");
  }
}

void run_names(std::span<const uint8_t> bytes) {
  const std::string name(bytes.begin(), bytes.end());
  const bool valid = host::valid_name(name);
  if (valid) {
    check(!name.empty() && name.size() <= 64 && name != "." && name != "..",
          "valid_name accepted a bad name");
    for (char c : name) {
      check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-',
            "valid_name accepted a bad character");
    }
  }
  for (const char* prefix : {"seg-", "wal-", "sst-", "man-", ""}) {
    if (auto id = util::parse_id_name(prefix, name)) {
      check(util::id_name(prefix, *id) == name, "id name does not print back the same", name);
    }
  }
  if (auto seg = disk::SegmentFiles::parse_name(name)) {
    check(disk::SegmentFiles::name(*seg) == name, "segment name round trip");
  }
  if (auto parsed = index::parse_file_name(name)) {
    check(index::file_name(parsed->kind, parsed->id) == name, "index name round trip");
    check(index::is_index_file(name), "a parsed index name is not an index file");
  }
}

// A fresh directory per input (nothing is left behind if the run is cut short between inputs).
void run_lock_file(std::span<const uint8_t> bytes) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && tmp[0] == '/' ? tmp : "/tmp") + "/jd-fuzz-lock-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) fail("mkdtemp", dir);
  {
    auto store = host::PosixStore::open_dir(dir);
    must(store.status(), "open lock dir");
    auto held = (*store)->lock("lock");
    must(held.status(), "take the lock");
    {
      std::ofstream f(dir + "/lock", std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    }
    auto again = (*store)->lock("lock");
    check(!again.is_ok() && again.status().code() == Code::kBusy, "a held lock was taken again");
  }
  unlink((dir + "/lock").c_str());
  rmdir(dir.c_str());
}

void write_seeds(const std::string& dir) {
  Seed sealed;
  sealed.u8(1);
  std::array<uint8_t, 16> tag{};
  tag.fill(0xee);
  sealed.u8(0).u64(41).bytes(tag).u8(0).u64(42).bytes(tag).u8(128);
  write_seed(dir, "anchor-sealed", sealed.out);

  disk::Anchor anchor(anchor_path(), anchor_key(), kUuid);
  must(anchor.update({7, {}}, true), "anchor");
  must(anchor.update({8, {}}), "anchor");
  std::ifstream f(anchor_path(), std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
  Seed raw;
  raw.u8(0).bytes(bytes);
  write_seed(dir, "anchor-raw", raw.out);
  unlink(anchor_path().c_str());

  int n = 0;
  for (std::string name : {disk::SegmentFiles::name(42),
                           index::file_name(index::FileKind::kWal, 0xabcdef),
                           index::file_name(index::FileKind::kSst, 1),
                           index::file_name(index::FileKind::kManifest, UINT64_MAX),
                           std::string("header.new"), std::string("lock")}) {
    Seed s;
    s.u8(2).bytes({reinterpret_cast<const uint8_t*>(name.data()), name.size()});
    write_seed(dir, "name-" + std::to_string(n++), s.out);
  }
  for (const char* text : {"12345\n", "-1\n", "99999999999999999999"}) {
    Seed s;
    s.u8(3).bytes({reinterpret_cast<const uint8_t*>(text), std::strlen(text)});
    write_seed(dir, "lock-" + std::to_string(n++), s.out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  initialize_target(argc, argv, write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  In in(data, size);
  switch (in.u8() % 4) {
    case 0: run_anchor_raw(in.rest()); break;
    case 1: run_anchor_sealed(in); break;
    case 2: run_names(in.rest()); break;
    default: run_lock_file(in.rest()); break;
  }
  return 0;
}
