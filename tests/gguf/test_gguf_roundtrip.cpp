// GGUFWriter -> GGUFFile round trips: every metadata value type (nested and empty arrays, empty and
// unicode strings, extreme integers), every known tensor type, alignments 1/32/64/256, typed accessors
// and their error messages, and the writer's own input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gguf/gguf_format.h"
#include "gguf/value_format.h"
#include "tests/gguf/gguf_test_util.h"

namespace kestrel {
namespace {

using test::read_bytes;
using test::tmp_path;

std::unique_ptr<GGUFFile> write_and_open(const GGUFWriter& w, const std::string& name) {
  std::string path = tmp_path(name);
  Status st = w.write(path);
  EXPECT_TRUE(st.is_ok()) << st.message();
  auto f = GGUFFile::open(path);
  EXPECT_TRUE(f.is_ok()) << f.error();
  return f.is_ok() ? std::move(*f) : nullptr;
}

std::vector<KeyValue> all_value_kinds() {
  const uint64_t u64max = std::numeric_limits<uint64_t>::max();
  std::vector<KeyValue> kv = {
      {"v.u8", Value::of(ValueType::UINT8, 255)},
      {"v.i8", Value::of(ValueType::INT8, static_cast<uint64_t>(-128))},
      {"v.u16", Value::of(ValueType::UINT16, 65535)},
      {"v.i16", Value::of(ValueType::INT16, static_cast<uint64_t>(-32768))},
      {"v.u32", Value::u32(4294967295u)},
      {"v.i32", Value::i32(std::numeric_limits<int32_t>::min())},
      {"v.f32", Value::f32(-1.5e-7f)},
      {"v.f32.inf", Value::f32(std::numeric_limits<float>::infinity())},
      {"v.f32.nan", Value::f32(std::nanf(""))},
      {"v.bool.t", Value::boolean(true)},
      {"v.bool.f", Value::boolean(false)},
      {"v.str", Value::string("hello")},
      {"v.str.empty", Value::string("")},
      {"v.str.unicode", Value::string("Größe ▁日本語 🦅 \xE2\x80\x8B")},
      {"v.str.nul", Value::string(std::string("a\0b", 3))},
      {"v.u64", Value::of(ValueType::UINT64, u64max)},
      {"v.i64", Value::of(ValueType::INT64, static_cast<uint64_t>(std::numeric_limits<int64_t>::min()))},
      {"v.f64", Value::of(ValueType::FLOAT64, 0x400921FB54442D18ull)},  // pi
      {"a.str", Value::string_array({"<unk>", "", "▁the", "\n"})},
      {"a.str.empty", Value::array(ValueType::STRING, {})},
      {"a.f32", Value::f32_array({0.f, -1.f, 3.25f})},
      {"a.i32", Value::i32_array({-1, 0, 2147483647})},
      {"a.u8", Value::array(ValueType::UINT8, {Value::of(ValueType::UINT8, 0), Value::of(ValueType::UINT8, 200)})},
      {"a.bool", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)})},
      {"a.u64", Value::array(ValueType::UINT64, {Value::of(ValueType::UINT64, u64max)})},
      {"a.f64", Value::array(ValueType::FLOAT64, {Value::of(ValueType::FLOAT64, 0x3FF0000000000000ull)})},
      {"a.nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, 2, 3}), Value::i32_array({}),
                                                   Value::string_array({"x"})})},
      {"a.nested.deep",
       Value::array(ValueType::ARRAY, {Value::array(ValueType::ARRAY, {Value::string_array({"deep", ""})})})},
      {"a.nested.empty", Value::array(ValueType::ARRAY, {})},
      {"", Value::string("empty key is legal in GGUF")},
      {"key.ünïcødé", Value::u32(7)},
  };
  // The nested array above mixes element types in its items; GGUF allows that (each inner array has its
  // own element type), the outer element type is just "array".
  return kv;
}

TEST(GGUFRoundTrip, EveryMetadataType) {
  GGUFWriter w;
  std::vector<KeyValue> kv = all_value_kinds();
  for (const KeyValue& e : kv) w.set(e.key, e.value);
  auto f = write_and_open(w, "meta.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  ASSERT_EQ(f->metadata().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].key, kv[i].key);  // order preserved
    EXPECT_TRUE(f->metadata()[i].value == kv[i].value) << kv[i].key << " = " << format_value(f->metadata()[i].value);
    const Value* v = f->find(kv[i].key);
    ASSERT_NE(v, nullptr) << kv[i].key;
  }
  EXPECT_EQ(f->find("v.str.nul")->str.size(), 3u);
  EXPECT_TRUE(f->tensors().empty());
  EXPECT_EQ(f->find("absent"), nullptr);
}

TEST(GGUFRoundTrip, SetReplacesKeepingPosition) {
  GGUFWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  auto f = write_and_open(w, "replace.gguf");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->metadata().size(), 2u);
  EXPECT_EQ(f->metadata()[0].key, "a");
  EXPECT_EQ(*f->get_string("a"), "now a string");
}

TEST(GGUFRoundTrip, TypedAccessors) {
  GGUFWriter w;
  for (const KeyValue& e : all_value_kinds()) w.set(e.key, e.value);
  auto f = write_and_open(w, "typed.gguf");
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->get_int("v.u8"), 255);
  EXPECT_EQ(*f->get_int("v.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(*f->get_u32("v.u32"), 4294967295u);
  EXPECT_EQ(*f->get_u32("v.u16"), 65535u);
  EXPECT_FLOAT_EQ(*f->get_float("v.f32"), -1.5e-7f);
  EXPECT_FLOAT_EQ(*f->get_float("v.f64"), 3.14159265f);
  EXPECT_TRUE(*f->get_bool("v.bool.t"));
  EXPECT_EQ(*f->get_string("v.str.unicode"), "Größe ▁日本語 🦅 \xE2\x80\x8B");
  EXPECT_EQ(*f->get_string_array("a.str"), (std::vector<std::string>{"<unk>", "", "▁the", "\n"}));
  EXPECT_TRUE(f->get_string_array("a.str.empty")->empty());
  EXPECT_EQ(*f->get_float_array("a.f32"), (std::vector<float>{0.f, -1.f, 3.25f}));
  EXPECT_EQ(*f->get_i32_array("a.i32"), (std::vector<int32_t>{-1, 0, 2147483647}));
  EXPECT_EQ(*f->get_i32_array("a.u8"), (std::vector<int32_t>{0, 200}));
  EXPECT_EQ(*f->get_int_or("absent", 42), 42);
  EXPECT_EQ(*f->get_float_or("absent", 0.5f), 0.5f);
  EXPECT_EQ(*f->get_bool_or("absent", true), true);
  EXPECT_EQ(*f->get_string_or("absent", "d"), "d");

  // Errors name the file, the key, and expected vs actual type.
  auto e1 = f->get_u32("v.str");
  ASSERT_FALSE(e1);
  EXPECT_NE(e1.error().find("typed.gguf"), std::string::npos) << e1.error();
  EXPECT_NE(e1.error().find("'v.str'"), std::string::npos) << e1.error();
  EXPECT_NE(e1.error().find("has type string, expected uint32"), std::string::npos) << e1.error();
  auto e2 = f->get_string_array("a.f32");
  ASSERT_FALSE(e2);
  EXPECT_NE(e2.error().find("array of float32, expected array of string"), std::string::npos) << e2.error();
  auto e3 = f->get_u32("v.i32");  // negative does not fit
  ASSERT_FALSE(e3);
  EXPECT_NE(e3.error().find("does not fit uint32"), std::string::npos) << e3.error();
  auto e4 = f->get_int("v.u64");  // 2^64-1 does not fit int64
  ASSERT_FALSE(e4);
  EXPECT_NE(e4.error().find("does not fit int64"), std::string::npos) << e4.error();
  auto e5 = f->get_float("absent");
  ASSERT_FALSE(e5);
  EXPECT_NE(e5.error().find("'absent' not found"), std::string::npos) << e5.error();
  auto e6 = f->get_int_or("v.str", 1);  // present with the wrong type is still an error
  ASSERT_FALSE(e6);
  EXPECT_NE(e6.error().find("expected an integer"), std::string::npos) << e6.error();
  EXPECT_FALSE(f->get_bool("v.u8"));
  EXPECT_FALSE(f->get_string("v.bool.t"));
  EXPECT_FALSE(f->get_i32_array("a.str"));
  EXPECT_FALSE(f->get_float_array("v.f32"));
}

// Every known tensor type with raw bytes, at several alignments; data must be aligned and identical.
class TensorTypesAtAlignment : public ::testing::TestWithParam<uint32_t> {};

TEST_P(TensorTypesAtAlignment, EveryTypeRoundTrips) {
  const uint32_t alignment = GetParam();
  GGUFWriter w;
  if (alignment != 32) w.set_u32("general.alignment", alignment);
  w.set_string("general.name", "types");
  size_t n_types = 0;
  const TypeLayout* layouts = all_type_layouts(&n_types);
  std::vector<std::vector<int64_t>> shapes;
  for (size_t i = 0; i < n_types; ++i) {
    const TypeLayout& l = layouts[i];
    // Two or three dims, odd row counts so sizes are not multiples of the alignment.
    std::vector<int64_t> ne = {static_cast<int64_t>(l.block_size) * 2, 3};
    if (i % 3 == 0) ne.push_back(2);
    shapes.push_back(ne);
    test::add_pattern_tensor(w, "tensor." + std::string(l.name), l.type, ne, static_cast<uint32_t>(i));
  }
  std::string path = tmp_path("types-" + std::to_string(alignment) + ".gguf");
  ASSERT_TRUE(w.write(path).is_ok());
  auto f = GGUFFile::open(path);
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ((*f)->alignment(), alignment);
  EXPECT_EQ((*f)->data_offset() % alignment, 0u);
  ASSERT_EQ((*f)->tensors().size(), n_types);
  uint64_t expected_offset = 0;
  for (size_t i = 0; i < n_types; ++i) {
    const TensorInfo& t = (*f)->tensors()[i];
    EXPECT_EQ(t.name, "tensor." + std::string(layouts[i].name));
    EXPECT_EQ(t.type, layouts[i].type);
    EXPECT_EQ(t.ne, shapes[i]);
    uint64_t n = t.n_elements();
    EXPECT_EQ(t.bytes, *bytes_for(t.type, n));
    EXPECT_EQ(t.offset, expected_offset) << "ggml expects consecutive padded offsets";
    EXPECT_EQ(t.offset % alignment, 0u);
    std::vector<uint8_t> want = test::pattern_bytes(t.bytes, static_cast<uint32_t>(i));
    EXPECT_EQ(std::memcmp((*f)->tensor_data(t), want.data(), t.bytes), 0) << t.name;
    expected_offset += *gguf_format::align_up(t.bytes, alignment);
    EXPECT_EQ((*f)->find_tensor(t.name), &t);
  }
  // ggml reads the whole padded data section: the last tensor is padded too.
  EXPECT_EQ((*f)->file_size(), (*f)->data_offset() + expected_offset);
  EXPECT_EQ((*f)->find_tensor("nope"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Alignments, TensorTypesAtAlignment, ::testing::Values(1u, 32u, 64u, 256u));

TEST(GGUFRoundTrip, EmptyTensorAndOneDim) {
  GGUFWriter w;
  ASSERT_TRUE(w.add_tensor("empty", TensorType::F32, {0, 4}, nullptr, 0).is_ok());
  test::add_pattern_tensor(w, "vec", TensorType::BF16, {5}, 9);
  auto f = write_and_open(w, "empty-tensor.gguf");
  ASSERT_TRUE(f);
  ASSERT_EQ(f->tensors().size(), 2u);
  EXPECT_EQ(f->tensors()[0].bytes, 0u);
  EXPECT_EQ(f->tensors()[0].n_elements(), 0u);
  EXPECT_EQ(f->tensors()[1].ne, (std::vector<int64_t>{5}));
}

TEST(GGUFWriter, RejectsBadInput) {
  GGUFWriter w;
  std::vector<uint8_t> data(1024);
  auto err = [](const Status& s) { return s.is_ok() ? std::string("<ok>") : s.message(); };
  EXPECT_NE(err(w.add_tensor("a", TensorType::F32, {4}, data.data(), 15)).find("need 16"), std::string::npos);
  EXPECT_NE(err(w.add_tensor("a", TensorType::Q4_0, {33}, data.data(), 18)).find("block size 32"), std::string::npos);
  EXPECT_NE(err(w.add_tensor("a", TensorType::F32, {1, 1, 1, 1, 1}, data.data(), 4)).find("dimensions"), std::string::npos);
  EXPECT_NE(err(w.add_tensor("a", TensorType::F32, {-1}, data.data(), 4)).find("negative"), std::string::npos);
  EXPECT_NE(err(w.add_tensor("a", static_cast<TensorType>(4), {32}, data.data(), 18)).find("unknown tensor type"),
            std::string::npos);
  EXPECT_NE(err(w.add_tensor("a", TensorType::F32, {1ll << 40, 1ll << 40}, data.data(), 4)).find("overflow"),
            std::string::npos);
  ASSERT_TRUE(w.add_tensor("a", TensorType::F32, {4}, data.data(), 16).is_ok());
  EXPECT_NE(err(w.add_tensor("a", TensorType::F32, {4}, data.data(), 16)).find("duplicate tensor 'a'"), std::string::npos);

  for (uint64_t bad : {0ull, 3ull, 48ull}) {
    GGUFWriter wa;
    wa.set("general.alignment", Value::of(ValueType::UINT32, bad));
    EXPECT_NE(err(wa.write(tmp_path("bad-align.gguf"))).find("power of two"), std::string::npos) << bad;
  }
  GGUFWriter wm;
  wm.set("mixed", Value::array(ValueType::INT32, {Value::i32(1), Value::string("x")}));
  EXPECT_NE(err(wm.write(tmp_path("mixed.gguf"))).find("holds an item of type string"), std::string::npos);
  GGUFWriter wp;
  EXPECT_NE(err(wp.write("/nonexistent-dir/x.gguf")).find("cannot create"), std::string::npos);
}

TEST(ValueFormat, AbbreviatesLongArrays) {
  std::vector<std::string> toks;
  for (int i = 0; i < 100; ++i) toks.push_back("t" + std::to_string(i));
  Value v = Value::string_array(toks);
  EXPECT_EQ(format_value(v, 3), "[ \"t0\", \"t1\", \"t2\", ... ] (100 items)");
  EXPECT_EQ(format_value(Value::string_array({"a", "b"}), 3), "[ \"a\", \"b\" ]");
  EXPECT_EQ(format_value(Value::string("a\"b\n")), "\"a\\\"b\\n\"");
  EXPECT_EQ(format_type(v), "array[string]");
  EXPECT_EQ(format_type(Value::array(ValueType::ARRAY, {Value::i32_array({1})})), "array[array[int32]]");
  EXPECT_EQ(format_value(Value::array(ValueType::ARRAY, {Value::i32_array({1, 2})})), "[ [ 1, 2 ] ]");
  EXPECT_EQ(format_value(Value::boolean(true)), "true");
  EXPECT_EQ(format_value(Value::f32(0.5f)), "0.5");
}

}  // namespace
}  // namespace kestrel
