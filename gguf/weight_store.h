#pragma once
// Tensors of a model as views. Either the file is memory-mapped read-only (default: instant load,
// pages shared between processes) or each tensor is copied to 64-byte-aligned heap memory
// (--no-mmap). Either way a matrix may later get a heap copy of its own (alloc_block) in a kernel's
// repacked layout (kernels/repack.h, model/repack_weights.cpp), recorded in its view's `packed`. Split files
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
  // A kernel-private copy of this matrix in the repacked layout of one ISA (kernels/repack.h), held in
  // the store's heap blocks; nullptr when matmuls read `data` in the file's ggml layout. With the file
  // mapped, `data` stays valid either way; in Heap mode (--no-mmap) the repacking pass keeps the ggml
  // rows only of matrices that are also read row by row (a tied embedding's get_rows) and sets `data`
  // of the others to nullptr, so the weights are not held twice.
  const void* packed = nullptr;
  int packed_isa = -1;  // the kernels::Isa that layout belongs to
  int64_t n_rows() const;      // product of ne[1..]
  uint64_t row_bytes() const;  // bytes of one ne[0] row
};

enum class LoadMode { Mmap, Heap };

class WeightStore {
 public:
  // defer_heap_copy (Heap mode): the views keep reading the file mapping until finish_heap_copy(), so
  // a load-time pass (repacking) can first give matrices copies of their own and their file bytes are
  // never copied to the heap as well (one copy of the weights in memory, not two).
  static Result<std::unique_ptr<WeightStore>> open(const std::string& path, LoadMode mode = LoadMode::Mmap,
                                                   bool defer_heap_copy = false);
  ~WeightStore();

  const GGUFFile& file() const { return *files_.front(); }  // first part: metadata
  const std::vector<std::unique_ptr<GGUFFile>>& parts() const { return files_; }
  const std::vector<TensorView>& tensors() const { return views_; }
  const TensorView* find(std::string_view name) const;
  LoadMode mode() const { return mode_; }
  uint64_t total_bytes() const;  // sum of tensor bytes

  // For the load-time repacking pass (model/repack_weights.cpp), which runs before the model is shared.
  std::vector<TensorView>& mutable_tensors() { return views_; }
  // A heap block owned by the store: 64-byte aligned; blocks of 2 MiB or more are 2 MiB-aligned and
  // advised MADV_HUGEPAGE (decode streams every weight per token; 4 KiB pages cost it TLB misses).
  Result<void*> alloc_block(size_t bytes);
  // Frees a block from alloc_block (or a Heap-mode tensor copy) early; unknown pointers are ignored.
  void free_block(const void* p);
  // While the file is mapped: gives back the mapped file pages that lie wholly inside [p, p + bytes)
  // (madvise MADV_DONTNEED), so a tensor that now lives in a heap copy is not resident twice. Pages
  // shared with a neighbouring tensor stay. The mapping stays valid: a later read faults the page in again.
  void release_mapped(const void* p, uint64_t bytes) const;
  // Whether p lies inside one of the parts' file mappings (false once they are dropped).
  bool is_mapped(const void* p) const;
  // Heap mode: copies every tensor that still reads the file mapping to a heap block (views whose data
  // a load-time pass set to nullptr stay so) and drops the mappings. No-op in Mmap mode or when done.
  Status finish_heap_copy();

 private:
  WeightStore() = default;
  LoadMode mode_ = LoadMode::Mmap;
  std::vector<std::unique_ptr<GGUFFile>> files_;
  std::vector<TensorView> views_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<void*> heap_blocks_;  // aligned allocations in Heap mode
};

}  // namespace kestrel
