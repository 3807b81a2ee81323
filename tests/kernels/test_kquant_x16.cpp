// The x16 load-time layouts of Q4_K / Q6_K (kernels/kquant_x16.h): packing is lossless (every row's
// ggml blocks come back byte for byte), the scalar twin on the packed layout equals the scalar ggml
// kernel bit for bit, and the AVX-512 kernels agree with it on odd shapes: n_out not a multiple of 16,
// odd numbers of super-blocks, row ranges that start inside a group, 1..40 and > 512 tokens. Q4_K prompt
// batches (>= 8 tokens) must equal the ggml-layout AVX-512 kernel bit for bit (same panel bytes); Q6_K
// at every batch size must equal gemm_q6_K_x16_x86_ref (llama.cpp's x86 order) bit for bit, except
// batches of >= 32 tokens (kAmxMinTokens) with AMX on, which take the panels like Q4_K.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/isa.h"
#include "kernels/kquant_x16.h"
#include "kernels/kquant_x86_order.h"
#include "kernels/matmul_isa.h"
#include "kernels/matmul.h"
#include "kernels/quant_k.h"
#include "kernels/repack.h"
#include "kernels/type_traits.h"
#include "tests/common/decode_streams_switch.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

struct AlignedBytes {  // the packed tensor must be 64-byte aligned for the AVX-512 kernels
  explicit AlignedBytes(size_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64))), n(n) {
    std::memset(p, 0xA5, (n + 63) / 64 * 64);  // not zero: the packer must write every byte it owns
  }
  ~AlignedBytes() { std::free(p); }
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  uint8_t* p;
  size_t n;
};

struct Case {
  TensorType wt;
  int64_t n_in, n_out, n_tokens;
  std::vector<uint8_t> w;        // ggml rows
  std::vector<float> w_deq;
  std::vector<uint8_t> x;        // Q8_K activation rows, x_row_bytes apart
  std::vector<float> x_deq;
  size_t w_row_bytes, x_row_bytes;
};

Case make_case(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, uint32_t seed) {
  Case c{wt, n_in, n_out, n_tokens, {}, {}, {}, {}, 0, 0};
  const TypeTraits* tr = type_traits(wt);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  c.w_row_bytes = *bytes_for(wt, n_in);
  c.w.resize(c.w_row_bytes * n_out);
  c.w_deq.resize(n_in * n_out);
  std::vector<float> f(n_in);
  for (int64_t r = 0; r < n_out; ++r) {
    for (float& v : f) v = nd(rng) * (r % 5 == 0 ? 8.0f : 1.0f);  // some rows of other magnitude
    tr->from_float(f.data(), c.w.data() + r * c.w_row_bytes, n_in);
    tr->to_float(c.w.data() + r * c.w_row_bytes, c.w_deq.data() + r * n_in, n_in);
  }
  c.x_row_bytes = (n_in / kQK_K * sizeof(BlockQ8_K) + 63) / 64 * 64;
  c.x.assign(c.x_row_bytes * n_tokens, 0);
  c.x_deq.resize(n_in * n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (float& v : f) v = nd(rng);
    quantize_row_q8_K_ref(f.data(), reinterpret_cast<BlockQ8_K*>(c.x.data() + t * c.x_row_bytes), n_in);
    dequantize_row_q8_K(reinterpret_cast<const BlockQ8_K*>(c.x.data() + t * c.x_row_bytes), c.x_deq.data() + t * n_in, n_in);
  }
  return c;
}

GemmArgs args(const Case& c, const void* w, size_t w_row_bytes, float* y, int64_t r0, int64_t r1) {
  GemmArgs a;
  a.w = w;
  a.w_row_bytes = w_row_bytes;
  a.n_in = c.n_in;
  a.x = c.x.data();
  a.x_row_bytes = c.x_row_bytes;
  a.n_tokens = c.n_tokens;
  a.y = y;
  a.ldy = c.n_out + 1;
  a.row_begin = r0;
  a.row_end = r1;
  return a;
}

std::vector<float> nan_y(const Case& c) { return std::vector<float>((c.n_out + 1) * c.n_tokens, std::nanf("")); }

void pack(const Case& c, uint8_t* dst) {
  // In two ranges, as a parallel load would (the second holds the tail group).
  const int64_t mid = c.n_out > 16 ? 16 : c.n_out;
  if (c.wt == TensorType::Q4_K) {
    pack_q4_K_x16(c.w.data(), c.n_in, c.n_out, 0, mid, dst);
    pack_q4_K_x16(c.w.data(), c.n_in, c.n_out, mid, c.n_out, dst);
  } else {
    pack_q6_K_x16(c.w.data(), c.n_in, c.n_out, 0, mid, dst);
    pack_q6_K_x16(c.w.data(), c.n_in, c.n_out, mid, c.n_out, dst);
  }
}

size_t packed_bytes(const Case& c) {
  return c.wt == TensorType::Q4_K ? q4_K_x16_bytes(c.n_in, c.n_out) : q6_K_x16_bytes(c.n_in, c.n_out);
}

TEST(KquantX16, PackUnpackIsLossless) {
  for (TensorType wt : {TensorType::Q4_K, TensorType::Q6_K})
    for (int64_t n_out : {1, 16, 45}) {
      const Case c = make_case(wt, 3 * kQK_K, n_out, 1, 11);
      AlignedBytes packed(packed_bytes(c));
      // No bytes added but the padding rows (and Q6_K's 32-byte pad of a group with an odd nb).
      const size_t groups = static_cast<size_t>((n_out + 15) / 16), nb = static_cast<size_t>(c.n_in / kQK_K);
      EXPECT_EQ(packed.n, groups * (16 * c.w_row_bytes + (wt == TensorType::Q6_K && nb % 2 ? 32 : 0)));
      pack(c, packed.p);
      std::vector<uint8_t> row(c.w_row_bytes);
      for (int64_t r = 0; r < n_out; ++r) {
        if (wt == TensorType::Q4_K) unpack_row_q4_K_x16(packed.p, c.n_in, r, row.data());
        else unpack_row_q6_K_x16(packed.p, c.n_in, r, row.data());
        ASSERT_EQ(std::memcmp(row.data(), c.w.data() + r * c.w_row_bytes, row.size()), 0) << type_name(wt) << " row " << r;
      }
    }
}

void check(const Case& c, const std::vector<float>& want, const std::vector<float>& got, int64_t r0, int64_t r1, bool exact, const char* what) {
  for (int64_t t = 0; t < c.n_tokens; ++t)
    for (int64_t r = 0; r <= c.n_out; ++r) {
      const float g = got[t * (c.n_out + 1) + r];
      if (r < r0 || r >= r1) {
        ASSERT_TRUE(std::isnan(g)) << what << ": wrote outside the rows, row " << r << " token " << t;
        continue;
      }
      const float w = want[t * (c.n_out + 1) + r];
      if (exact) {
        ASSERT_EQ(g, w) << what << " " << type_name(c.wt) << " row " << r << " token " << t;
        continue;
      }
      double m = 0;
      for (int64_t i = 0; i < c.n_in; ++i) m += std::fabs(double(c.w_deq[r * c.n_in + i]) * c.x_deq[t * c.n_in + i]);
      // Exact integer sums per sub-block; f32 scaling and accumulation of 8-16 terms per super-block
      // (up to ~2m with the min term) in another order than the scalar twin.
      ASSERT_NEAR(g, w, 2e-6 * (c.n_in / 16.0 + 8) * m + 1e-30)
          << what << " " << type_name(c.wt) << " n_in=" << c.n_in << " n_out=" << c.n_out << " n_tokens=" << c.n_tokens
          << " rows [" << r0 << ", " << r1 << ") row " << r << " token " << t;
    }
}

TEST(KquantX16, KernelsMatchScalarGgmlKernel) {
  const MatmulKernels* scalar = scalar_matmul_kernels();
  std::vector<int64_t> tokens = {1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 40};
  if (!sanitized()) tokens.push_back(513);  // > one token block; the scalar reference is slow under sanitizers
  uint32_t seed = 3;
  for (TensorType wt : {TensorType::Q4_K, TensorType::Q6_K}) {
    const GemmFn ggml_scalar = wt == TensorType::Q4_K ? scalar->gemm_q4_K : scalar->gemm_q6_K;
    const GemmFn x16_scalar = wt == TensorType::Q4_K ? gemm_q4_K_x16_scalar : gemm_q6_K_x16_scalar;
    for (int64_t n_in : {kQK_K, 3 * kQK_K})
      for (int64_t n_tokens : tokens) {
        const int64_t n_out = n_tokens > 40 ? 37 : 45;
        const Case c = make_case(wt, n_in, n_out, n_tokens, seed++);
        AlignedBytes packed(packed_bytes(c));
        pack(c, packed.p);
        std::vector<float> ref = nan_y(c);
        ggml_scalar(args(c, c.w.data(), c.w_row_bytes, ref.data(), 0, n_out));
        std::vector<float> y = nan_y(c);
        x16_scalar(args(c, packed.p, 0, y.data(), 0, n_out));
        check(c, ref, y, 0, n_out, true, "x16 scalar twin");
        if (HasFatalFailure()) return;
        if (wt == TensorType::Q6_K) {  // the x86-order twin: the same sums, f32 steps in another order
          y = nan_y(c);
          gemm_q6_K_x16_x86_ref(args(c, packed.p, 0, y.data(), 0, n_out));
          check(c, ref, y, 0, n_out, false, "x16 x86-order twin");
          if (HasFatalFailure()) return;
        }
#if defined(__x86_64__)
        if (!isa_supported(Isa::Avx512)) continue;
        const GemmFn x16 = wt == TensorType::Q4_K ? gemm_q4_K_x16_avx512 : gemm_q6_K_x16_avx512;
        const MatmulKernels* avx512 = avx512_matmul_kernels();
        const GemmFn ggml_avx512 = wt == TensorType::Q4_K ? avx512->gemm_q4_K : avx512->gemm_q6_K;
        // Whole tensor, a range starting inside a group, one ending inside one, a single row.
        for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, n_out}, {5, n_out}, {16, 35}, {3, 4}}) {
          y = nan_y(c);
          x16(args(c, packed.p, 0, y.data(), r0, r1));
          std::vector<float> want = nan_y(c);
          ggml_scalar(args(c, c.w.data(), c.w_row_bytes, want.data(), r0, r1));
          check(c, want, y, r0, r1, false, "x16 avx512");
          if (HasFatalFailure()) return;
          // With AMX on, Q6_K prompt batches take the panel GEMM (llama.cpp has its own AMX-buffer
          // kernels there): the same panels as the ggml layout's, like Q4_K.
          const bool q6_panel = wt == TensorType::Q6_K && n_tokens >= 32 && amx_enabled();  // 32: kAmxMinTokens
          if (wt == TensorType::Q6_K && !q6_panel) {  // every batch size in llama.cpp's x86 order, bit for bit
            std::vector<float> x86 = nan_y(c);
            gemm_q6_K_x16_x86_ref(args(c, packed.p, 0, x86.data(), r0, r1));
            check(c, x86, y, r0, r1, true, "x16 avx512 vs the x86-order twin");
            if (HasFatalFailure()) return;
          } else if (n_tokens >= 8 && r0 % 16 == 0) {  // the prompt path: the same panels as the ggml layout's
            std::vector<float> g = nan_y(c);
            ggml_avx512(args(c, c.w.data(), c.w_row_bytes, g.data(), r0, r1));
            check(c, g, y, r0, r1, true, "x16 avx512 prompt vs ggml avx512");
            if (HasFatalFailure()) return;
          }
        }
#endif
      }
  }
}

// Q4_K in llama.cpp's x86 order (kernels/kquant_x86_order.h): the scalar twin on the x16 layout equals
// the one on ggml rows, and without AMX the AVX-512 kernels equal it bit for bit: prompt batches from
// both panel sources (ggml rows, x16 layout), the x16 decode tiles too. Odd shapes: n_out not a multiple
// of 16 or 32, 1 / 3 / 5 super-blocks, row ranges starting and ending inside groups and panels, every
// n_tokens 1..37 (full groups of 4 and the 1..3 leftover tokens, which llama.cpp sends through gemv).
TEST(KquantX16, Q4KMatchesLlamaCppX86Order) {
#if defined(__x86_64__)
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  struct NoAmx {  // AMX tiles take Q4_K batches of >= 32 tokens in their own order
    bool was = set_amx_enabled(false);
    ~NoAmx() { set_amx_enabled(was); }
  } no_amx;
  const GemmFn ggml_avx512 = avx512_matmul_kernels()->gemm_q4_K;
  std::vector<int64_t> tokens;
  for (int64_t t = 1; t <= 37; ++t) tokens.push_back(t);
  if (!sanitized()) tokens.insert(tokens.end(), {64, 130, 515});
  uint32_t seed = 100;
  for (int64_t n_in : {kQK_K, 3 * kQK_K, 5 * kQK_K})
    for (int64_t n_tokens : tokens) {
      if (sanitized() && n_in > kQK_K && n_tokens % 4 != 1) continue;  // the scalar twin is slow there
      const int64_t n_out = n_tokens % 2 ? 45 : 77;
      const Case c = make_case(TensorType::Q4_K, n_in, n_out, n_tokens, seed++);
      AlignedBytes packed(packed_bytes(c));
      pack(c, packed.p);
      std::vector<float> ref = nan_y(c), y = nan_y(c);
      gemm_q4_K_x86_ref(args(c, c.w.data(), c.w_row_bytes, ref.data(), 0, n_out));
      gemm_q4_K_x16_x86_ref(args(c, packed.p, 0, y.data(), 0, n_out));
      check(c, ref, y, 0, n_out, true, "x16 x86-order twin");
      if (HasFatalFailure()) return;
      for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, n_out}, {5, n_out}, {16, 35}, {32, n_out}, {3, 4}}) {
        std::vector<float> want = nan_y(c);
        gemm_q4_K_x86_ref(args(c, c.w.data(), c.w_row_bytes, want.data(), r0, r1));
        for (int streams : test::decode_stream_counts()) {  // one-token jobs read groups side by side
          const test::DecodeStreams set(streams);
          y = nan_y(c);
          gemm_q4_K_x16_avx512(args(c, packed.p, 0, y.data(), r0, r1));
          check(c, want, y, r0, r1, true, "x16 avx512 vs x86 order");
          if (HasFatalFailure()) return;
        }
        if (n_tokens < 8) continue;  // the ggml-layout decode kernel keeps its own order
        y = nan_y(c);
        ggml_avx512(args(c, c.w.data(), c.w_row_bytes, y.data(), r0, r1));
        check(c, want, y, r0, r1, true, "ggml-layout avx512 vs x86 order");
        if (HasFatalFailure()) return;
      }
    }
#else
  GTEST_SKIP() << "x86 only";
#endif
}

// Through the threaded driver (token blocks of 512, row chunks over 2 threads, parallel repacking): the
// Q4_K matmul of a batch equals the x86-order twin on the same Q8_K activations, both panel sources.
TEST(KquantX16, Q4KMatmulMatchesX86OrderThreaded) {
#if defined(__x86_64__)
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  struct NoAmx {
    bool was = set_amx_enabled(false);
    ~NoAmx() { set_amx_enabled(was); }
  } no_amx;
  ThreadPool pool(2);
  const RepackLayout* layout = repack_layout(Isa::Avx512, TensorType::Q4_K);
  ASSERT_NE(layout, nullptr);
  const int64_t n_in = 2 * kQK_K, n_out = 133;
  for (int64_t nt : sanitized() ? std::vector<int64_t>{9, 23} : std::vector<int64_t>{8, 9, 23, 37, 100, 514}) {
    Case c = make_case(TensorType::Q4_K, n_in, n_out, nt, static_cast<uint32_t>(nt + 7));
    AlignedBytes packed(layout->bytes(n_in, n_out));
    repack_matrix(pool, *layout, c.w.data(), n_in, n_out, packed.p);
    std::mt19937 rng(static_cast<uint32_t>(nt));
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> xs(n_in * nt);
    for (float& v : xs) v = nd(rng);
    for (int64_t t = 0; t < nt; ++t)  // the activations the driver makes (quantize_row_q8_K)
      quantize_row_q8_K_ref(xs.data() + t * n_in, reinterpret_cast<BlockQ8_K*>(c.x.data() + t * c.x_row_bytes), n_in);
    std::vector<float> want = nan_y(c), got = nan_y(c), got_ggml = nan_y(c);
    gemm_q4_K_x86_ref(args(c, c.w.data(), c.w_row_bytes, want.data(), 0, n_out));
    matmul_packed(pool, *layout, packed.p, n_in, n_out, xs.data(), nt, got.data(), n_out + 1);
    check(c, want, got, 0, n_out, true, "matmul_packed (x16) vs x86 order");
    if (HasFatalFailure()) return;
    // On ggml rows a last token block of < 8 tokens (514 = 512 + 2) takes the ggml-layout decode kernel,
    // whose order is not llama.cpp's (only the x16 decode tiles follow it): compare up to token 512.
    matmul_isa(Isa::Avx512, pool, TensorType::Q4_K, c.w.data(), n_in, n_out, xs.data(), nt, got_ggml.data(), n_out + 1);
    if (nt % 512 < 8) c.n_tokens = nt / 512 * 512;
    check(c, want, got_ggml, 0, n_out, true, "matmul (ggml rows) vs x86 order");
    if (HasFatalFailure()) return;
  }
#else
  GTEST_SKIP() << "x86 only";
#endif
}

// Through the load-time repacking table and driver (kernels/repack.h): the AVX-512 entries pack the
// x16 bytes (also in parallel ranges), and matmul_packed equals the ggml-layout matmul: within the
// tolerance for decode, bit for bit for prompt batches.
TEST(KquantX16, RepackTableEntries) {
#if defined(__x86_64__)
  if (!isa_supported(Isa::Avx512)) GTEST_SKIP() << "no AVX-512";
  ThreadPool pool(2);
  for (TensorType wt : {TensorType::Q4_K, TensorType::Q6_K}) {
    const RepackLayout* layout = repack_layout(Isa::Avx512, wt);
    ASSERT_NE(layout, nullptr) << type_name(wt);
    EXPECT_EQ(layout->bytes(100, 16), 0u);  // not a multiple of 256
    EXPECT_EQ(layout->bytes(256, 0), 0u);
    const int64_t n_in = 3 * kQK_K, n_out = 77;
    std::vector<float> xs;
    for (int64_t nt : {1, 3, 8, 37}) {
      Case c = make_case(wt, n_in, n_out, nt, static_cast<uint32_t>(nt));
      AlignedBytes packed(layout->bytes(n_in, n_out)), ref(packed_bytes(c));
      ASSERT_EQ(packed.n, ref.n);
      repack_matrix(pool, *layout, c.w.data(), n_in, n_out, packed.p);
      pack(c, ref.p);
      ASSERT_EQ(std::memcmp(packed.p, ref.p, ref.n), 0) << "repack_matrix packs other bytes";
      std::mt19937 rng(nt);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      xs.resize(n_in * nt);
      for (float& v : xs) v = nd(rng);
      for (int64_t t = 0; t < nt; ++t)  // the activations the driver will make, for the tolerance
        quantize_row_q8_K_ref(xs.data() + t * n_in, reinterpret_cast<BlockQ8_K*>(c.x.data() + t * c.x_row_bytes), n_in);
      for (int64_t t = 0; t < nt; ++t)
        dequantize_row_q8_K(reinterpret_cast<const BlockQ8_K*>(c.x.data() + t * c.x_row_bytes), c.x_deq.data() + t * n_in, n_in);
      std::vector<float> got = nan_y(c), want = nan_y(c);
      matmul_packed(pool, *layout, packed.p, n_in, n_out, xs.data(), nt, got.data(), n_out + 1);
      matmul_isa(nt < 8 ? Isa::Scalar : Isa::Avx512, pool, wt, c.w.data(), n_in, n_out, xs.data(), nt, want.data(), n_out + 1);
      const bool q6_panel = wt == TensorType::Q6_K && nt >= 32 && amx_enabled();  // as above
      check(c, want, got, 0, n_out, nt >= 8 && (wt == TensorType::Q4_K || q6_panel), "matmul_packed");
      if (HasFatalFailure()) return;
      if (wt == TensorType::Q6_K && !q6_panel) {  // split over the pool's threads, still llama.cpp's x86 order
        std::vector<float> x86 = nan_y(c);
        gemm_q6_K_x16_x86_ref(args(c, ref.p, 0, x86.data(), 0, n_out));
        check(c, x86, got, 0, n_out, true, "matmul_packed vs the x86-order twin");
        if (HasFatalFailure()) return;
      }
    }
  }
#else
  GTEST_SKIP() << "the x16 layouts are AVX-512 only";
#endif
}

}  // namespace
}  // namespace kestrel::kernels
