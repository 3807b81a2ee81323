// WeightStore: mmap and heap views hold the same bytes, heap blocks are 64-byte aligned and survive
// dropping the mapping, split sets load as the unsplit model, and broken split sets are clear errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/split_path.h"
#include "gguf/weight_store.h"
#include "tests/gguf/gguf_test_util.h"

namespace kestrel {
namespace {
namespace fs = std::filesystem;

struct Spec {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;
};

std::vector<Spec> model_specs() {
  return {{"token_embd.weight", TensorType::Q8_0, {64, 10}}, {"output_norm.weight", TensorType::F32, {64}},
          {"blk.0.attn_q.weight", TensorType::Q4_0, {64, 64}}, {"blk.0.ffn_up.weight", TensorType::F16, {64, 3}},
          {"blk.1.attn_q.weight", TensorType::Q4_K, {256, 2}}, {"blk.1.ffn_up.weight", TensorType::BF16, {5, 3}},
          {"output.weight", TensorType::Q6_K, {256, 3}}};
}

void common_metadata(GGUFWriter& w) {
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
}

std::string write_unsplit(const std::string& path) {
  GGUFWriter w;
  common_metadata(w);
  std::vector<Spec> specs = model_specs();
  for (size_t i = 0; i < specs.size(); ++i)
    test::add_pattern_tensor(w, specs[i].name, specs[i].type, specs[i].ne, static_cast<uint32_t>(i));
  EXPECT_TRUE(w.write(path).is_ok());
  return path;
}

// Writes the model as `count` parts the way gguf-split does: tensors distributed in order, split keys
// in every part, metadata only matters in the first. `tamper` may edit each part's writer.
template <class Tamper>
std::string write_split(const std::string& prefix, uint32_t count, Tamper tamper) {
  std::vector<Spec> specs = model_specs();
  size_t per_part = (specs.size() + count - 1) / count;
  for (uint32_t part = 0; part < count; ++part) {
    GGUFWriter w;
    if (part == 0) common_metadata(w);
    w.set(kSplitNoKey, Value::of(ValueType::UINT16, part));
    w.set(kSplitCountKey, Value::of(ValueType::UINT16, count));
    w.set(kSplitTensorsCountKey, Value::i32(static_cast<int32_t>(specs.size())));
    for (size_t i = part * per_part; i < std::min(specs.size(), (part + 1) * per_part); ++i)
      test::add_pattern_tensor(w, specs[i].name, specs[i].type, specs[i].ne, static_cast<uint32_t>(i));
    tamper(part, w);
    EXPECT_TRUE(w.write(split_path(prefix, part + 1, count)).is_ok());
  }
  return split_path(prefix, 1, count);
}
std::string write_split(const std::string& prefix, uint32_t count) {
  return write_split(prefix, count, [](uint32_t, GGUFWriter&) {});
}

void expect_same_tensors(const WeightStore& a, const WeightStore& b) {
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const TensorView& va : a.tensors()) {
    const TensorView* vb = b.find(va.name);
    ASSERT_NE(vb, nullptr) << va.name;
    EXPECT_EQ(va.type, vb->type) << va.name;
    EXPECT_EQ(va.ne, vb->ne) << va.name;
    ASSERT_EQ(va.bytes, vb->bytes) << va.name;
    EXPECT_EQ(std::memcmp(va.data, vb->data, va.bytes), 0) << va.name;
  }
  EXPECT_EQ(a.total_bytes(), b.total_bytes());
}

TEST(WeightStore, MmapAndHeapHoldTheSameBytes) {
  std::string path = write_unsplit(test::tmp_path("ws.gguf"));
  auto m = WeightStore::open(path, LoadMode::Mmap);
  auto h = WeightStore::open(path, LoadMode::Heap);
  ASSERT_TRUE(m) << m.error();
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ((*m)->mode(), LoadMode::Mmap);
  EXPECT_EQ((*h)->mode(), LoadMode::Heap);
  expect_same_tensors(**m, **h);
  // Mmap views point into the mapping; heap views are 64-byte aligned copies and the mapping is gone.
  const GGUFFile& file = (*m)->file();
  for (const TensorView& v : (*m)->tensors()) {
    const uint8_t* p = static_cast<const uint8_t*>(v.data);
    EXPECT_GE(p, file.mapped());
    EXPECT_LE(p + v.bytes, file.mapped() + file.file_size());
  }
  for (const TensorView& v : (*h)->tensors())
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data) % 64, 0u) << v.name;
  EXPECT_EQ((*h)->file().mapped(), nullptr);
  EXPECT_EQ(*(*h)->file().get_u32("llama.block_count"), 2u);  // metadata outlives the mapping
  // Contents equal the pattern written.
  std::vector<Spec> specs = model_specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorView* v = (*h)->find(specs[i].name);
    ASSERT_NE(v, nullptr);
    std::vector<uint8_t> want = test::pattern_bytes(v->bytes, static_cast<uint32_t>(i));
    EXPECT_EQ(std::memcmp(v->data, want.data(), v->bytes), 0) << v->name;
  }
  EXPECT_EQ((*m)->find("nope"), nullptr);
}

TEST(WeightStore, ViewGeometry) {
  std::string path = write_unsplit(test::tmp_path("geom.gguf"));
  auto m = WeightStore::open(path);
  ASSERT_TRUE(m) << m.error();
  const TensorView* q = (*m)->find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->n_rows(), 64);
  EXPECT_EQ(q->row_bytes(), 36u);  // 64 q4_0 values = 2 blocks x 18 bytes
  EXPECT_EQ(q->row_bytes() * static_cast<uint64_t>(q->n_rows()), q->bytes);
  const TensorView* k = (*m)->find("output.weight");
  EXPECT_EQ(k->row_bytes(), 210u);
  EXPECT_EQ((*m)->find("output_norm.weight")->n_rows(), 1);
}

TEST(WeightStore, SplitSetLoadsAsTheUnsplitModel) {
  std::string whole = write_unsplit(test::tmp_path("whole.gguf"));
  std::string first = write_split(test::tmp_path("model"), 3);
  EXPECT_TRUE(fs::exists(test::tmp_path("model-00003-of-00003.gguf")));
  auto a = WeightStore::open(whole);
  ASSERT_TRUE(a) << a.error();
  for (LoadMode mode : {LoadMode::Mmap, LoadMode::Heap}) {
    auto b = WeightStore::open(first, mode);
    ASSERT_TRUE(b) << b.error();
    EXPECT_EQ((*b)->parts().size(), 3u);
    expect_same_tensors(**a, **b);
    EXPECT_EQ(*(*b)->file().get_string("general.architecture"), "llama");  // metadata from part 1
  }
}

TEST(WeightStore, SplitErrors) {
  auto expect_open_error = [](const std::string& path, const std::string& needle) {
    auto r = WeightStore::open(path);
    ASSERT_FALSE(r) << "expected: " << needle;
    EXPECT_NE(r.error().find(needle), std::string::npos) << r.error();
  };
  // Missing part.
  std::string first = write_split(test::tmp_path("miss"), 3);
  fs::remove(test::tmp_path("miss-00002-of-00003.gguf"));
  expect_open_error(first, "split part 2 of 3 is missing: " + test::tmp_path("miss-00002-of-00003.gguf"));
  // Opening a later part.
  write_split(test::tmp_path("later"), 3);
  expect_open_error(test::tmp_path("later-00002-of-00003.gguf"), "this is split part 2 of 3; open the first part");
  // A part with the wrong index.
  std::string bad_no = write_split(test::tmp_path("badno"), 3, [](uint32_t part, GGUFWriter& w) {
    if (part == 2) w.set(kSplitNoKey, Value::of(ValueType::UINT16, 1));
  });
  expect_open_error(bad_no, "metadata says split part 2 of 3, expected part 3 of 3");
  // The same tensor in two parts.
  std::string dup = write_split(test::tmp_path("dup"), 2, [](uint32_t part, GGUFWriter& w) {
    if (part == 1) test::add_pattern_tensor(w, "token_embd.weight", TensorType::F32, {4}, 1);
  });
  expect_open_error(dup, "tensor 'token_embd.weight' also appears in an earlier split part");
  // split.tensors.count disagrees with the parts.
  std::string count = write_split(test::tmp_path("cnt"), 2, [](uint32_t part, GGUFWriter& w) {
    if (part == 0) w.set(kSplitTensorsCountKey, Value::i32(99));
  });
  expect_open_error(count, "split.tensors.count is 99 but the parts hold 7 tensors");
  // A split file whose name does not follow the pattern.
  std::string renamed = test::tmp_path("renamed.gguf");
  fs::copy_file(test::tmp_path("cnt-00001-of-00002.gguf"), renamed, fs::copy_options::overwrite_existing);
  expect_open_error(renamed, "split.count is 2 but the file name does not follow <prefix>-00001-of-00002.gguf");
  // File name and metadata disagree on the count.
  std::string mismatch = test::tmp_path("mm-00001-of-00004.gguf");
  fs::copy_file(test::tmp_path("cnt-00001-of-00002.gguf"), mismatch, fs::copy_options::overwrite_existing);
  expect_open_error(mismatch, "file name says part 1 of 4 but its metadata says part 1 of 2");
  // Plain open errors pass through with the path.
  expect_open_error(test::tmp_path("absent.gguf"), "absent.gguf: cannot open");
}

TEST(SplitPath, ParseAndFormat) {
  EXPECT_EQ(split_path("/m/llama", 2, 3), "/m/llama-00002-of-00003.gguf");
  auto s = parse_split_path("/m/llama-7b-00002-of-00003.gguf");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->prefix, "/m/llama-7b");
  EXPECT_EQ(s->part, 2u);
  EXPECT_EQ(s->count, 3u);
  for (const char* bad : {"x.gguf", "-00001-of-00002.gguf", "m-00003-of-00002.gguf", "m-00000-of-00002.gguf",
                          "m-0001-of-00002.gguf", "m-00001-of-00002.bin", "m-0000a-of-00002.gguf"})
    EXPECT_FALSE(parse_split_path(bad)) << bad;
}

}  // namespace
}  // namespace kestrel
