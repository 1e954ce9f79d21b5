// aead_ceiling: how fast can this machine seal and open 4 KiB blocks on all its cores? That
// bounds the sequential speed of any disk that encrypts every block, ours included. Used by
// bench/suite.sh for the seq-write and seq-read targets.
//
//   aead_ceiling [--seconds S] [--threads N]     (defaults: 2 s per row, N = all cores)
//
// Plain libsodium, not the engine's wrapper, so that the number stays a property of the
// machine: AES-256-GCM (the cipher the engine picks when the CPU has AES-NI) and
// ChaCha20-Poly1305-IETF, each call under a key from a pool of 256, so the key schedule is
// paid per block as it is with the engine's one-time keys. A third row adds a fresh 32-byte
// random key per block (randombytes_buf), as the engine's write path draws one.
//
// Each row runs N threads for S seconds of wall time. Two rates are printed:
//   wall  = all blocks / wall time: what the cores delivered now (a busy machine lowers it);
//   cpu   = sum over threads of blocks / that thread's CPU time: the rate with the cores to
//           itself, the stricter ceiling. The suite uses max(wall, cpu).
// Output: a Markdown table, then one `ceiling ROW CIPHER WALL CPU` line per row for scripts.
#include <pthread.h>
#include <sodium.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kPool = 256;

enum class Op { kSeal, kOpen, kSealFreshKey };
enum class Aead { kAesGcm, kChaCha };

const char* op_name(Op op) {
  switch (op) {
    case Op::kSeal:
      return "seal";
    case Op::kOpen:
      return "open";
    case Op::kSealFreshKey:
      return "seal+random_key";
  }
  return "?";
}
const char* aead_name(Aead a) {
  return a == Aead::kAesGcm ? "aes256gcm" : "chacha20poly1305";
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct ThreadResult {
  uint64_t blocks = 0;
  double cpu_seconds = 0;
};

void encrypt(Aead a, uint8_t* out, uint8_t* tag, const uint8_t* in, const uint8_t* ad,
             const uint8_t* nonce, const uint8_t* key) {
  if (a == Aead::kAesGcm) {
    crypto_aead_aes256gcm_encrypt_detached(out, tag, nullptr, in, kBlock, ad, 16, nullptr, nonce,
                                           key);
  } else {
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, nullptr, in, kBlock, ad, 16,
                                                       nullptr, nonce, key);
  }
}

bool decrypt(Aead a, uint8_t* out, const uint8_t* in, const uint8_t* tag, const uint8_t* ad,
             const uint8_t* nonce, const uint8_t* key) {
  if (a == Aead::kAesGcm) {
    return crypto_aead_aes256gcm_decrypt_detached(out, nullptr, in, kBlock, tag, ad, 16, nonce,
                                                  key) == 0;
  }
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, nullptr, in, kBlock, tag, ad, 16,
                                                            nonce, key) == 0;
}

void worker(Aead a, Op op, const std::atomic<bool>& stop, ThreadResult& result) {
  std::vector<std::array<uint8_t, 32>> keys(kPool);
  for (auto& k : keys) randombytes_buf(k.data(), k.size());
  std::vector<uint8_t> plain(kBlock), sealed(kPool * kBlock), out(kBlock);
  std::vector<std::array<uint8_t, 16>> tags(kPool);
  randombytes_buf(plain.data(), plain.size());
  const uint8_t ad[16] = {};
  const uint8_t nonce[12] = {};
  for (size_t i = 0; i < kPool; ++i) {
    encrypt(a, &sealed[i * kBlock], tags[i].data(), plain.data(), ad, nonce, keys[i].data());
  }
  std::array<uint8_t, 32> fresh{};
  std::array<uint8_t, 16> tag{};
  const double cpu0 = thread_cpu_seconds();
  uint64_t n = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    for (size_t j = 0; j < 64; ++j, ++n) {
      const size_t k = n % kPool;
      switch (op) {
        case Op::kSeal:
          encrypt(a, out.data(), tag.data(), plain.data(), ad, nonce, keys[k].data());
          break;
        case Op::kSealFreshKey:
          randombytes_buf(fresh.data(), fresh.size());
          encrypt(a, out.data(), tag.data(), plain.data(), ad, nonce, fresh.data());
          break;
        case Op::kOpen:
          if (!decrypt(a, out.data(), &sealed[k * kBlock], tags[k].data(), ad, nonce,
                       keys[k].data())) {
            std::fprintf(stderr, "aead_ceiling: decrypt failed\n");
            std::exit(1);
          }
          break;
      }
    }
  }
  result.cpu_seconds = thread_cpu_seconds() - cpu0;
  result.blocks = n;
}

struct Row {
  Op op;
  Aead aead;
  double wall_mib_s;
  double cpu_mib_s;
};

Row run(Aead a, Op op, unsigned threads, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<ThreadResult> results(threads);
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  for (unsigned i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] { worker(a, op, stop, results[i]); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  uint64_t blocks = 0;
  double cpu_rate = 0;
  for (const auto& r : results) {
    blocks += r.blocks;
    if (r.cpu_seconds > 0) cpu_rate += static_cast<double>(r.blocks) / r.cpu_seconds;
  }
  const double mib = kBlock / (1024.0 * 1024.0);
  return {op, a, static_cast<double>(blocks) / wall * mib, cpu_rate * mib};
}

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: aead_ceiling [--seconds S] [--threads N]   (defaults 2 s, all cores)\n");
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2.0;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(0);
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::strtod(argv[++i], nullptr);
      if (!(seconds > 0)) usage(2);
    } else if (arg == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
      if (threads == 0) usage(2);
    } else {
      usage(2);
    }
  }
  if (sodium_init() < 0) {
    std::fprintf(stderr, "aead_ceiling: sodium_init failed\n");
    return 1;
  }
  std::vector<Row> rows;
  for (Aead a : {Aead::kAesGcm, Aead::kChaCha}) {
    if (a == Aead::kAesGcm && !crypto_aead_aes256gcm_is_available()) {
      std::printf("(aes256gcm unavailable on this CPU: skipped)\n");
      continue;
    }
    for (Op op : {Op::kSeal, Op::kOpen, Op::kSealFreshKey})
      rows.push_back(run(a, op, threads, seconds));
  }
  std::printf("libsodium %s, 4 KiB blocks, %u threads, %.1f s per row\n\n", sodium_version_string(),
              threads, seconds);
  std::printf("| operation | cipher | MiB/s (wall) | MiB/s (cpu) |\n|---|---|---|---|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %s | %.0f | %.0f |\n", op_name(r.op), aead_name(r.aead), r.wall_mib_s,
                r.cpu_mib_s);
  }
  std::printf("\n");
  for (const Row& r : rows) {
    std::printf("ceiling %s %s %.1f %.1f\n", op_name(r.op), aead_name(r.aead), r.wall_mib_s,
                r.cpu_mib_s);
  }
  return 0;
}
