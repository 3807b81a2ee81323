#pragma once
// Helpers shared by the GGUF tests: file bytes in/out, a small valid model written with GGUFWriter, and
// a walker that lists the position of every count/length/type/dim/offset field of a VALID file so
// the hostile-input tests can mutate each one.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "tests/common/test_paths.h"

namespace kestrel::test {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::string tmp_path(const std::string& name) { return temp_dir() + "/" + name; }

// Deterministic bytes for tensor data.
inline std::vector<uint8_t> pattern_bytes(size_t n, uint32_t seed) {
  std::vector<uint8_t> b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    b[i] = static_cast<uint8_t>(x);
  }
  return b;
}

// Adds a tensor of `type` and shape ne with pattern data; fails the test on error.
inline void add_pattern_tensor(GGUFWriter& w, const std::string& name, TensorType type, std::vector<int64_t> ne,
                               uint32_t seed) {
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);
  uint64_t bytes = bytes_for(type, n).value();
  std::vector<uint8_t> data = pattern_bytes(bytes, seed);
  Status st = w.add_tensor(name, type, std::move(ne), data.data(), bytes);
  ASSERT_TRUE(st.is_ok()) << st.message();
}

// A small valid model: a few keys of different types (incl. an array of strings and a nested array)
// and three tensors of different types. Used as the seed for hostile-input tests.
inline GGUFWriter small_model_writer() {
  GGUFWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set("tokenizer.ggml.tokens", Value::string_array({"<unk>", "a", "bc"}));
  w.set("test.nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}), Value::i32_array({})}));
  w.set("test.kb", Value::boolean(true));
  add_pattern_tensor(w, "t0", TensorType::F32, {8, 2}, 1);
  add_pattern_tensor(w, "t1", TensorType::Q8_0, {32, 2}, 2);
  add_pattern_tensor(w, "t2", TensorType::F16, {4}, 3);
  return w;
}

// One field of the binary layout.
struct Field {
  enum Kind { Count, StrLen, ValueType, ArrayElemType, ArrayCount, NDims, Dim, TensorTypeId, Offset, Version, U32Value };
  Kind kind;
  uint64_t pos;
  int width;  // 4 or 8
  std::string what;
};

// Walks a file this test suite wrote (assumed valid) and lists its fields. Independent of the parser
// under test on purpose: a tiny re-statement of the layout.
class FieldWalker {
 public:
  explicit FieldWalker(const std::vector<uint8_t>& b) : b_(b) {}
  std::vector<Field> walk() {
    pos_ = 4;
    field(Field::Version, 4, "version");
    uint64_t n_tensors = field(Field::Count, 8, "n_tensors");
    uint64_t n_kv = field(Field::Count, 8, "n_kv");
    for (uint64_t k = 0; k < n_kv; ++k) {
      string("key");
      uint32_t t = static_cast<uint32_t>(field(Field::ValueType, 4, "value type"));
      value(t);
    }
    for (uint64_t i = 0; i < n_tensors; ++i) {
      string("tensor name");
      uint64_t nd = field(Field::NDims, 4, "n_dims");
      for (uint64_t d = 0; d < nd; ++d) field(Field::Dim, 8, "dim");
      field(Field::TensorTypeId, 4, "tensor type");
      field(Field::Offset, 8, "tensor offset");
    }
    header_end_ = pos_;
    return fields_;
  }
  uint64_t header_end() const { return header_end_; }

 private:
  uint64_t get(int width) {
    uint64_t v = 0;
    std::memcpy(&v, b_.data() + pos_, static_cast<size_t>(width));
    pos_ += static_cast<uint64_t>(width);
    return v;
  }
  uint64_t field(Field::Kind k, int width, const std::string& what) {
    fields_.push_back(Field{k, pos_, width, what});
    return get(width);
  }
  void string(const std::string& what) { pos_ += field(Field::StrLen, 8, what + " length"); }
  void value(uint32_t t) {
    static const int kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t == 8) return string("string value");
    if (t == 9) {
      uint32_t et = static_cast<uint32_t>(field(Field::ArrayElemType, 4, "array element type"));
      uint64_t n = field(Field::ArrayCount, 8, "array count");
      for (uint64_t i = 0; i < n; ++i) value(et);
      return;
    }
    if (t == 4 || t == 5) { field(Field::U32Value, 4, "u32 value"); return; }
    pos_ += static_cast<uint64_t>(kSize[t]);
  }
  const std::vector<uint8_t>& b_;
  uint64_t pos_ = 0, header_end_ = 0;
  std::vector<Field> fields_;
};

inline void put_field(std::vector<uint8_t>& b, uint64_t pos, int width, uint64_t v) {
  std::memcpy(b.data() + pos, &v, static_cast<size_t>(width));
}

}  // namespace kestrel::test
