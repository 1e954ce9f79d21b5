// Key derivation: passphrase (Argon2id), key file (keyed BLAKE2b), master-key wrapping and
// subkeys. Format-locking checks compare against raw libsodium calls with the documented inputs.
#include <doctest/doctest.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

#include "crypto/kdf.hpp"
#include "test_support.hpp"

namespace jindisk::crypto {
namespace {

using test::fill_pattern;
using test::to_vec;

constexpr uint64_t kGiB = uint64_t{1} << 30;

Salt pattern_salt(uint8_t seed) {
  Salt salt;
  fill_pattern(salt, seed);
  return salt;
}

SecretKey passphrase_key(std::string_view pass, const Salt& salt,
                         KdfParams params = KdfParams::for_tests()) {
  auto key = key_from_passphrase(pass, salt, params);
  REQUIRE(key.is_ok());
  return std::move(key).value();
}

TEST_CASE("the shipped KDF parameter sets validate") {
  CHECK(KdfParams::moderate().validate().is_ok());
  CHECK(KdfParams::for_tests().validate().is_ok());
  CHECK(KdfParams::moderate().ops_limit == crypto_pwhash_OPSLIMIT_MODERATE);
  CHECK(KdfParams::moderate().mem_limit == crypto_pwhash_MEMLIMIT_MODERATE);
  CHECK(KdfParams::for_tests().ops_limit == crypto_pwhash_OPSLIMIT_MIN);
  CHECK(KdfParams::for_tests().mem_limit == crypto_pwhash_MEMLIMIT_MIN);
}

TEST_CASE("validate rejects parameters outside the bounds a header may ask for") {
  const KdfParams ok = KdfParams::for_tests();
  auto with = [&](uint64_t ops, uint64_t mem) { return KdfParams{ops, mem}.validate().code(); };
  CHECK(with(0, ok.mem_limit) == Code::kInvalidArgument);  // ops below the minimum (1)
  CHECK(with(crypto_pwhash_OPSLIMIT_MIN - 1, ok.mem_limit) == Code::kInvalidArgument);
  CHECK(with(uint64_t{crypto_pwhash_OPSLIMIT_MAX} + 1, ok.mem_limit) == Code::kInvalidArgument);
  CHECK(with(ok.ops_limit, 0) == Code::kInvalidArgument);
  CHECK(with(0, 0) == Code::kInvalidArgument);
  CHECK(with(ok.ops_limit, crypto_pwhash_MEMLIMIT_MIN - 1) == Code::kInvalidArgument);
  CHECK(with(ok.ops_limit, 4 * kGiB + 1) == Code::kInvalidArgument);
  CHECK(with(ok.ops_limit, uint64_t{1} << 40) == Code::kInvalidArgument);  // a forged 1 TiB
  CHECK(with(ok.ops_limit, UINT64_MAX) == Code::kInvalidArgument);
  // The boundaries themselves are allowed.
  CHECK(with(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) == Code::kOk);
  CHECK(with(crypto_pwhash_OPSLIMIT_MAX, 4 * kGiB) == Code::kOk);
}

TEST_CASE("key_from_passphrase refuses bad parameters before hashing") {
  auto key = key_from_passphrase("pass", pattern_salt(1), KdfParams{1, uint64_t{1} << 40});
  CHECK(key.status().code() == Code::kInvalidArgument);
}

TEST_CASE("a passphrase key depends on passphrase, salt and parameters, and on nothing else") {
  const Salt salt = pattern_salt(1);
  SecretKey key = passphrase_key("correct horse", salt);
  CHECK(key.equals(passphrase_key("correct horse", salt)));
  CHECK_FALSE(key.equals(passphrase_key("correct horsf", salt)));
  CHECK_FALSE(key.equals(passphrase_key("correct horse", pattern_salt(2))));
  KdfParams more_ops = KdfParams::for_tests();
  more_ops.ops_limit += 1;
  CHECK_FALSE(key.equals(passphrase_key("correct horse", salt, more_ops)));
  // Empty passphrases are legal (the policy on them belongs to the tools) and differ too.
  CHECK_FALSE(key.equals(passphrase_key("", salt)));
}

TEST_CASE("a passphrase key is raw Argon2id13 over the passphrase and salt") {
  const Salt salt = pattern_salt(8);
  const KdfParams p = KdfParams::for_tests();
  const std::string pass = "format lock";
  std::array<uint8_t, kKeySize> expected{};
  REQUIRE(crypto_pwhash(expected.data(), expected.size(), pass.data(), pass.size(), salt.data(),
                        p.ops_limit, p.mem_limit, crypto_pwhash_ALG_ARGON2ID13) == 0);
  CHECK(to_vec(passphrase_key(pass, salt).bytes()) == to_vec(expected));
}

TEST_CASE("Argon2 running out of memory is an I/O error, not a wrong key") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped under AddressSanitizer, which cannot run under an address-space limit");
#else
  // In a child with a 512 MiB address-space limit, a valid 2 GiB request cannot be satisfied.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit limit{512u << 20, 512u << 20};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(2);
    auto key = key_from_passphrase("pass", pattern_salt(1), KdfParams{1, 2 * kGiB});
    const bool io_error = key.status().code() == Code::kIoError &&
                          key.status().message().find("not enough memory") != std::string::npos;
    _exit(io_error ? 0 : 1);
  }
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
#endif
}

TEST_CASE("a key-file key is deterministic and depends on salt and file") {
  std::array<uint8_t, kKeySize> file;
  fill_pattern(file, 3);
  const Salt salt = pattern_salt(4);
  SecretKey key = key_from_key_file(file, salt);
  CHECK(key.equals(key_from_key_file(file, salt)));
  CHECK_FALSE(key.equals(key_from_key_file(file, pattern_salt(5))));
  auto other_file = file;
  other_file[kKeySize - 1] ^= 1;
  CHECK_FALSE(key.equals(key_from_key_file(other_file, salt)));
  CHECK(to_vec(key.bytes()) != to_vec(file));  // never the file bytes themselves
}

TEST_CASE("a key-file key is BLAKE2b-256 keyed by the salt over the domain and the file") {
  std::array<uint8_t, kKeySize> file;
  fill_pattern(file, 6);
  const Salt salt = pattern_salt(7);
  std::string input = "jindisk-keyfile-v1";
  input.append(reinterpret_cast<const char*>(file.data()), file.size());
  std::array<uint8_t, kKeySize> expected{};
  crypto_generichash(expected.data(), expected.size(),
                     reinterpret_cast<const uint8_t*>(input.data()), input.size(), salt.data(),
                     salt.size());
  CHECK(to_vec(key_from_key_file(file, salt).bytes()) == to_vec(expected));
}

struct WrapFixture {
  SecretKey wrapping = SecretKey::random();
  SecretKey master = SecretKey::random();
  std::array<uint8_t, 24> ad{};
  WrappedKey wrapped;
  WrapFixture() {
    fill_pattern(ad, 12);
    wrapped = wrap_key(wrapping, master, ad);
  }
};

TEST_CASE("a wrapped master key unwraps with the same key and ad") {
  WrapFixture f;
  CHECK(to_vec(f.wrapped.cipher_text) != to_vec(f.master.bytes()));
  auto unwrapped = unwrap_key(f.wrapping, f.wrapped, f.ad);
  REQUIRE(unwrapped.is_ok());
  CHECK(unwrapped->equals(f.master));
  // A second wrap of the same key uses a fresh nonce.
  WrappedKey again = wrap_key(f.wrapping, f.master, f.ad);
  CHECK(again.nonce != f.wrapped.nonce);
  CHECK(again.cipher_text != f.wrapped.cipher_text);
}

TEST_CASE("unwrapping with anything wrong is kWrongKey") {
  WrapFixture f;
  auto expect_wrong_key = [&](const SecretKey& key, const WrappedKey& w,
                              std::span<const uint8_t> ad) {
    auto r = unwrap_key(key, w, ad);
    CHECK(r.status().code() == Code::kWrongKey);
    CHECK(r.status().message() == "wrong passphrase or key");
  };
  SUBCASE("different wrapping key") { expect_wrong_key(SecretKey::random(), f.wrapped, f.ad); }
  SUBCASE("wrapping key from a wrong passphrase") {
    const Salt salt = pattern_salt(1);
    WrappedKey w = wrap_key(passphrase_key("right", salt), f.master, f.ad);
    CHECK(unwrap_key(passphrase_key("right", salt), w, f.ad).is_ok());
    expect_wrong_key(passphrase_key("wrong", salt), w, f.ad);
  }
  SUBCASE("modified ad") {
    auto ad = f.ad;
    ad[10] ^= 1;
    expect_wrong_key(f.wrapping, f.wrapped, ad);
  }
  SUBCASE("flipped cipher text") {
    for (size_t pos : {size_t{0}, size_t{16}, kKeySize - 1}) {
      CAPTURE(pos);
      WrappedKey w = f.wrapped;
      w.cipher_text[pos] ^= 1;
      expect_wrong_key(f.wrapping, w, f.ad);
    }
  }
  SUBCASE("flipped tag or nonce") {
    WrappedKey w = f.wrapped;
    w.tag[15] ^= 1;
    expect_wrong_key(f.wrapping, w, f.ad);
    w = f.wrapped;
    w.nonce[0] ^= 1;
    expect_wrong_key(f.wrapping, w, f.ad);
  }
}

TEST_CASE("subkeys are deterministic, distinct per id and unlike the master") {
  SecretKey master = SecretKey::random();
  const SubkeyId ids[] = {SubkeyId::kRootSlots, SubkeyId::kAnchor, SubkeyId::kWal,
                          SubkeyId::kInfo};
  for (SubkeyId id : ids) {
    CAPTURE(static_cast<uint64_t>(id));
    SecretKey sub = derive_subkey(master, id);
    CHECK(sub.equals(derive_subkey(master, id)));
    CHECK_FALSE(sub.equals(master));
    CHECK_FALSE(sub.equals(derive_subkey(SecretKey::random(), id)));
    for (SubkeyId other : ids) {
      if (other != id) CHECK_FALSE(sub.equals(derive_subkey(master, other)));
    }
  }
}

TEST_CASE("subkeys are crypto_kdf with context \"jindisk_\"") {
  SecretKey master = SecretKey::random();
  std::array<uint8_t, kKeySize> expected{};
  REQUIRE(crypto_kdf_derive_from_key(expected.data(), expected.size(), 2, "jindisk_",
                                     master.bytes().data()) == 0);
  CHECK(to_vec(derive_subkey(master, SubkeyId::kAnchor).bytes()) == to_vec(expected));
}

TEST_CASE("random salts differ") {
  CHECK(random_salt() != random_salt());
}

}  // namespace
}  // namespace jindisk::crypto
