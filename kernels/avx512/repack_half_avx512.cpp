// AVX-512 kernels over the repacked f16x4 / bf16x4 layouts (kernels/repack_half.h defines the bytes).
//
// Decode and small batches (half_dot_tiles: below 64 tokens, or 32 with AMX-BF16): the ggml-layout
// dot-product tile of 4 rows x up to 4 tokens with the same step policies (half_policies_avx512.h), so
// every output is the same f32 chain and the results equal matmul_avx512.cpp's ggml-layout kernels bit
// for bit (and llama.cpp's tinyBLAS order). What changes is the memory side: a group's 4 rows are one
// sequential stream of 256-byte block quartets, software-prefetched ahead (decode_stream_prefetch; the job
// runs on into the next group, so the prefetch does too). On ggml rows the same tile reads 4 streams per
// thread: 4096x14336 at 1 and 2 threads (bench_roofline, 2026-12-01 on AMD Zen 5) 75-78% of the plain
// read beside it for F16 and BF16 alike; one stream per thread reached 92-98%.
// (On the Intel Xeon a decode call reads 3 groups of the job side by side, groups i, i + n/3, i + 2n/3:
// 4096x14336 +20-27% over one stream, isa.cpp; those are distant, unlike ggml rows' 4 adjacent rows.)
// Larger batches: the job's rows are unpacked into ggml rows (thread-local, grow-only) and run through
// the ggml-layout prompt GEMMs (packed FMA / VDPBF16PS panels, AMX BF16 tiles), unchanged; the copy is
// a few percent of such a job's arithmetic.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/aligned_buffer.h"
#include "kernels/avx512/half_policies_avx512.h"
#include "kernels/decode_streams.h"
#include "kernels/repack_half.h"
#include "kernels/repack_isa.h"

namespace kestrel::kernels {
namespace {

constexpr int64_t kGroupBlockBytes = kHalfRepackRows * kHalfBlockBytes;  // one block of the group's 4 rows
// Bytes ahead in the group stream and the cache they go to: decode_stream_prefetch() (matmul_isa.h),
// per CPU vendor. On AMD Zen 5, bench_roofline F16 / BF16 4096x14336 (2026-12-01, 22:50 UTC), % of the
// read beside the call at t1 / t2, into L1: 8 KiB 88-90 / 93-96, 4 KiB 83-92 / 90-92, 16 KiB 86-90 /
// 88-91, 2 KiB 82-88 / 83-91.

// Rows [r0[g], r0[g] + rows[g]) of G groups (rows <= 4 each; G > 1 for one token only: 4 G T
// accumulators) x tokens [t0, t0 + T). Each group is its own sequential stream.
template <class P, int T, bool kL2, int G>
void group_tile(const GemmArgs& a, const char* const* grp, const int64_t* r0, const int* rows, int64_t t0, int64_t ahead) {
  constexpr int64_t kPerBlock = static_cast<int64_t>(kHalfBlockBytes) / P::kStepBytes;  // steps per 64 bytes
  static_assert(kPerBlock >= 1 && kPerBlock * P::kStepBytes == static_cast<int64_t>(kHalfBlockBytes));
  static_assert(G == 1 || T == 1);
  const char* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = static_cast<const char*>(a.x) + (t0 + t) * a.x_row_bytes;
  __m512 acc[G][4][T];
  for (int g = 0; g < G; ++g)
    for (int r = 0; r < 4; ++r)
      for (int t = 0; t < T; ++t) acc[g][r][t] = _mm512_setzero_ps();
  const int64_t steps = a.n_in / P::kStep;
  const int rem = static_cast<int>(a.n_in % P::kStep);
  // Step s of row r: block s / kPerBlock of the group, row r's 64 bytes in it, part s % kPerBlock.
  auto step_ptr = [&](int g, int64_t s, int r) {
    return grp[g] + (s / kPerBlock) * kGroupBlockBytes + r * static_cast<int64_t>(kHalfBlockBytes) + (s % kPerBlock) * P::kStepBytes;
  };
  auto madd_step = [&](int64_t s) {
    for (int g = 0; g < G; ++g) {
      typename P::W w[4];
      for (int r = 0; r < 4; ++r) w[r] = P::load_w(step_ptr(g, s, r), 0);
      for (int t = 0; t < T; ++t) {
        const typename P::X x = P::load_x(xr[t], s);
        for (int r = 0; r < 4; ++r) acc[g][r][t] = P::madd(acc[g][r][t], w[r], x);
      }
    }
  };
  int64_t s = 0;
  for (; s + kPerBlock <= steps; s += kPerBlock) {
    for (int g = 0; g < G; ++g) {
      const char* blk = grp[g] + (s / kPerBlock) * kGroupBlockBytes;
      for (int64_t l = 0; l < kGroupBlockBytes; l += 64) _mm_prefetch(blk + ahead + l, kL2 ? _MM_HINT_T1 : _MM_HINT_T0);
    }
    for (int64_t u = 0; u < kPerBlock; ++u) madd_step(s + u);
  }
  for (; s < steps; ++s) madd_step(s);
  if (rem != 0) {
    for (int g = 0; g < G; ++g) {
      typename P::W w[4];
      for (int r = 0; r < 4; ++r) w[r] = P::load_w_tail(step_ptr(g, steps, r), 0, rem);
      for (int t = 0; t < T; ++t) {
        const typename P::X x = P::load_x_tail(xr[t], steps, rem);
        for (int r = 0; r < 4; ++r) acc[g][r][t] = P::madd(acc[g][r][t], w[r], x);
      }
    }
  }
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < T; ++t)
      for (int r = 0; r < rows[g]; ++r) a.y[(t0 + t) * a.ldy + r0[g] + r] = _mm512_reduce_add_ps(acc[g][r][t]);
}

// One token: pf.streams groups of the job side by side (kernels/decode_streams.h); batches group by
// group, 4 tokens at a time.
template <class P, bool kL2>
void decode_groups(const GemmArgs& a, const StreamPrefetch& pf) {
  const size_t group_bytes = static_cast<size_t>((a.n_in + kHalfBlockValues - 1) / kHalfBlockValues) * kGroupBlockBytes;
  auto grp_of = [&](int64_t r0) { return static_cast<const char*>(a.w) + static_cast<size_t>(r0 / kHalfRepackRows) * group_bytes; };
  auto rows_of = [&](int64_t r0) { return static_cast<int>(a.row_end - r0 < kHalfRepackRows ? a.row_end - r0 : kHalfRepackRows); };
  if (a.n_tokens == 1) {
    const int64_t n = (a.row_end - a.row_begin + kHalfRepackRows - 1) / kHalfRepackRows;
    return with_streams(pf.streams, [&]<int S>() {
      stream_rounds<S>(n, [&]<int G>(const int64_t* idx) {
        int64_t r[G];
        const char* g[G];
        int rows[G];
        for (int k = 0; k < G; ++k) r[k] = a.row_begin + kHalfRepackRows * idx[k], g[k] = grp_of(r[k]), rows[k] = rows_of(r[k]);
        group_tile<P, 1, kL2, G>(a, g, r, rows, 0, pf.ahead);
      });
    });
  }
  for (int64_t r0 = a.row_begin; r0 < a.row_end; r0 += kHalfRepackRows) {
    const char* grp = grp_of(r0);
    const int rows = rows_of(r0);
    for (int64_t t0 = 0; t0 < a.n_tokens; t0 += 4) {
      switch (a.n_tokens - t0 < 4 ? a.n_tokens - t0 : 4) {
        case 1: group_tile<P, 1, kL2, 1>(a, &grp, &r0, &rows, t0, pf.ahead); break;
        case 2: group_tile<P, 2, kL2, 1>(a, &grp, &r0, &rows, t0, pf.ahead); break;
        case 3: group_tile<P, 3, kL2, 1>(a, &grp, &r0, &rows, t0, pf.ahead); break;
        default: group_tile<P, 4, kL2, 1>(a, &grp, &r0, &rows, t0, pf.ahead); break;
      }
    }
  }
}

template <class P>
void decode_groups(const GemmArgs& a) {
  const StreamPrefetch pf = decode_stream_prefetch(StreamLayout::kHalf4);  // per job: tests vary the streams
  if (pf.l2) decode_groups<P, true>(a, pf);
  else decode_groups<P, false>(a, pf);
}

thread_local AlignedBuffer t_rows;

// A prompt batch: the job's rows back to ggml rows, then the ggml-layout kernel of the table.
void prompt_from_rows(const GemmArgs& a, GemmFn ggml) {
  const size_t row_bytes = static_cast<size_t>(a.n_in) * 2;
  void* rows = t_rows.get(static_cast<size_t>(a.row_end - a.row_begin) * row_bytes);
  repack_unpack_half_x4(a.w, a.n_in, a.row_begin, a.row_end, rows);
  GemmArgs g = a;
  g.w = rows;
  g.w_row_bytes = row_bytes;
  g.y = a.y + a.row_begin;
  g.row_begin = 0;
  g.row_end = a.row_end - a.row_begin;
  ggml(g);
}

void gemm_f16x4(const GemmArgs& a) {
  if (half_dot_tiles(a.n_tokens)) decode_groups<PolicyF16>(a);
  else prompt_from_rows(a, avx512_matmul_kernels()->gemm_f16);
}

void gemm_bf16x4(const GemmArgs& a) {
  static const bool dot = cpu_has_avx512_bf16();
  if (!half_dot_tiles(a.n_tokens)) prompt_from_rows(a, avx512_matmul_kernels()->gemm_bf16);
  else if (dot) decode_groups<PolicyBF16Dot>(a);
  else decode_groups<PolicyBF16Convert>(a);
}

}  // namespace

// RepackLayout::unpack_row: the row's 4-row group unpacked, the row kept.
void unpack_half_row(const void* packed, int64_t n_in, int64_t n_out, int64_t row, void* out) {
  const int64_t r0 = row / kHalfRepackRows * kHalfRepackRows, r1 = std::min<int64_t>(r0 + kHalfRepackRows, n_out);
  thread_local std::vector<uint8_t> rows;
  rows.resize(static_cast<size_t>(kHalfRepackRows * 2 * n_in));
  repack_unpack_half_x4(packed, n_in, r0, r1, rows.data());
  std::memcpy(out, rows.data() + (row - r0) * 2 * n_in, static_cast<size_t>(2 * n_in));
}

const RepackLayout* repack_layout_f16_avx512() {
  static const RepackLayout k{TensorType::F16, "f16x4", repack_bytes_half_x4, kHalfRepackRows, repack_pack_half_x4,
                              gemm_f16x4, unpack_half_row};
  return &k;
}

const RepackLayout* repack_layout_bf16_avx512() {
  static const RepackLayout k{TensorType::BF16, "bf16x4", repack_bytes_half_x4, kHalfRepackRows, repack_pack_half_x4,
                              gemm_bf16x4, unpack_half_row};
  return &k;
}

}  // namespace kestrel::kernels
