// Repacked-layout lookup, parallel packing and the matmul entry for packed weights (kernels/repack.h).
#include "kernels/repack.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/repack_isa.h"

namespace kestrel::kernels {

const RepackLayout* repack_layout(Isa isa, TensorType wt) {
  if (!isa_supported(isa)) return nullptr;
  RepackLayoutList list{nullptr, 0};
#if defined(__x86_64__) || defined(_M_X64)
  if (isa == Isa::Avx512) list = avx512_repack_layouts();
#endif
  for (size_t i = 0; i < list.count; ++i)
    if (list.items[i]->type == wt) return list.items[i];
  return nullptr;
}

void repack_matrix(ThreadPool& pool, const RepackLayout& layout, const void* src, int64_t n_in, int64_t n_out,
                   void* dst, int64_t r0, int64_t r1) {
  if (r1 < 0 || r1 > n_out) r1 = n_out;
  const int64_t g = layout.row_group;
  const int64_t g0 = r0 / g, n_groups = (r1 + g - 1) / g - g0;
  if (n_groups <= 0) return;
  // Jobs of a few groups each: enough of them to balance a shared machine, big enough to stream.
  const int64_t per_job = std::max<int64_t>(1, n_groups / (pool.size() * 8));
  const int64_t n_jobs = (n_groups + per_job - 1) / per_job;
  pool.for_each_job(n_jobs, [&](int64_t j, int) {
    const int64_t a = (g0 + j * per_job) * g, b = std::min(r1, (g0 + (j + 1) * per_job) * g);
    layout.pack(src, n_in, n_out, a, b, dst);
  });
}

namespace {

// The part of a packed matrix for matmul_run; aborts on a caller bug like matmul.
MatmulPart packed_part(const RepackLayout& layout, const void* packed, int64_t n_in, int64_t n_out, int64_t n_tokens,
                       float* y, int64_t ldy) {
  Status st = matmul_check(layout.type, n_in, n_out, n_tokens, ldy);
  if (st.is_ok() && layout.bytes(n_in, n_out) == 0)
    st = Status::error("matmul_packed: layout " + std::string(layout.name) + " has no packing for this shape");
  if (!st.is_ok()) {
    std::fprintf(stderr, "kestrel: %s\n", st.message().c_str());
    std::abort();
  }
  return MatmulPart{layout.type, layout.gemm, packed, 0, n_out, y, ldy};
}

}  // namespace

void matmul_packed(ThreadPool& pool, const RepackLayout& layout, const void* packed, int64_t n_in, int64_t n_out,
                   const float* x, int64_t n_tokens, float* y, int64_t ldy) {
  const MatmulPart part = packed_part(layout, packed, n_in, n_out, n_tokens, y, ldy);
  matmul_run(active_isa(), pool, &part, 1, n_in, x, n_tokens);
}

void get_rows_view(const TensorView& w, const int32_t* ids, int64_t n_ids, float* dst) {
  const int64_t n_in = w.ne[0];
  if (w.data != nullptr) return get_rows(w.type, w.data, n_in, ids, n_ids, dst);
  const RepackLayout* l = w.packed != nullptr && w.packed_isa == static_cast<int>(active_isa()) ? repack_layout(active_isa(), w.type) : nullptr;
  if (l == nullptr || l->unpack_row == nullptr) {
    std::fprintf(stderr, "kestrel: get_rows_view: '%s' has neither ggml rows nor a layout to unpack rows from\n", w.name.c_str());
    std::abort();
  }
  // One row's ggml bytes at a time (a few rows per token): the cost is one row's unpacking each.
  thread_local std::vector<uint8_t> row;
  row.resize(static_cast<size_t>(w.row_bytes()));
  const int32_t first = 0;
  for (int64_t i = 0; i < n_ids; ++i) {
    if (ids[i] < 0 || ids[i] >= w.ne[1]) {
      std::fprintf(stderr, "kestrel: get_rows_view: row id %d outside '%s' (%lld rows)\n", ids[i], w.name.c_str(),
                   static_cast<long long>(w.ne[1]));
      std::abort();
    }
    l->unpack_row(w.packed, n_in, w.ne[1], ids[i], row.data());
    get_rows(w.type, row.data(), n_in, &first, 1, dst + i * n_in);
  }
}

namespace {

// The part of a 2-D weight view: its packed copy when it has one for the active ISA, else its ggml rows.
MatmulPart view_part(const TensorView& w, int64_t n_tokens, float* y, int64_t ldy) {
  const int64_t n_in = w.ne[0], n_out = w.ne[1];
  if (w.packed != nullptr && w.packed_isa == static_cast<int>(active_isa())) {
    if (const RepackLayout* l = repack_layout(active_isa(), w.type)) return packed_part(*l, w.packed, n_in, n_out, n_tokens, y, ldy);
  }
  if (w.data == nullptr) {  // repacked with --no-mmap, which drops the ggml rows (gguf/weight_store.h)
    std::fprintf(stderr, "kestrel: matmul_view: '%s' was repacked for another ISA and has no ggml rows\n",
                 w.name.c_str());
    std::abort();
  }
  return matmul_part(active_isa(), w.type, w.data, n_in, n_out, n_tokens, y, ldy);
}

}  // namespace

void matmul_view(ThreadPool& pool, const TensorView& w, const float* x, int64_t n_tokens, float* y, int64_t ldy) {
  const ViewOutput out{&w, y, ldy};
  matmul_views(pool, &out, 1, x, n_tokens);
}

void matmul_views(ThreadPool& pool, const ViewOutput* outs, int n, const float* x, int64_t n_tokens) {
  if (n < 1 || n > kMaxMatmulParts) {
    std::fprintf(stderr, "kestrel: matmul_views: %d matrices (1..%d)\n", n, kMaxMatmulParts);
    std::abort();
  }
  MatmulPart parts[kMaxMatmulParts];
  for (int i = 0; i < n; ++i) {
    if (outs[i].w->ne[0] != outs[0].w->ne[0]) {
      std::fprintf(stderr, "kestrel: matmul_views: '%s' takes %lld inputs, '%s' %lld\n", outs[i].w->name.c_str(),
                   static_cast<long long>(outs[i].w->ne[0]), outs[0].w->name.c_str(), static_cast<long long>(outs[0].w->ne[0]));
      std::abort();
    }
    parts[i] = view_part(*outs[i].w, n_tokens, outs[i].y, outs[i].ldy);
  }
  matmul_run(active_isa(), pool, parts, n, outs[0].w->ne[0], x, n_tokens);
}

}  // namespace kestrel::kernels
