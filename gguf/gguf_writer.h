#pragma once
// GGUF v3 writer: metadata of every value type and tensors of any known type, data aligned to
// general.alignment (default 32). Files it writes load in llama.cpp. Used by tests to make synthetic
// models and by llm-quantize.
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/gguf_value.h"
#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

class GGUFWriter {
 public:
  // Setting a key twice replaces the earlier value (keys keep their first position).
  void set(const std::string& key, Value v);
  void set_string(const std::string& key, std::string v) { set(key, Value::string(std::move(v))); }
  void set_u32(const std::string& key, uint32_t v) { set(key, Value::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, Value::i32(v)); }
  void set_f32(const std::string& key, float v) { set(key, Value::f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, Value::boolean(v)); }
  // Tensor data is copied. ne is in ggml order (ne[0] = row length). bytes must equal the storage size.
  Status add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne,
                    const void* data, uint64_t bytes);
  Status write(const std::string& path) const;

 private:
  struct PendingTensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> data;
  };
  std::vector<KeyValue> kv_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace kestrel
