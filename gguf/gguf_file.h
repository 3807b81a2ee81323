#pragma once
// GGUF v2/v3 reader. open() validates the whole header and tensor table against the file size before
// anything is used: every count, length, offset and size is overflow-checked; duplicate keys or tensor
// names, unknown tensor types, misaligned or overlapping tensor data and overflowing dims are errors.
// Accepted like ggml accepts them: zero-sized dims (empty tensors), n_dims 0 (a scalar), tensor offsets
// in any order, and a missing zero padding after the last tensor. Arrays may nest up to 16 levels.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_value.h"
#include "gguf/status.h"
#include "gguf/tensor_type.h"

namespace kestrel {

struct TensorInfo {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;      // relative to the start of the data section
  uint64_t bytes = 0;       // storage size
  uint64_t n_elements() const;
};

class GGUFFile {
 public:
  // Parses and validates the header and tensor table. Reads the file through a read-only mmap.
  static Result<std::unique_ptr<GGUFFile>> open(const std::string& path);
  // Same parser over bytes already in memory (fuzzing, embedded files). The bytes are not copied: they
  // must outlive the GGUFFile. `name` stands in for the path in error messages.
  static Result<std::unique_ptr<GGUFFile>> open_memory(const uint8_t* data, size_t size, const std::string& name);
  ~GGUFFile();
  GGUFFile(const GGUFFile&) = delete;
  GGUFFile& operator=(const GGUFFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute offset of the data section
  const uint8_t* mapped() const { return map_; }          // whole file, read-only; nullptr once dropped
  // Unmaps the file (metadata and tensor table stay usable; tensor_data() then returns nullptr). For
  // callers that copied the tensors they need, e.g. WeightStore in heap mode.
  void drop_mapping();
  bool owns_mapping() const { return owns_map_ && map_ != nullptr; }  // mapped() came from mmap()

  const std::vector<KeyValue>& metadata() const { return kv_; }
  const Value* find(std::string_view key) const;  // nullptr when absent

  // Typed accessors: errors name the key and the expected/actual type. Integer getters accept any
  // integer value type that fits; get_float accepts float32/float64.
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;
  Result<uint32_t> get_u32(std::string_view key) const;
  Result<float> get_float(std::string_view key) const;
  Result<bool> get_bool(std::string_view key) const;
  Result<std::vector<std::string>> get_string_array(std::string_view key) const;
  Result<std::vector<float>> get_float_array(std::string_view key) const;
  Result<std::vector<int32_t>> get_i32_array(std::string_view key) const;
  // Same, with a default when the key is absent (a present key of the wrong type is still an error).
  Result<int64_t> get_int_or(std::string_view key, int64_t dflt) const;
  Result<float> get_float_or(std::string_view key, float dflt) const;
  Result<bool> get_bool_or(std::string_view key, bool dflt) const;
  Result<std::string> get_string_or(std::string_view key, std::string dflt) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  const uint8_t* tensor_data(const TensorInfo& t) const {
    return map_ ? map_ + data_offset_ + t.offset : nullptr;
  }

 private:
  GGUFFile() = default;
  friend class GGUFParser;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
  bool owns_map_ = false;  // true when map_ came from mmap() and must be unmapped
  std::vector<KeyValue> kv_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> kv_index_, tensor_index_;
  Status type_error(std::string_view key, const Value& v, std::string_view expected) const;
};

}  // namespace kestrel
