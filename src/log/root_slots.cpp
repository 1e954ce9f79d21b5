// A/B root slots: see root_slots.hpp for the layout and guarantees.
#include "log/root_slots.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "util/le.hpp"

namespace jindisk::log {
namespace {

constexpr size_t kHeader = 24;  // magic 8 | slot u32 | epoch u64 | length u32
constexpr size_t kNonce = crypto::kObjectNonceSize;
constexpr size_t kTag = crypto::kTagSize;
static_assert(RootSlots::kMaxPayload == RootSlots::kSlotSize - kHeader - kNonce - kTag);

constexpr std::array<uint8_t, 8> kMagic = {'J', 'D', 'R', 'O', 'O', 'T', '0', '1'};
using Ad = std::array<uint8_t, kHeader + 16>;
using Slot = std::array<uint8_t, RootSlots::kSlotSize>;

Ad slot_ad(std::span<const uint8_t> header, const Uuid& uuid) {
  Ad ad{};
  std::memcpy(ad.data(), header.data(), kHeader);
  std::memcpy(ad.data() + kHeader, uuid.data(), uuid.size());
  return ad;
}

}  // namespace

struct RootSlots::State {
  std::unique_ptr<host::File> file;
  crypto::SecretKey key;
  Uuid uuid{};
  // The slot holding the newest record known good (load or successful commit), and the highest
  // epoch seen. Changed only by success, so a failed commit is retried in the same slot and the
  // last good record is never the one overwritten.
  std::optional<uint32_t> newest_slot;
  std::optional<uint64_t> highest_epoch;

  // Parses and opens the slot at `index`; the Status says why it is not usable.
  Result<RootRecord> open_slot(uint32_t index, std::span<const uint8_t> bytes) const {
    const std::string what = "slot " + std::to_string(index);
    if (bytes.size() < kSlotSize) return Status::corruption(what + ": missing or short");
    util::Reader r(bytes, what);
    std::array<uint8_t, 8> magic{};
    r.bytes(magic);
    const uint32_t slot = r.u32();
    const uint64_t epoch = r.u64();
    const uint32_t len = r.u32();
    JD_TRY(r.status());
    if (magic != kMagic) return Status::corruption(what + ": bad magic (never written?)");
    if (slot != index) {
      return Status::corruption(what + ": holds the record of slot " + std::to_string(slot));
    }
    if (len > kMaxPayload) {
      return Status::corruption(what + ": payload length " + std::to_string(len) + " too large");
    }
    crypto::ObjectNonce nonce{};
    r.bytes(nonce);
    std::span<const uint8_t> cipher_text = r.view(len);
    crypto::Tag tag{};
    r.bytes(tag);
    JD_TRY(r.status());
    // The padding is not authenticated; requiring the zeros we wrote makes every byte of the
    // slot meaningful, so any damage at all disqualifies it.
    std::span<const uint8_t> pad = r.view(r.remaining());
    if (std::any_of(pad.begin(), pad.end(), [](uint8_t b) { return b != 0; })) {
      return Status::corruption(what + ": nonzero padding");
    }
    RootRecord rec;
    rec.epoch = epoch;
    rec.slot = index;
    rec.tag = tag;
    rec.payload.resize(len);
    const Ad ad = slot_ad(bytes.first(kHeader), uuid);
    if (!crypto::open_object(key.bytes(), ad, cipher_text, nonce, tag, rec.payload).is_ok()) {
      return Status::corruption(what +
                                ": does not authenticate (damaged, moved, from another "
                                "disk, or wrong key)");
    }
    return rec;
  }
};

RootSlots::RootSlots(std::unique_ptr<host::File> file, const crypto::SecretKey& root_key,
                     const Uuid& uuid)
    : s_(std::make_unique<State>()) {
  s_->file = std::move(file);
  s_->key = root_key.clone();
  s_->uuid = uuid;
}

RootSlots::~RootSlots() = default;
RootSlots::RootSlots(RootSlots&&) noexcept = default;
RootSlots& RootSlots::operator=(RootSlots&&) noexcept = default;

Result<RootRecord> RootSlots::load() {
  std::vector<uint8_t> bytes(2 * kSlotSize);
  JD_ASSIGN_OR_RETURN(size_t got, s_->file->read_at(0, bytes));
  bytes.resize(got);  // a short file leaves one or both slots short, hence invalid

  std::optional<RootRecord> best;
  std::string why;
  for (uint32_t i = 0; i < 2; ++i) {
    const size_t begin = std::min<size_t>(bytes.size(), i * kSlotSize);
    const size_t end = std::min<size_t>(bytes.size(), (i + 1) * kSlotSize);
    Result<RootRecord> rec =
        s_->open_slot(i, std::span<const uint8_t>(bytes).subspan(begin, end - begin));
    if (!rec.is_ok()) {
      why += (why.empty() ? "" : "; ") + rec.status().message();
      continue;
    }
    // Equal epochs never occur in slots we wrote; on a tie the lower slot wins, deterministically.
    if (!best || rec->epoch > best->epoch) best = std::move(rec).value();
  }
  if (!best) return Status::corruption("root slots: no valid slot: " + why);
  s_->newest_slot = best->slot;
  s_->highest_epoch = std::max(best->epoch, s_->highest_epoch.value_or(0));
  return std::move(*best);
}

Result<crypto::Tag> RootSlots::commit(uint64_t epoch, std::span<const uint8_t> payload) {
  if (s_->highest_epoch && epoch <= *s_->highest_epoch) {
    return Status::invalid_argument("root commit: epoch " + std::to_string(epoch) +
                                    " does not exceed epoch " + std::to_string(*s_->highest_epoch));
  }
  if (payload.size() > kMaxPayload) {
    return Status::invalid_argument("root commit: payload of " + std::to_string(payload.size()) +
                                    " bytes (max " + std::to_string(kMaxPayload) + ")");
  }
  const uint32_t target = s_->newest_slot ? 1 - *s_->newest_slot : 0;

  Slot slot{};  // zero padding included
  std::memcpy(slot.data(), kMagic.data(), kMagic.size());
  util::put_u32(slot.data() + 8, target);
  util::put_u64(slot.data() + 12, epoch);
  util::put_u32(slot.data() + 20, static_cast<uint32_t>(payload.size()));
  const Ad ad = slot_ad(std::span<const uint8_t>(slot).first(kHeader), s_->uuid);
  crypto::ObjectNonce nonce{};
  crypto::Tag tag{};
  uint8_t* ct = slot.data() + kHeader + kNonce;
  crypto::seal_object(s_->key.bytes(), ad, payload, std::span<uint8_t>(ct, payload.size()), nonce,
                      tag);
  std::memcpy(slot.data() + kHeader, nonce.data(), kNonce);
  std::memcpy(ct + payload.size(), tag.data(), kTag);

  const std::string what =
      "root commit of epoch " + std::to_string(epoch) + " to slot " + std::to_string(target);
  JD_TRY(s_->file->write_at(uint64_t{target} * kSlotSize, slot).with_context(what));
  JD_TRY(s_->file->sync().with_context(what));
  s_->newest_slot = target;
  s_->highest_epoch = epoch;
  return tag;
}

}  // namespace jindisk::log
