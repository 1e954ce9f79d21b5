// The memtable on its own: values in a hash map, order kept beside it; ranges (short, long, at
// the edges) and dumps must come out in LBA order.
#include <doctest/doctest.h>

#include <map>
#include <random>

#include "index/memtable.hpp"
#include "index_test_util.hpp"

namespace jindisk::index::testing {
namespace {

std::vector<Entry> expected_range(const std::map<uint64_t, BlockRef>& model, uint64_t first,
                                  uint64_t last) {
  std::vector<Entry> out;
  for (auto it = model.lower_bound(first); it != model.end() && it->first <= last; ++it) {
    out.push_back(Entry{it->first, it->second});
  }
  return out;
}

TEST_CASE("memtable ranges and dumps come out in LBA order, short and long, edges included") {
  Memtable mem;
  std::map<uint64_t, BlockRef> model;
  std::mt19937_64 rng(11);
  for (int i = 0; i < 5000; ++i) {
    const uint64_t lba = rng() % 20000;
    const BlockRef ref = make_ref(lba, i);
    mem.put(lba, ref);
    model[lba] = ref;
  }
  // The largest LBAs, where a range's last LBA must not wrap around.
  for (uint64_t lba : {UINT64_MAX - 1, UINT64_MAX}) {
    mem.put(lba, make_ref(lba, 1));
    model[lba] = make_ref(lba, 1);
  }
  REQUIRE(mem.size() == model.size());

  std::vector<Entry> all;
  REQUIRE(mem.visit_in_order([&](const Entry& e) {
                 all.push_back(e);
                 return Status::ok();
               }).is_ok());
  CHECK(all == expected_range(model, 0, UINT64_MAX));
  // A failing visitor stops the walk and its error comes back.
  size_t visited = 0;
  const Status stopped = mem.visit_in_order([&](const Entry&) {
    return ++visited == 10 ? Status::io_error("stop here") : Status::ok();
  });
  CHECK(stopped.code() == Code::kIoError);
  CHECK(visited == 10);

  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, 0},          {5, 5},         {100, 130},       {19990, 20010},     {0, 600},
      {7000, 7000 + mem.size() / 8},   {0, 19999},       {0, UINT64_MAX},    {12345, 12344},
      {UINT64_MAX - 5, UINT64_MAX},    {UINT64_MAX, UINT64_MAX},             {20000, 1u << 30}};
  for (const auto& [first, last] : ranges) {
    CAPTURE(first);
    CAPTURE(last);
    CHECK(mem.range(first, last) == expected_range(model, first, first > last ? 0 : last));
  }
  for (int i = 0; i < 200; ++i) {
    const uint64_t first = rng() % 21000, last = first + rng() % (i % 2 ? 40 : 8000);
    CAPTURE(first);
    CAPTURE(last);
    CHECK(mem.range(first, last) == expected_range(model, first, last));
  }
}

TEST_CASE("memtable exchange returns the replaced value and dirty entries follow first change") {
  Memtable mem;
  CHECK_FALSE(mem.exchange(9, make_ref(9, 1)).has_value());
  CHECK(mem.exchange(9, make_ref(9, 2)) == make_ref(9, 1));
  mem.put(3, make_ref(3, 1));
  mem.put_clean(4, make_ref(4, 1));  // replayed: not dirty
  CHECK(*mem.find(9) == make_ref(9, 2));
  CHECK(mem.find(5) == nullptr);
  const std::vector<Entry> dirty = mem.dirty_entries();
  REQUIRE(dirty.size() == 2);
  CHECK(dirty[0] == Entry{9, make_ref(9, 2)});
  CHECK(dirty[1] == Entry{3, make_ref(3, 1)});
  mem.clear_dirty();
  CHECK(mem.dirty_count() == 0);
  CHECK(mem.size() == 3);
  mem.clear();
  CHECK(mem.empty());
  CHECK(mem.range(0, UINT64_MAX).empty());
}

}  // namespace
}  // namespace jindisk::index::testing
