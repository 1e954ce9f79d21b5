// Creating and opening a secure disk: the stack is assembled here, and recovery happens here.
#include "disk/secure_disk.hpp"

#include <algorithm>
#include <cstdio>

#include "crypto/kdf.hpp"
#include "crypto/sodium.hpp"
#include "disk/root_record.hpp"

namespace jindisk::disk {
namespace {

constexpr uint64_t kMinLogicalBytes = 1ull << 20;

// Names an interrupted create() may leave behind before the header makes the disk exist.
bool creation_leftover(const std::string& name) {
  return name == kLockName || name == kRootName || name == "header.new";
}

index::IndexOptions index_options(const OpenOptions& o) {
  index::IndexOptions io;
  io.background_compaction = o.background_compaction;
  // A quarter of the cache for the block cache, a quarter for the memtable (~128 B an entry).
  io.block_cache_bytes = std::max<size_t>(1u << 20, o.cache_bytes / 4);
  io.memtable_entries =
      o.memtable_entries ? o.memtable_entries : std::max<size_t>(4096, o.cache_bytes / 4 / 128);
  return io;
}

}  // namespace

SecureDisk::SecureDisk(host::Store& store, OpenOptions options)
    : store_(store), options_(std::move(options)) {}

SecureDisk::~SecureDisk() {
  const Status s = close();
  if (!s.is_ok() && s.code() != Code::kInvalidArgument) warn("final commit failed: " + s.to_string());
}

void SecureDisk::warn(const std::string& message) const {
  if (options_.on_warning) options_.on_warning(message);
  else std::fprintf(stderr, "jindisk: warning: %s\n", message.c_str());
}

Result<std::unique_ptr<SecureDisk>> SecureDisk::create(host::Store& store, const KeySource& key,
                                                       const CreateOptions& co,
                                                       const OpenOptions& oo) {
  crypto::init();
  if (co.logical_bytes % kBlockSize != 0 || co.logical_bytes < kMinLogicalBytes ||
      co.logical_bytes / kBlockSize > (1ull << 40)) {
    return Status::invalid_argument("disk size must be a multiple of 4096 between 1 MiB and 4 PiB");
  }
  const uint32_t sb = co.segment_blocks;
  if (sb < 16 || sb > 65536 || (sb & (sb - 1)) != 0) {
    return Status::invalid_argument("segment size must be a power of two from 16 to 65536 blocks");
  }
  JD_ASSIGN_OR_RETURN(auto names, store.list());
  for (const auto& n : names) {
    if (n == kHeaderName) return Status::already_exists(store.describe() + " already holds a disk");
    if (!creation_leftover(n)) {
      return Status::already_exists(store.describe() + " is not empty (found '" + n + "')");
    }
  }
  JD_ASSIGN_OR_RETURN(auto lock, store.lock(kLockName));

  DiskHeader header;
  crypto::random_bytes(header.uuid);
  header.cipher = co.force_chacha ? crypto::Cipher::kChaCha20Poly1305 : crypto::preferred_cipher();
  header.segment_blocks = sb;
  header.logical_blocks = co.logical_bytes / kBlockSize;
  crypto::SecretKey master = crypto::SecretKey::random();
  JD_TRY(seal_master_key(header, key, co.kdf, master));

  // The first root goes down before the header: a directory with a header always has a root.
  {
    JD_ASSIGN_OR_RETURN(auto file, store.open(kRootName, host::OpenMode::kCreateOrOpen));
    JD_TRY(file->truncate(0));
    log::RootSlots roots(std::move(file),
                         crypto::derive_subkey(master, crypto::SubkeyId::kRootSlots), header.uuid);
    RootPayload payload;
    payload.uuid = header.uuid;
    payload.logical_blocks = header.logical_blocks;
    payload.segment_blocks = header.segment_blocks;
    auto tag = roots.commit(1, payload.encode());
    if (!tag.is_ok()) return tag.status();
  }
  JD_TRY(write_header(store, header));
  return open_stack(store, std::move(lock), std::move(header), std::move(master), oo, true);
}

Result<std::unique_ptr<SecureDisk>> SecureDisk::open(host::Store& store, const KeySource& key,
                                                     const OpenOptions& options) {
  crypto::init();
  JD_ASSIGN_OR_RETURN(auto lock, store.lock(kLockName));
  auto header = read_header(store);
  if (!header.is_ok()) {
    if (header.status().code() == Code::kNotFound) {
      return Status::not_found(store.describe() + " holds no disk (no header)");
    }
    return header.status();
  }
  if (!crypto::cipher_available(header->cipher)) {
    return Status::unsupported(std::string("this disk uses ") + crypto::cipher_name(header->cipher) +
                               ", which this CPU cannot run");
  }
  JD_ASSIGN_OR_RETURN(crypto::SecretKey master, open_master_key(*header, key));
  return open_stack(store, std::move(lock), std::move(header).value(), std::move(master), options,
                    false);
}

Result<std::unique_ptr<SecureDisk>> SecureDisk::open_stack(host::Store& store,
                                                           std::unique_ptr<host::DirLock> lock,
                                                           DiskHeader header,
                                                           crypto::SecretKey master,
                                                           const OpenOptions& options,
                                                           bool created) {
  std::unique_ptr<SecureDisk> d(new SecureDisk(store, options));
  d->lock_ = std::move(lock);
  d->header_ = std::move(header);
  d->master_ = std::move(master);
  if (options.read_only) {
    d->read_only_ = true;
    d->read_only_reason_ = "opened read-only";
  }

  // Root slots: the newest valid commit.
  auto root_file = store.open(kRootName, host::OpenMode::kExisting);
  if (!root_file.is_ok()) {
    if (root_file.status().code() == Code::kNotFound) {
      return Status::corruption("the root slot file is missing");
    }
    return root_file.status();
  }
  d->roots_ = std::make_unique<log::RootSlots>(
      std::move(root_file).value(), crypto::derive_subkey(d->master_, crypto::SubkeyId::kRootSlots),
      d->header_.uuid);
  auto root = d->roots_->load();
  if (!root.is_ok()) return root.status().with_context("root slots");
  auto payload = RootPayload::decode(root->payload);
  if (!payload.is_ok()) return payload.status();
  if (payload->uuid != d->header_.uuid || payload->logical_blocks != d->header_.logical_blocks ||
      payload->segment_blocks != d->header_.segment_blocks) {
    return Status::corruption("root record does not match the disk header");
  }
  d->epoch_ = root->epoch;
  d->root_tag_ = root->tag;
  d->user_bytes_base_ = payload->user_bytes_written;
  d->host_bytes_base_ = payload->host_bytes_written;

  JD_TRY(d->check_anchor(*root, created));

  auto idx = index::LsmIndex::open(store, payload->index, index_options(options));
  if (!idx.is_ok()) return idx.status().with_context("index");
  d->index_ = std::move(idx).value();

  d->alloc_ = std::make_unique<BlockAllocator>(d->header_.segment_blocks);
  d->segments_ = std::make_unique<SegmentFiles>(store, d->header_.segment_blocks);
  d->summary_ = std::make_unique<SegmentSummary>(
      crypto::derive_subkey(d->master_, crypto::SubkeyId::kSegmentSummary));
  d->pool_ = std::make_unique<WorkerPool>(0);
  JD_TRY(d->rebuild_allocation());

  if (!options.read_only) {
    d->remove_leftovers();
    const uint64_t reserve = options.space_reserve_bytes == UINT64_MAX
                                 ? options.write_buffer_bytes + (4u << 20)
                                 : options.space_reserve_bytes;
    d->reserve_ = std::make_unique<SpaceReserve>(store, reserve);
    d->reserve_->refill();
    // A fresh commit at once: the recovered state becomes the newest, and the anchor follows.
    {
      std::lock_guard lock_flush(d->flush_mu_);
      d->dirty_ = true;
      JD_TRY(d->commit_locked());
    }
    if (options.background_cleaning) {
      SecureDisk* disk = d.get();
      d->cleaner_ = std::make_unique<BackgroundLoop>([disk] { return disk->background_clean(); },
                                                     std::chrono::seconds(1));
    }
  }
  return d;
}

Status SecureDisk::check_anchor(const log::RootRecord& root, bool created) {
  if (options_.anchor == AnchorMode::kNone) return Status::ok();
  const std::string path = options_.anchor == AnchorMode::kPath ? options_.anchor_path
                                                                : Anchor::default_path(header_.uuid);
  if (path.empty()) return Status::invalid_argument("an anchor path is required");
  anchor_ = std::make_unique<Anchor>(path, crypto::derive_subkey(master_, crypto::SubkeyId::kAnchor),
                                     header_.uuid);
  auto state = anchor_->read();
  if (!state.is_ok()) {
    if (!options_.accept_rollback) return state.status();
    if (options_.read_only) {
      warn(state.status().message() + "; ignored (--accept-rollback, read-only: left as it is)");
      return Status::ok();
    }
    warn(state.status().message() + "; replacing it (--accept-rollback)");
    return anchor_->update({root.epoch, root.tag}, true);
  }
  if (!state->has_value()) {
    if (created) return anchor_->update({root.epoch, root.tag}, true);
    warn("no anchor at " + path + ": whole-disk rollback cannot be detected for this open; "
         "creating it now");
    if (options_.read_only) return Status::ok();
    return anchor_->update({root.epoch, root.tag}, true);
  }
  const AnchorState& a = **state;
  const bool behind = root.epoch < a.epoch;
  const bool forked = root.epoch == a.epoch && !crypto::tags_equal(root.tag, a.root_tag);
  if (!behind && !forked) return Status::ok();
  const std::string what =
      behind ? "the disk is at commit " + std::to_string(root.epoch) + " but its anchor " + path +
                   " records commit " + std::to_string(a.epoch) +
                   ": this is an older copy of the directory (rollback)"
             : "the disk's commit " + std::to_string(root.epoch) +
                   " differs from the one its anchor " + path + " records (rollback or fork)";
  if (!options_.accept_rollback) return Status::rollback(what);
  if (options_.read_only) {
    warn(what + "; accepted (--accept-rollback); read-only, so the anchor is left as it is");
    return Status::ok();
  }
  warn(what + "; accepted (--accept-rollback), resetting the anchor");
  return anchor_->update({root.epoch, root.tag}, true);
}

Status SecureDisk::rebuild_allocation() {
  JD_TRY(index_->scan(0, header_.logical_blocks - 1, [this](uint64_t, const index::BlockRef& ref) {
    ++live_blocks_;
    return alloc_->mark_used(ref.hba);
  }));
  for (uint64_t seg : alloc_->present_segments()) {
    Status s = segments_->learn_size(seg);
    if (!s.is_ok()) return s.with_context("data segment " + SegmentFiles::name(seg));
  }
  return Status::ok();
}

void SecureDisk::remove_leftovers() {
  auto names = store_.list();
  if (!names.is_ok()) return;
  bool removed = false;
  for (const std::string& n : index_->unreferenced_files(*names)) {
    removed |= store_.remove(n).is_ok();
  }
  for (const std::string& n : *names) {
    const auto seg = SegmentFiles::parse_name(n);
    if ((seg && !alloc_->segment_present(*seg)) || n == "header.new") {
      removed |= store_.remove(n).is_ok();
    }
  }
  if (removed) (void)store_.sync_dir();
}

DiskInfo SecureDisk::info() const {
  DiskInfo i;
  if (closed_) return i;
  i.uuid = uuid_to_string(header_.uuid);
  i.logical_bytes = header_.logical_blocks * kBlockSize;
  i.cipher = crypto::cipher_name(header_.cipher);
  i.segment_blocks = header_.segment_blocks;
  {
    std::lock_guard lock(flush_mu_);
    i.epoch = epoch_;
    static const char* kHex = "0123456789abcdef";
    for (uint8_t b : root_tag_) {
      i.root_tag += kHex[b >> 4];
      i.root_tag += kHex[b & 15];
    }
    const auto st = index_->stats();
    i.index_files = st.sst_files;
    i.compactions = st.compactions;
  }
  {
    std::lock_guard lock(mu_);
    i.read_only = read_only_;
    i.read_only_reason = read_only_reason_;
  }
  i.live_blocks = live_blocks_;
  i.allocated_blocks = alloc_->used_blocks();
  i.segments = alloc_->segment_count();
  // Segment sizes are tracked; the few metadata files are measured.
  i.host_bytes = segments_->total_bytes();
  if (auto names = store_.list(); names.is_ok()) {
    for (const auto& n : *names) {
      if (SegmentFiles::parse_name(n)) continue;
      auto f = store_.open(n, host::OpenMode::kExisting);
      if (!f.is_ok()) continue;
      if (auto sz = (*f)->size(); sz.is_ok()) i.host_bytes += *sz;
    }
  }
  {
    const uint64_t segment_bytes = segments_->total_bytes();
    const uint64_t live_bytes = i.live_blocks * kBlockSize;
    i.garbage_ratio = segment_bytes > live_bytes ? 1.0 - double(live_bytes) / segment_bytes : 0;
  }
  i.segments_cleaned = segments_cleaned_;
  i.blocks_moved = blocks_moved_;
  i.cleaner_errors = cleaner_errors_;
  i.user_bytes_written_session = user_bytes_session_;
  i.host_bytes_written_session = host_bytes_session();
  i.user_bytes_written = user_bytes_base_ + i.user_bytes_written_session;
  i.host_bytes_written = host_bytes_base_ + i.host_bytes_written_session;
  if (i.user_bytes_written) {
    i.write_amplification = double(i.host_bytes_written) / double(i.user_bytes_written);
  }
  if (i.user_bytes_written_session) {
    i.write_amplification_session =
        double(i.host_bytes_written_session) / double(i.user_bytes_written_session);
  }
  i.anchor = anchor_ ? anchor_->path() : "";
  return i;
}

std::string SecureDisk::describe_files() const {
  auto names = store_.list();
  if (!names.is_ok()) return "cannot list: " + names.status().to_string() + "\n";
  std::sort(names->begin(), names->end());
  std::string out;
  for (const auto& n : *names) {
    uint64_t size = 0;
    if (auto f = store_.open(n, host::OpenMode::kExisting); f.is_ok()) {
      if (auto sz = (*f)->size(); sz.is_ok()) size = *sz;
    }
    std::string what = "unknown";
    if (n == kHeaderName) what = "header (unlock information)";
    else if (n == kRootName) what = "root slots (commit point)";
    else if (n == kLockName) what = "lock";
    else if (n == kReserveName) what = "space reserve (zeros, for committing when the host is full)";
    else if (auto seg = SegmentFiles::parse_name(n)) what = "data segment";
    else if (n.starts_with("wal-")) what = "index write-ahead log";
    else if (n.starts_with("sst-")) what = "index sorted file";
    else if (n.starts_with("man-")) what = "index manifest";
    char line[160];
    std::snprintf(line, sizeof line, "  %-24s %12llu  %s\n", n.c_str(),
                  static_cast<unsigned long long>(size), what.c_str());
    out += line;
  }
  return out;
}

Status SecureDisk::close() {
  // The cleaner's steps take flush_mu_: stop it before taking the lock.
  if (cleaner_) cleaner_->stop();
  std::lock_guard lock(flush_mu_);
  if (closed_) return Status::invalid_argument("disk is closed");
  closed_ = true;
  Status s;
  if (!read_only_) {
    s = drain_locked();
    if (s.is_ok()) s = commit_locked();
    if (s.is_ok()) remove_all_emptied_locked();
  }
  index_.reset();  // stops background compaction
  pool_.reset();
  lock_.reset();
  return s;
}

}  // namespace jindisk::disk
