// Throughput of the crypto layer on 4 KiB blocks, next to raw libsodium calls so that the
// wrapper's overhead (and the cost of a one-time key per block) is visible.
//
//   crypto_bench [--seconds N]     N seconds of work per row (default 0.5)
//
// Rows are timed in this thread's CPU time, not wall time, so that a busy machine (a parallel
// build) stretches the run rather than skewing the numbers.
#include <sodium.h>
#include <time.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/sodium.hpp"

namespace {

using namespace jindisk::crypto;
using Block = std::array<uint8_t, kBlockSize>;

// One-time keys are drawn ahead of time for the rows that exclude key generation; cycling a
// pool keeps the per-block key schedule of the engine without timing the RNG.
constexpr size_t kPool = 256;

struct Row {
  std::string name;
  std::string cipher;
  double mib_per_s;
  double ops_per_s;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs op(i) for i = 0, 1, ... until `seconds` of CPU time have passed; each call handles one
// 4 KiB block.
Row measure(std::string name, std::string cipher, double seconds,
            const std::function<void(size_t)>& op) {
  for (size_t i = 0; i < 64; ++i) op(i);  // warm caches and lazy initialisation
  const double start = thread_cpu_seconds();
  size_t n = 0;
  double elapsed = 0;
  do {
    for (size_t j = 0; j < 256; ++j) op(n++);  // read the clock rarely
    elapsed = thread_cpu_seconds() - start;
  } while (elapsed < seconds);
  const double ops = static_cast<double>(n) / elapsed;
  return {std::move(name), std::move(cipher), ops * kBlockSize / (1024.0 * 1024.0), ops};
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "crypto_bench: %s failed\n", what);
    std::exit(1);
  }
}

void bench_block_cipher(Cipher cipher, double seconds, std::vector<Row>& rows) {
  const std::string name = cipher_name(cipher);
  const bool aes = cipher == Cipher::kAes256Gcm;
  std::vector<KeyBytes> keys(kPool);
  for (auto& k : keys) k = random_key();
  std::vector<Block> sealed(kPool);
  std::vector<Tag> tags(kPool);
  Block plain;
  random_bytes(plain);
  const std::array<uint8_t, 16> ad{};  // about the size of a block address + version
  for (size_t i = 0; i < kPool; ++i) seal_block(cipher, keys[i], ad, plain, sealed[i], tags[i]);
  Block out;
  Tag tag;

  rows.push_back(measure("seal_block", name, seconds, [&](size_t i) {
    seal_block(cipher, keys[i % kPool], ad, plain, out, tag);
  }));
  rows.push_back(measure("seal incl. key generation", name, seconds, [&](size_t) {
    seal_block(cipher, random_key(), ad, plain, out, tag);
  }));
  rows.push_back(measure("open_block", name, seconds, [&](size_t i) {
    const size_t k = i % kPool;
    check(open_block(cipher, keys[k], ad, sealed[k], tags[k], out).is_ok(), "open_block");
  }));

  // Raw libsodium, one fixed key, no wrapper: the floor the wrapper rows are compared to.
  const uint8_t nonce[12] = {};
  const KeyBytes& key = keys[0];
  rows.push_back(measure("raw libsodium encrypt", name, seconds, [&](size_t) {
    if (aes) {
      crypto_aead_aes256gcm_encrypt_detached(out.data(), tag.data(), nullptr, plain.data(),
                                             plain.size(), ad.data(), ad.size(), nullptr, nonce,
                                             key.data());
    } else {
      crypto_aead_chacha20poly1305_ietf_encrypt_detached(out.data(), tag.data(), nullptr,
                                                         plain.data(), plain.size(), ad.data(),
                                                         ad.size(), nullptr, nonce, key.data());
    }
  }));
  rows.push_back(measure("raw libsodium decrypt", name, seconds, [&](size_t) {
    const int rc =
        aes ? crypto_aead_aes256gcm_decrypt_detached(out.data(), nullptr, sealed[0].data(),
                                                     kBlockSize, tags[0].data(), ad.data(),
                                                     ad.size(), nonce, key.data())
            : crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                  out.data(), nullptr, sealed[0].data(), kBlockSize, tags[0].data(), ad.data(),
                  ad.size(), nonce, key.data());
    check(rc == 0, "raw decrypt");
  }));
}

void bench_object(double seconds, std::vector<Row>& rows) {
  const KeyBytes key = random_key();
  Block plain;
  random_bytes(plain);
  Block out;
  ObjectNonce nonce;
  Tag tag;
  rows.push_back(measure("seal_object (random nonce)", "xchacha20-poly1305", seconds,
                         [&](size_t) { seal_object(key, {}, plain, out, nonce, tag); }));
  seal_object(key, {}, plain, out, nonce, tag);
  Block opened;
  rows.push_back(measure("open_object", "xchacha20-poly1305", seconds, [&](size_t) {
    check(open_object(key, {}, out, nonce, tag, opened).is_ok(), "open_object");
  }));
}

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: crypto_bench [--seconds N]   (N > 0 seconds per row, default 0.5)\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(0);
    if (arg == "--seconds" && i + 1 < argc) {
      char* end = nullptr;
      seconds = std::strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(seconds > 0)) usage(2);
    } else {
      usage(2);
    }
  }

  init();
  std::printf("libsodium %s, 4 KiB blocks, %.2f s CPU per row, one thread; "
              "preferred cipher: %s\n\n",
              sodium_version_string(), seconds, cipher_name(preferred_cipher()));
  std::vector<Row> rows;
  for (Cipher c : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    if (cipher_available(c)) {
      bench_block_cipher(c, seconds, rows);
    } else {
      std::printf("(%s unavailable on this CPU: skipped)\n", cipher_name(c));
    }
  }
  bench_object(seconds, rows);

  std::printf("%-28s %-20s %10s %12s\n", "operation", "cipher", "MiB/s", "blocks/s");
  std::printf("%-28s %-20s %10s %12s\n", "---------", "------", "-----", "--------");
  for (const Row& r : rows) {
    std::printf("%-28s %-20s %10.0f %12.0f\n", r.name.c_str(), r.cipher.c_str(), r.mib_per_s,
                r.ops_per_s);
  }
  return 0;
}
