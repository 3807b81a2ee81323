#pragma once
// Load-time weight repacking: a matrix is copied once, at load, into a kernel-private layout of the
// active ISA (rows interleaved, scales apart from quants, full aligned vectors) that its matmul kernels
// read for any number of tokens, decode and prompt alike. The layouts are described in docs/KERNELS.md
// ("Repacked layouts"); each one has a portable definition (pack + a scalar reference gemm, e.g.
// kernels/repack_q32.h) that tests compare the SIMD kernels against.
//
// Who does what:
//   - this table: per (ISA, weight type) at most one RepackLayout; repack_layout() finds it. An ISA's
//     entries are listed in one place, kernels/<isa>/repack_layouts_<isa>.cpp (one line per type), so
//     adding a type is one file with its layout plus one line there.
//   - model/repack_weights.cpp: at load, packs every matrix that has a layout into a heap block of the
//     WeightStore (TensorView::packed) and copies the other matrices onto huge pages; --no-repack skips it.
//   - matmul_view() / matmul_views(): the entry points the model code calls; they take the packed copy when a view has
//     one for the active ISA, else the ggml-layout matmul.
#include <cstddef>
#include <cstdint>

#include "gguf/status.h"
#include "gguf/tensor_type.h"
#include "gguf/weight_store.h"
#include "kernels/isa.h"
#include "kernels/matmul_isa.h"
#include "kernels/thread_pool.h"

namespace kestrel::kernels {

struct RepackLayout {
  TensorType type;   // the weight type it packs (ggml rows of n_in values)
  const char* name;  // e.g. "q8_0x16" (reports, docs)
  // Packed bytes of an [n_in, n_out] matrix; 0 = no layout for this shape (the caller keeps the ggml
  // layout). Shapes the type itself cannot hold (n_in not a multiple of its block) also give 0.
  size_t (*bytes)(int64_t n_in, int64_t n_out);
  // Rows are packed in groups of row_group (the interleave); pack() ranges start at a multiple of it.
  int64_t row_group;
  // Packs output rows [r0, r1) of src (ggml rows, row stride bytes_for(type, n_in)) into dst, the whole
  // packed matrix (bytes(n_in, n_out) bytes, 64-byte aligned). r0 is a multiple of row_group; r1 is a
  // multiple of it or n_out. Disjoint ranges touch disjoint bytes, so threads may pack ranges at once.
  // Rows of the last group past n_out are padded so that they contribute nothing.
  void (*pack)(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst);
  // The tile kernel over the packed matrix: GemmArgs as in matmul_isa.h, except that w is the packed
  // matrix, w_row_bytes is 0 and row_begin is a multiple of 32. Activations are those of the weight
  // type (matmul_isa.h), n_tokens any >= 1.
  GemmFn gemm;
  // The ggml bytes of output row `row` (bytes_for(type, n_in) of them) to out: what get_rows reads of
  // a matrix whose ggml rows were dropped (a tied embedding with --no-mmap). nullptr: none.
  void (*unpack_row)(const void* packed, int64_t n_in, int64_t n_out, int64_t row, void* out) = nullptr;
};

// get_rows (kernels/matmul.h) of a weight view: from its ggml rows, or, when those were dropped, row by
// row from its packed layout (RepackLayout::unpack_row). Aborts when neither is there.
void get_rows_view(const TensorView& w, const int32_t* ids, int64_t n_ids, float* dst);

// The layout of `wt` on `isa`, or nullptr (the type keeps the ggml layout there). Only ISAs that
// isa_supported() answers yes for have entries.
const RepackLayout* repack_layout(Isa isa, TensorType wt);

// Packs rows [r0, r1) (default: all) of the [n_in, n_out] matrix src into dst, the whole packed matrix
// (layout.bytes(n_in, n_out) bytes, 64-byte aligned), splitting row groups over the pool. r0 is a
// multiple of layout.row_group; r1 is one too, or n_out.
void repack_matrix(ThreadPool& pool, const RepackLayout& layout, const void* src, int64_t n_in, int64_t n_out,
                   void* dst, int64_t r0 = 0, int64_t r1 = -1);

// y = W x with W packed in `layout` (shapes and activations as kernels::matmul; aborts on a caller bug
// like matmul). Same splitting over the pool as matmul.
void matmul_packed(ThreadPool& pool, const RepackLayout& layout, const void* packed, int64_t n_in, int64_t n_out,
                   const float* x, int64_t n_tokens, float* y, int64_t ldy);

// y[n_tokens][ldy] = W x for a 2-D weight view [n_in = ne[0], n_out = ne[1]]: its packed copy when it has
// one for the active ISA, else kernels::matmul on its ggml data (aborts when it has neither: a matrix
// repacked in Heap mode for another ISA than the active one).
void matmul_view(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy);

// One output of matmul_views: y[n_tokens][ldy] = w x.
struct ViewOutput {
  const TensorView* w;
  float* y;
  int64_t ldy;
};
// matmul_view of 1..kMaxMatmulParts weight views of the same input (equal ne[0]) in one pool dispatch
// (matmul_run): the same outputs, one wait for the slowest thread instead of one per matrix.
void matmul_views(ThreadPool& pool, const ViewOutput* outs, int n, const float* x, int64_t n_tokens);

}  // namespace kestrel::kernels
