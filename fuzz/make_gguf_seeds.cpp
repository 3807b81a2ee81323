// Writes small valid GGUF files (one per interesting shape) into a directory: the seed corpus for
// fuzz_gguf. Usage: make_gguf_seeds DIR
#include <cstdio>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"

using namespace kestrel;

namespace {

Status add(GGUFWriter& w, const std::string& name, TensorType type, std::vector<int64_t> ne) {
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);
  std::vector<uint8_t> data(bytes_for(type, n).value_or(0));
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
  return w.add_tensor(name, type, std::move(ne), data.data(), data.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_seeds DIR\n");
    return 1;
  }
  const std::string dir = argv[1];
  std::vector<std::pair<std::string, GGUFWriter>> seeds;

  GGUFWriter model;  // a tiny llama-like model
  model.set_string("general.architecture", "llama");
  model.set_u32("llama.block_count", 1);
  model.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  model.set("tokenizer.ggml.tokens", Value::string_array({"<unk>", "<s>", "</s>", "a"}));
  model.set("tokenizer.ggml.scores", Value::f32_array({0, 0, 0, -1}));
  model.set("tokenizer.ggml.token_type", Value::i32_array({2, 3, 3, 1}));
  Status st;
  st = add(model, "token_embd.weight", TensorType::Q8_0, {32, 4});
  if (st) st = add(model, "output_norm.weight", TensorType::F32, {32});
  if (st) st = add(model, "blk.0.attn_q.weight", TensorType::Q4_0, {32, 2});
  if (!st) return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
  seeds.emplace_back("model", model);

  GGUFWriter values;  // every value type, nested arrays, alignment 64
  values.set_u32("general.alignment", 64);
  for (uint32_t t = 0; t <= 12; ++t)
    if (t != 8 && t != 9) values.set("v" + std::to_string(t), Value::of(static_cast<ValueType>(t), 0x8000000000000001ull));
  values.set_string("s", "unicode ▁日本");
  values.set("nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, -2}), Value::string_array({"", "x"})}));
  values.set("empty", Value::array(ValueType::FLOAT64, {}));
  if (!(st = add(values, "k", TensorType::Q4_K, {256, 1}))) return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
  if (!(st = add(values, "b", TensorType::BF16, {3, 1, 1, 2}))) return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
  seeds.emplace_back("values", values);

  GGUFWriter split;  // a split part with the split keys
  split.set(std::string("split.no"), Value::of(ValueType::UINT16, 0));
  split.set(std::string("split.count"), Value::of(ValueType::UINT16, 2));
  split.set(std::string("split.tensors.count"), Value::i32(2));
  if (!(st = add(split, "x", TensorType::F16, {2, 2}))) return std::fprintf(stderr, "%s\n", st.message().c_str()), 1;
  seeds.emplace_back("split", split);

  seeds.emplace_back("empty", GGUFWriter());

  for (auto& [name, w] : seeds) {
    std::string path = dir + "/seed-" + name + ".gguf";
    if (Status s = w.write(path); !s) return std::fprintf(stderr, "%s\n", s.message().c_str()), 1;
  }
  std::printf("wrote %zu seeds to %s\n", seeds.size(), dir.c_str());
  return 0;
}
