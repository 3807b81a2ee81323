#pragma once
// Tensors of a model as views. Either the file is memory-mapped read-only (default: instant load,
// pages shared between processes) or each tensor is copied to 64-byte-aligned heap memory
// (--no-mmap; the place where later work may repack weights for SIMD). Split files
// (model-00001-of-00003.gguf with split.count / split.no / split.tensors.count) load as one model:
// pass the first part; metadata comes from it, tensors from all parts.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gguf/gguf_file.h"

namespace kestrel {

struct TensorView {
  std::string name;
  TensorType type = TensorType::F32;
  std::vector<int64_t> ne;     // ggml order: ne[0] is the row length
  const void* data = nullptr;
  uint64_t bytes = 0;
  int64_t n_rows() const;      // product of ne[1..]
  uint64_t row_bytes() const;  // bytes of one ne[0] row
};

enum class LoadMode { Mmap, Heap };

class WeightStore {
 public:
  static Result<std::unique_ptr<WeightStore>> open(const std::string& path, LoadMode mode = LoadMode::Mmap);
  ~WeightStore();

  const GGUFFile& file() const { return *files_.front(); }  // first part: metadata
  const std::vector<std::unique_ptr<GGUFFile>>& parts() const { return files_; }
  const std::vector<TensorView>& tensors() const { return views_; }
  const TensorView* find(std::string_view name) const;
  LoadMode mode() const { return mode_; }
  uint64_t total_bytes() const;  // sum of tensor bytes

 private:
  WeightStore() = default;
  LoadMode mode_ = LoadMode::Mmap;
  std::vector<std::unique_ptr<GGUFFile>> files_;
  std::vector<TensorView> views_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<void*> heap_blocks_;  // aligned allocations in Heap mode
};

}  // namespace kestrel
