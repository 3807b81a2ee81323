// repack_weights (model/repack_weights.h): which tensors are matrices, and pack or copy each one.
#include "model/repack_weights.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "kernels/repack.h"
#include "kernels/thread_pool.h"

namespace kestrel {
namespace {

constexpr uint64_t kSliceBytes = uint64_t{8} << 20;

// Copies src to dst over the pool in 4 MiB pieces (a 1B model's matrices are ~1 GiB in all).
void parallel_copy(kernels::ThreadPool& pool, void* dst, const void* src, uint64_t bytes) {
  constexpr uint64_t kPiece = uint64_t{4} << 20;
  const int64_t n = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
  pool.for_each_job(n, [&](int64_t j, int) {
    const uint64_t b = static_cast<uint64_t>(j) * kPiece, e = std::min(bytes, b + kPiece);
    std::memcpy(static_cast<char*>(dst) + b, static_cast<const char*>(src) + b, e - b);
  });
}

}  // namespace

Result<RepackStats> repack_weights(WeightStore& ws, const ModelWeights& w, int n_threads) {
  // Dense matrices read only through kernels::matmul_view (model/forward.cpp): these may take a layout.
  std::set<const TensorView*> dense;
  auto add = [&](const TensorView* t) {
    if (t != nullptr && t->ne.size() >= 2) dense.insert(t);
  };
  add(w.output);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {l.wqkv, l.wq, l.wk, l.wv, l.wo, l.ffn_gate, l.ffn_up, l.ffn_down, l.moe.router}) add(t);
  }
  // MoE expert tensors: any store tensor that holds an expert view's bytes (the 3-D merged tensors and
  // the per-expert 2-D ones alike). Copied in the ggml layout.
  std::vector<const void*> expert_data;
  for (const LayerWeights& l : w.layers)
    for (const auto* v : {&l.moe.gate, &l.moe.up, &l.moe.down})
      for (const TensorView& e : *v) expert_data.push_back(e.data);
  std::sort(expert_data.begin(), expert_data.end());
  // Matrices also read row by row (get_rows of the embeddings; a tied embedding is the output matrix
  // too): their ggml rows stay besides a packed copy.
  const std::set<const TensorView*> rows_read{w.tok_embd, w.pos_embd};

  // Plan first, then one heap block for all of it: per-tensor blocks would each round up to a whole
  // 2 MiB huge page (measured ~115 MB more RSS on a 1B model with 113 matrices).
  struct Item {
    TensorView* t;
    const kernels::RepackLayout* layout;  // nullptr: copy the ggml bytes
    size_t bytes, offset;
  };
  const kernels::Isa isa = kernels::active_isa();
  std::vector<Item> plan;
  size_t total = 0;
  for (TensorView& t : ws.mutable_tensors()) {
    const bool is_dense = dense.count(&t) != 0;
    bool is_expert = false;
    if (!is_dense && !expert_data.empty() && t.bytes > 0) {
      const char* b = static_cast<const char*>(t.data);
      auto it = std::lower_bound(expert_data.begin(), expert_data.end(), static_cast<const void*>(b));
      is_expert = it != expert_data.end() && static_cast<const char*>(*it) < b + t.bytes;
    }
    if (!is_dense && !is_expert) continue;
    if (t.packed != nullptr || t.data == nullptr || t.bytes == 0) continue;
    const kernels::RepackLayout* layout = is_dense ? kernels::repack_layout(isa, t.type) : nullptr;
    const size_t pbytes = layout && t.ne.size() == 2 ? layout->bytes(t.ne[0], t.ne[1]) : 0;
    if (pbytes == 0 && !ws.is_mapped(t.data)) continue;  // already a 2 MiB-aligned heap copy (--no-mmap)
    Item it{&t, pbytes > 0 ? layout : nullptr, pbytes > 0 ? pbytes : static_cast<size_t>(t.bytes), total};
    plan.push_back(it);
    total += (it.bytes + 4095) / 4096 * 4096;  // page-aligned pieces: a released range never shares a page
  }
  RepackStats stats;
  if (plan.empty()) return stats;
  Result<void*> block = ws.alloc_block(total);
  if (!block) return Status::error("repacking the weights: " + block.error());

  kernels::ThreadPool pool(n_threads);
  for (const Item& it : plan) {
    TensorView& t = *it.t;
    const void* src = t.data;
    void* dst = static_cast<char*>(*block) + it.offset;
    // In slices of ~8 MiB of source rows, each given back once packed, so the peak RSS exceeds one copy
    // of the weights by a slice, not by the largest matrix (a 178 MB tied embedding on Gemma 3 270M).
    const uint64_t row_bytes = t.row_bytes();
    if (it.layout != nullptr) {
      const int64_t n_out = t.ne[1], g = it.layout->row_group;
      const int64_t rows = std::max<int64_t>(1, static_cast<int64_t>(kSliceBytes / std::max<uint64_t>(1, row_bytes) / g)) * g;
      for (int64_t r0 = 0; r0 < n_out; r0 += rows) {
        const int64_t r1 = std::min(n_out, r0 + rows);
        kernels::repack_matrix(pool, *it.layout, src, t.ne[0], n_out, dst, r0, r1);
        ws.release_mapped(static_cast<const char*>(src) + static_cast<uint64_t>(r0) * row_bytes,
                          static_cast<uint64_t>(r1 - r0) * row_bytes);
      }
      t.packed = dst;
      t.packed_isa = static_cast<int>(isa);
      ++stats.n_packed;
      stats.packed_bytes += it.bytes;
      // Mmap mode: `data` stays the ggml rows (a tied embedding's get_rows reads a few of them per
      // token); their pages are given back below and fault in again when read. Heap mode (--no-mmap):
      // only matrices read row by row keep them (WeightStore::finish_heap_copy copies those later, or
      // the store copied everything at open); the others' bytes are freed or never copied.
      // A tied embedding's rows come from the layout then (kernels::get_rows_view), so it too is held once.
      if (ws.mode() == LoadMode::Heap && (rows_read.count(&t) == 0 || it.layout->unpack_row != nullptr)) {
        ws.free_block(src);  // a heap copy from open(); no-op for the file mapping
        t.data = nullptr;
      }
    } else {
      for (uint64_t b = 0; b < t.bytes; b += kSliceBytes) {
        const uint64_t n = std::min<uint64_t>(kSliceBytes, t.bytes - b);
        parallel_copy(pool, static_cast<char*>(dst) + b, static_cast<const char*>(src) + b, n);
        ws.release_mapped(static_cast<const char*>(src) + b, n);
      }
      t.data = dst;
      ++stats.n_copied;
      stats.copied_bytes += t.bytes;
    }
    ws.release_mapped(src, t.bytes);  // the pages the slices shared
  }
  return stats;
}

}  // namespace kestrel
