// llama.cpp loads what GGUFWriter writes: stories260K re-written (all metadata and tensors) gives the
// same logits in llref as the original, also with alignment 64 and as a 3-part split set.
#include <gtest/gtest.h>

#include <filesystem>

#include "gguf/split_path.h"
#include "gguf/weight_store.h"
#include "tests/gguf/gguf_test_util.h"

namespace kestrel {
namespace {
namespace fs = std::filesystem;

std::string stories_f32() { return test::shared_dir() + "/models/stories260K-f32.gguf"; }

// Copies every key (in order) and every tensor of `src` into a writer.
void copy_model(const GGUFFile& src, GGUFWriter& w, size_t first_tensor = 0, size_t end_tensor = SIZE_MAX) {
  for (const KeyValue& kv : src.metadata()) w.set(kv.key, kv.value);
  end_tensor = std::min(end_tensor, src.tensors().size());
  for (size_t i = first_tensor; i < end_tensor; ++i) {
    const TensorInfo& t = src.tensors()[i];
    Status st = w.add_tensor(t.name, t.type, t.ne, src.tensor_data(t), t.bytes);
    ASSERT_TRUE(st.is_ok()) << st.message();
  }
}

// llref's logits output (argmax and top-10 per step, generated ids, text) for a model file.
std::string llref_logits(const std::string& model, const std::string& dump) {
  std::string cmd = test::llref_path() + " logits '" + model +
                    "' 'Once upon a time' -n 4 -t 1 -fa off -ctk f32 -ctv f32 --dump '" + dump + "' 2>/dev/null";
  std::string out;
  int rc = test::run_command(cmd, &out);
  EXPECT_EQ(rc, 0) << cmd;
  EXPECT_NE(out.find("\"generated\""), std::string::npos) << out;
  return out;
}

void expect_same_logits_as_original(const std::string& rewritten, const std::string& tag) {
  std::string d0 = test::tmp_path("orig-" + tag + ".f32"), d1 = test::tmp_path("new-" + tag + ".f32");
  std::string a = llref_logits(stories_f32(), d0);
  std::string b = llref_logits(rewritten, d1);
  EXPECT_EQ(a, b) << tag;
  std::vector<uint8_t> la = test::read_bytes(d0), lb = test::read_bytes(d1);
  EXPECT_GT(la.size(), 0u);
  EXPECT_EQ(la, lb) << tag << ": raw logits differ";
}

TEST(LlamaCompat, RewrittenFileIsByteIdenticalAndLoads) {
  KESTREL_REQUIRE_SHARED();
  auto src = GGUFFile::open(stories_f32());
  ASSERT_TRUE(src) << src.error();
  GGUFWriter w;
  copy_model(**src, w);
  std::string out = test::tmp_path("stories-rewritten.gguf");
  ASSERT_TRUE(w.write(out).is_ok());
  // Same layout rules as gguf-py: the rewrite reproduces the original byte for byte.
  EXPECT_TRUE(test::read_bytes(out) == test::read_bytes(stories_f32()));
  KESTREL_REQUIRE_LLREF();
  expect_same_logits_as_original(out, "rewrite");
}

TEST(LlamaCompat, Alignment64Loads) {
  KESTREL_REQUIRE_SHARED();
  KESTREL_REQUIRE_LLREF();
  auto src = GGUFFile::open(stories_f32());
  ASSERT_TRUE(src) << src.error();
  GGUFWriter w;
  copy_model(**src, w);
  w.set_u32("general.alignment", 64);
  std::string out = test::tmp_path("stories-align64.gguf");
  ASSERT_TRUE(w.write(out).is_ok());
  auto back = GGUFFile::open(out);
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ((*back)->alignment(), 64u);
  expect_same_logits_as_original(out, "align64");
}

TEST(LlamaCompat, SplitSetLoadsInLlamaCppAndKestrel) {
  KESTREL_REQUIRE_SHARED();
  auto src = GGUFFile::open(stories_f32());
  ASSERT_TRUE(src) << src.error();
  const size_t n = (*src)->tensors().size();
  const uint32_t count = 3;
  const std::string prefix = test::tmp_path("stories-split");
  for (uint32_t part = 0; part < count; ++part) {
    GGUFWriter w;
    if (part == 0) {
      copy_model(**src, w, 0, n / count);
    } else {
      for (size_t i = part * n / count; i < (part + 1) * n / count; ++i) {
        const TensorInfo& t = (*src)->tensors()[i];
        ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, (*src)->tensor_data(t), t.bytes).is_ok());
      }
    }
    w.set(kSplitNoKey, Value::of(ValueType::UINT16, part));
    w.set(kSplitCountKey, Value::of(ValueType::UINT16, count));
    w.set(kSplitTensorsCountKey, Value::i32(static_cast<int32_t>(n)));
    ASSERT_TRUE(w.write(split_path(prefix, part + 1, count)).is_ok());
  }
  const std::string first = split_path(prefix, 1, count);
  auto ws = WeightStore::open(first);
  ASSERT_TRUE(ws) << ws.error();
  EXPECT_EQ((*ws)->tensors().size(), n);
  KESTREL_REQUIRE_LLREF();
  expect_same_logits_as_original(first, "split");
}

}  // namespace
}  // namespace kestrel
