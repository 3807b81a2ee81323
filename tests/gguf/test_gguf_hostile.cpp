// Hostile input: truncations at every header byte, extreme values in every field, and crafted
// inconsistencies. The parser must return an error (or a valid parse) and never crash, hang or make a
// huge allocation. Allocation sizes are observed by replacing operator new in this test program.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/gguf/gguf_test_util.h"

// Largest single allocation made through operator new while `g_track` is set.
static std::atomic<bool> g_track{false};
static std::atomic<size_t> g_max_alloc{0};

void* operator new(size_t n) {
  if (g_track.load(std::memory_order_relaxed)) {
    size_t m = g_max_alloc.load(std::memory_order_relaxed);
    while (n > m && !g_max_alloc.compare_exchange_weak(m, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// These free what the replacement operator new above malloc'ed; GCC cannot see that pairing.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace kestrel {
namespace {

using test::Field;
using test::FieldWalker;
using test::put_field;

std::vector<uint8_t> small_model_bytes() {
  std::string path = test::tmp_path("hostile-seed.gguf");
  GGUFWriter w = test::small_model_writer();
  Status st = w.write(path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  return test::read_bytes(path);
}

// Parses bytes from memory (the same parser as the mmap path) while tracking allocations. A successful
// parse must still describe tensors that lie inside the buffer.
Result<std::unique_ptr<GGUFFile>> parse_tracked(const std::vector<uint8_t>& b, size_t* max_alloc) {
  g_max_alloc = 0;
  g_track = true;
  auto r = GGUFFile::open_memory(b.data(), b.size(), "hostile.gguf");
  g_track = false;
  *max_alloc = g_max_alloc.load();
  if (r) {
    const GGUFFile& f = **r;
    for (const TensorInfo& t : f.tensors()) {
      EXPECT_LE(f.data_offset() + t.offset + t.bytes, b.size()) << t.name;
    }
  }
  return r;
}

// No allocation may exceed this: a generous multiple of the input (parsed Values are ~100 bytes per
// input byte at worst) plus a constant, far below what an unchecked 2^32 or 2^60 count would request.
size_t alloc_budget(size_t input) { return 256 * input + (1u << 16); }

TEST(GGUFHostile, ValidSeedParses) {
  std::vector<uint8_t> b = small_model_bytes();
  size_t max_alloc = 0;
  auto r = parse_tracked(b, &max_alloc);
  ASSERT_TRUE(r) << r.error();
  EXPECT_GT(max_alloc, 0u) << "allocation tracking is not active";
  EXPECT_LE(max_alloc, alloc_budget(b.size()));
  EXPECT_EQ((*r)->tensors().size(), 3u);
  EXPECT_EQ((*r)->metadata().size(), 6u);
  FieldWalker walker(b);
  std::vector<Field> fields = walker.walk();
  EXPECT_GT(fields.size(), 30u);
  EXPECT_LE(walker.header_end(), (*r)->data_offset());
}

// End of the last tensor's data: cuts before it must fail; the zero padding after it is optional
// (llama.cpp's mmap loader does not need it either).
uint64_t data_end(const std::vector<uint8_t>& b) {
  auto r = GGUFFile::open_memory(b.data(), b.size(), "seed.gguf");
  EXPECT_TRUE(r);
  uint64_t end = 0;
  for (const TensorInfo& t : (*r)->tensors()) end = std::max(end, (*r)->data_offset() + t.offset + t.bytes);
  return end;
}

TEST(GGUFHostile, EveryTruncationFails) {
  std::vector<uint8_t> b = small_model_bytes();
  FieldWalker walker(b);
  walker.walk();
  const uint64_t end = data_end(b);
  ASSERT_LT(end, b.size());
  // Every cut inside the header and table, and every 3rd byte through the data section.
  for (size_t cut = 0; cut < end; cut += (cut < walker.header_end() + 64 ? 1 : 3)) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
    size_t max_alloc = 0;
    auto r = parse_tracked(t, &max_alloc);
    ASSERT_FALSE(r) << "truncated at " << cut << " of " << b.size() << " parsed";
    EXPECT_NE(r.error().find("hostile.gguf"), std::string::npos) << r.error();
    EXPECT_LE(max_alloc, alloc_budget(cut));
  }
  for (size_t cut = end; cut < b.size(); ++cut) {
    std::vector<uint8_t> t(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut));
    size_t max_alloc = 0;
    EXPECT_TRUE(parse_tracked(t, &max_alloc)) << "only trailing padding cut at " << cut;
  }
}

TEST(GGUFHostile, TruncatedFileOnDiskFails) {
  // The same cuts through the mmap path: every header/table byte boundary, then a few in the data.
  std::vector<uint8_t> b = small_model_bytes();
  FieldWalker walker(b);
  walker.walk();
  std::vector<size_t> cuts;
  for (size_t cut = 0; cut <= walker.header_end(); ++cut) cuts.push_back(cut);
  for (size_t cut : {walker.header_end() + 9, size_t{data_end(b) - 1}}) cuts.push_back(cut);
  for (size_t cut : cuts) {
    std::string path = test::tmp_path("trunc.gguf");
    test::write_bytes(path, std::vector<uint8_t>(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(cut)));
    auto r = GGUFFile::open(path);
    ASSERT_FALSE(r) << cut;
    EXPECT_NE(r.error().find(path), std::string::npos) << r.error();
  }
}

TEST(GGUFHostile, ExtremeValuesInEveryField) {
  const std::vector<uint8_t> b = small_model_bytes();
  FieldWalker walker(b);
  const std::vector<Field> fields = walker.walk();
  const uint64_t kValues[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 31, 32, 33, 39, 40, 43, 63, 64, 255, 4096,
                              (1ull << 31) - 1, 1ull << 31, (1ull << 32) - 1, 1ull << 32, 1ull << 60,
                              (1ull << 63) - 1, 1ull << 63, ~0ull, ~0ull - 1};
  size_t parsed = 0, rejected = 0;
  for (const Field& f : fields) {
    for (uint64_t v : kValues) {
      std::vector<uint8_t> m = b;
      put_field(m, f.pos, f.width, v);
      size_t max_alloc = 0;
      auto r = parse_tracked(m, &max_alloc);
      (r ? parsed : rejected)++;
      EXPECT_LE(max_alloc, alloc_budget(m.size())) << f.what << " at " << f.pos << " = " << v;
      if (!r) {
        EXPECT_NE(r.error().find("hostile.gguf: "), std::string::npos) << r.error();
      }
    }
  }
  EXPECT_GT(rejected, parsed);  // most extreme values must be caught
  EXPECT_GT(parsed, 0u);        // and some (e.g. a different valid type, dims 0) are legal
}

TEST(GGUFHostile, EveryByteFlipped) {
  // Single-byte corruption anywhere in the header: error or valid parse, never a crash.
  const std::vector<uint8_t> b = small_model_bytes();
  FieldWalker walker(b);
  walker.walk();
  for (size_t i = 0; i < walker.header_end(); ++i) {
    for (uint8_t x : {uint8_t{0x00}, uint8_t{0x80}, uint8_t{0xFF}}) {
      std::vector<uint8_t> m = b;
      m[i] = x;
      size_t max_alloc = 0;
      (void)parse_tracked(m, &max_alloc);
      EXPECT_LE(max_alloc, alloc_budget(m.size())) << "byte " << i;
    }
  }
}

// Finds the n-th field of a kind (and what-label) in the seed.
const Field& nth(const std::vector<Field>& fs, Field::Kind k, int n) {
  for (const Field& f : fs)
    if (f.kind == k && n-- == 0) return f;
  ADD_FAILURE() << "field not found";
  return fs.front();
}

// Mutates one field of a seed file and expects an error containing `needle`.
template <class Mutate>
void expect_error(std::vector<uint8_t> b, Mutate mutate, const std::string& needle) {
  FieldWalker walker(b);
  std::vector<Field> fs = walker.walk();
  mutate(b, fs);
  size_t max_alloc = 0;
  auto r = parse_tracked(b, &max_alloc);
  ASSERT_FALSE(r) << "expected: " << needle;
  EXPECT_NE(r.error().find(needle), std::string::npos) << r.error();
  EXPECT_EQ(r.error().rfind("hostile.gguf: ", 0), 0u) << r.error();
  EXPECT_LE(max_alloc, alloc_budget(b.size())) << needle;
}

// Byte offset of a GGUF string (u64 length + bytes) in b, pointing at its first character.
size_t find_gguf_string(const std::vector<uint8_t>& b, const std::string& s) {
  std::vector<uint8_t> pat(8);
  uint64_t n = s.size();
  std::memcpy(pat.data(), &n, 8);
  pat.insert(pat.end(), s.begin(), s.end());
  auto it = std::search(b.begin(), b.end(), pat.begin(), pat.end());
  EXPECT_NE(it, b.end()) << s;
  return static_cast<size_t>(it - b.begin()) + 8;
}

TEST(GGUFHostileErrors, BadMagicAndVersions) {
  const std::vector<uint8_t> seed = small_model_bytes();
  expect_error(seed, [](auto& b, auto&) { b[0] = 'X'; }, "not a GGUF file (bad magic)");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Version, 0).pos, 4, 1); },
               "GGUF version 1 is not supported");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Version, 0).pos, 4, 4); },
               "unsupported GGUF version 4");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Version, 0).pos, 4, 3u << 24); },
               "big-endian");
  // Version 2 has the same layout as 3: the seed must parse as v2.
  std::vector<uint8_t> b = seed;
  put_field(b, 4, 4, 2);
  auto r = GGUFFile::open_memory(b.data(), b.size(), "v2.gguf");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)->version(), 2u);
}

TEST(GGUFHostileErrors, HugeCountsFailFast) {
  const std::vector<uint8_t> seed = small_model_bytes();
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Count, 0).pos, 8, 1ull << 60); },
               "tensor count 1152921504606846976 cannot fit");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Count, 1).pos, 8, ~0ull); },
               "metadata count");
  // An array count of 2^60 must fail before anything is reserved for it.
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::ArrayCount, 0).pos, 8, 1ull << 60); },
               "array of 1152921504606846976 string items");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::StrLen, 0).pos, 8, 1ull << 63); },
               "runs past the end of the file");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::ValueType, 0).pos, 4, 13); },
               "has unknown value type 13");
}

TEST(GGUFHostileErrors, DuplicateKeysAndTensors) {
  GGUFWriter w = test::small_model_writer();
  w.set_u32("dup.k1", 1);
  w.set_u32("dup.k2", 2);
  std::string path = test::tmp_path("dups.gguf");
  ASSERT_TRUE(w.write(path).is_ok());
  const std::vector<uint8_t> seed = test::read_bytes(path);
  expect_error(seed, [](auto& b, auto&) { b[find_gguf_string(b, "dup.k2") + 5] = '1'; },
               "duplicate metadata key 'dup.k1'");
  expect_error(seed, [](auto& b, auto&) { b[find_gguf_string(b, "t2") + 1] = '1'; }, "duplicate tensor 't1'");
}

TEST(GGUFHostileErrors, TensorTableProblemsNameTheTensor) {
  const std::vector<uint8_t> seed = small_model_bytes();
  // Seed tensors: t0 f32 {8,2} (64 bytes at 0), t1 q8_0 {32,2} (68 bytes at 64), t2 f16 {4} (8 bytes at 160).
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Offset, 1).pos, 8, 32); },
               "tensors 't0' and 't1' overlap");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Offset, 1).pos, 8, 65); },
               "tensor 't1' data offset 65 is not a multiple of the alignment 32");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Offset, 2).pos, 8, 1ull << 40); },
               "tensor 't2' data [1099511627776, +8) extends past the end of the file");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Offset, 2).pos, 8, ~0ull << 5); },
               "tensor 't2' data");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::TensorTypeId, 1).pos, 4, 4); },
               "tensor 't1' has unknown tensor type id 4");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::TensorTypeId, 0).pos, 4, 1000); },
               "tensor 't0' has unknown tensor type id 1000");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::NDims, 0).pos, 4, 5); },
               "tensor 't0' has 5 dimensions (at most 4)");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Dim, 1).pos, 8, ~0ull); },
               "tensor 't0' has negative dimension ne[1] = -1");
  expect_error(seed, [](auto& b, auto& fs) {
    put_field(b, nth(fs, Field::Dim, 0).pos, 8, 1ull << 62);
    put_field(b, nth(fs, Field::Dim, 1).pos, 8, 1ull << 62);
  }, "tensor 't0' dimensions overflow");
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Dim, 2).pos, 8, 33); },
               "tensor 't1' row length ne[0] = 33 is not a multiple of the q8_0 block size 32");
  // Element count fits int64 but the byte size does not fit uint64.
  expect_error(seed, [](auto& b, auto& fs) {
    put_field(b, nth(fs, Field::Dim, 0).pos, 8, 1ull << 62);
    put_field(b, nth(fs, Field::Dim, 1).pos, 8, 1);
  }, "tensor 't0' size overflows");
  // Big but representable: just past the end of the file.
  expect_error(seed, [](auto& b, auto& fs) { put_field(b, nth(fs, Field::Dim, 4).pos, 8, 1ull << 40); },
               "tensor 't2' data [160, +2199023255552) extends past the end of the file");
}

TEST(GGUFHostileErrors, Alignment) {
  GGUFWriter w = test::small_model_writer();
  w.set_u32("general.alignment", 64);
  std::string path = test::tmp_path("align64.gguf");
  ASSERT_TRUE(w.write(path).is_ok());
  const std::vector<uint8_t> seed = test::read_bytes(path);
  auto r = GGUFFile::open_memory(seed.data(), seed.size(), "a.gguf");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)->alignment(), 64u);
  // The alignment value is the last u32 value field in the seed (it was added last).
  auto last_u32 = [](const std::vector<Field>& fs) {
    const Field* f = nullptr;
    for (const Field& x : fs)
      if (x.kind == Field::U32Value) f = &x;
    return f->pos;
  };
  for (uint64_t bad : {0ull, 3ull, 48ull, 0xFFFFFFFFull})
    expect_error(seed, [&](auto& b, auto& fs) { put_field(b, last_u32(fs), 4, bad); },
                 "general.alignment must be a nonzero power of two, got " + std::to_string(bad));
  // 128 is legal but the writer placed tensors for 64: t1 at offset 64 is now misaligned.
  expect_error(seed, [&](auto& b, auto& fs) { put_field(b, last_u32(fs), 4, 128); },
               "not a multiple of the alignment 128");
  // 2^31: the data section would start far beyond the end of the file.
  expect_error(seed, [&](auto& b, auto& fs) { put_field(b, last_u32(fs), 4, 1u << 31); }, "past the end of the file");
  // Wrong type: the alignment key's type field turned into float32.
  auto last_type = [](const std::vector<Field>& fs) {
    const Field* f = nullptr;
    for (const Field& x : fs)
      if (x.kind == Field::ValueType) f = &x;
    return f->pos;
  };
  expect_error(seed, [&](auto& b, auto& fs) { put_field(b, last_type(fs), 4, 6); },
               "general.alignment has type float32, expected uint32");
  GGUFWriter ws;
  ws.set_string("general.alignment", "32");
  EXPECT_FALSE(ws.write(test::tmp_path("align-str.gguf")));
}

// Hand-built file: one key holding arrays nested `depth` deep.
std::vector<uint8_t> nested_file(int depth) {
  std::vector<uint8_t> b;
  auto put = [&](const void* p, size_t n) { b.insert(b.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
  auto u32 = [&](uint32_t v) { put(&v, 4); };
  auto u64 = [&](uint64_t v) { put(&v, 8); };
  put("GGUF", 4);
  u32(3);
  u64(0);  // tensors
  u64(1);  // kv
  u64(1);
  put("k", 1);
  u32(9);  // array
  for (int i = 1; i < depth; ++i) {
    u32(9);  // of arrays
    u64(1);  // one item
  }
  u32(0);  // innermost: array of uint8
  u64(0);
  return b;
}

TEST(GGUFHostileErrors, NestingDepthIsBounded) {
  std::vector<uint8_t> ok = nested_file(16);
  EXPECT_TRUE(GGUFFile::open_memory(ok.data(), ok.size(), "n16.gguf"));
  std::vector<uint8_t> deep = nested_file(17);
  auto r = GGUFFile::open_memory(deep.data(), deep.size(), "n17.gguf");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("nested deeper than 16"), std::string::npos) << r.error();
  std::vector<uint8_t> very = nested_file(100000);  // would overflow the stack if unbounded
  EXPECT_FALSE(GGUFFile::open_memory(very.data(), very.size(), "deep.gguf"));
}

TEST(GGUFHostileErrors, EmptyAndMissingFiles) {
  std::string empty = test::tmp_path("empty.gguf");
  test::write_bytes(empty, {});
  auto r = GGUFFile::open(empty);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("empty"), std::string::npos);
  auto m = GGUFFile::open(test::tmp_path("does-not-exist.gguf"));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().find("does-not-exist.gguf: cannot open"), std::string::npos) << m.error();
  auto d = GGUFFile::open(test::temp_dir());
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().find("not a regular file"), std::string::npos) << d.error();
  EXPECT_FALSE(GGUFFile::open_memory(nullptr, 0, "null.gguf"));
}

}  // namespace
}  // namespace kestrel
