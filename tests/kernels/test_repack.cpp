// Repacked layouts (kernels/repack.h): the portable reference gemm over each layout equals the scalar
// ggml kernel (the 32-value block layouts, then F16 / BF16 below); each ISA's packed kernels equal their definitions (decode: the layout's reference in
// llama.cpp's x86 f32 order, bit for bit, and the scalar ggml kernel within f32 summation noise; prompt
// batches: that ISA's ggml-layout packed-panel GEMM, bit for bit), on odd shapes (row
// tails that are not a multiple of the interleave, odd block counts) and token counts 1..40 and > 512.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/aligned_buffer.h"
#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "kernels/repack_half.h"
#include "kernels/repack_q32.h"
#include "kernels/type_traits.h"
#include "tests/common/decode_streams_switch.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

// The AMX switch exists only in x86-64 builds (kernels/matmul_isa.h); elsewhere the chain order never runs.
bool amx_chain_order() {
#if defined(__x86_64__) || defined(_M_X64)
  return amx_enabled();
#else
  return false;
#endif
}

struct AlignedBytes {
  void* p = nullptr;
  explicit AlignedBytes(size_t n) : p(std::aligned_alloc(64, (n + 63) / 64 * 64)) { std::memset(p, 0xA5, (n + 63) / 64 * 64); }
  ~AlignedBytes() { std::free(p); }
};

struct Case {
  TensorType wt;
  int64_t n_in, n_out;
  std::vector<uint8_t> w;
  std::vector<float> x;
};

Case make_case(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, uint32_t seed) {
  Case c{wt, n_in, n_out, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(n_in * n_out));
  for (float& v : wf) v = nd(rng);
  const size_t rb = *bytes_for(wt, n_in);
  c.w.resize(rb * n_out);
  for (int64_t r = 0; r < n_out; ++r) type_traits(wt)->from_float(wf.data() + r * n_in, c.w.data() + r * rb, n_in);
  c.x.resize(static_cast<size_t>(n_in * n_tokens));
  for (float& v : c.x) v = nd(rng);
  return c;
}

// The reference gemm of the layout over quantized activations, all rows and tokens.
// x86: the reference in the f32 order of the AVX-512 decode kernels (llama.cpp's x86 lanes, or with AMX on
// the block chain of its AMX buffer), else the scalar ggml order.
std::vector<float> ref_packed(TensorType wt, const void* packed, const Case& c, int64_t n_tokens, bool x86 = false) {
  const int64_t nb = c.n_in / kQK;
  const size_t xrb = (static_cast<size_t>(nb) * sizeof(BlockQ8_0) + 63) / 64 * 64;
  std::vector<uint8_t> xq(xrb * n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t)
    // The matmul's activation converter (llama.cpp's SIMD rounding, kernels/quant_act.h), as matmul_isa uses.
    scalar_matmul_kernels()->quantize_row_q8_0(c.x.data() + t * c.n_in, xq.data() + t * xrb, c.n_in);
  std::vector<float> y(static_cast<size_t>(n_tokens * c.n_out));
  GemmArgs a{packed, 0, c.n_in, xq.data(), xrb, n_tokens, y.data(), c.n_out, 0, c.n_out, 0};
  if (x86 && amx_chain_order()) (wt == TensorType::Q8_0 ? repack_gemm_q8_0x16_chain_ref : repack_gemm_q4_0x16_chain_ref)(a);
  else if (x86) (wt == TensorType::Q8_0 ? repack_gemm_q8_0x16_x86_ref : repack_gemm_q4_0x16_x86_ref)(a);
  else (wt == TensorType::Q8_0 ? repack_gemm_q8_0x16_ref : repack_gemm_q4_0x16_ref)(a);
  return y;
}

// ldy 0: n_out. Outputs not written stay -1.
std::vector<float> ggml_matmul(Isa isa, ThreadPool& pool, const Case& c, int64_t n_tokens, int64_t ldy = 0) {
  if (ldy == 0) ldy = c.n_out;
  std::vector<float> y(static_cast<size_t>(n_tokens * ldy), -1.0f);
  matmul_isa(isa, pool, c.wt, c.w.data(), c.n_in, c.n_out, c.x.data(), n_tokens, y.data(), ldy);
  return y;
}

void pack_portable(TensorType wt, const Case& c, void* dst) {
  (wt == TensorType::Q8_0 ? repack_pack_q8_0x16 : repack_pack_q4_0x16)(c.w.data(), c.n_in, c.n_out, 0, c.n_out, dst);
}

size_t portable_bytes(TensorType wt, int64_t n_in, int64_t n_out) {
  return (wt == TensorType::Q8_0 ? repack_bytes_q8_0x16 : repack_bytes_q4_0x16)(n_in, n_out);
}

class RepackQ32 : public ::testing::TestWithParam<TensorType> {};

TEST_P(RepackQ32, ShapesWithoutALayoutAreRefused) {
  const TensorType wt = GetParam();
  EXPECT_EQ(portable_bytes(wt, 0, 16), 0u);
  EXPECT_EQ(portable_bytes(wt, 48, 16), 0u);  // not a whole number of blocks
  EXPECT_EQ(portable_bytes(wt, 32, 0), 0u);
  EXPECT_EQ(portable_bytes(wt, -32, 5), 0u);
  // 3 blocks -> 2 pairs, 17 rows -> 2 groups.
  EXPECT_EQ(portable_bytes(wt, 96, 17), 2 * 2 * (wt == TensorType::Q8_0 ? kQ8x16PairBytes : kQ4x16PairBytes));
}

// The layout's definition: its reference gemm gives the scalar ggml kernel's results exactly (same
// integer sums, same f32 operations in the same order).
TEST_P(RepackQ32, ReferenceEqualsScalarGgmlKernel) {
  const TensorType wt = GetParam();
  ThreadPool pool(1);
  for (int64_t n_in : {32, 96, 160})
    for (int64_t n_out : {1, 16, 17, 45}) {
      const int64_t n_tokens = 3;
      const Case c = make_case(wt, n_in, n_out, n_tokens, static_cast<uint32_t>(n_in * 131 + n_out));
      AlignedBytes packed(portable_bytes(wt, n_in, n_out));
      pack_portable(wt, c, packed.p);
      const std::vector<float> got = ref_packed(wt, packed.p, c, n_tokens);
      const std::vector<float> want = ggml_matmul(Isa::Scalar, pool, c, n_tokens);
      for (size_t i = 0; i < want.size(); ++i) {
#if defined(__x86_64__)
        ASSERT_EQ(got[i], want[i]) << "n_in " << n_in << " n_out " << n_out << " i " << i;
#else  // GCC may contract the scalar kernel's multiply-add into an FMA on other targets
        ASSERT_NEAR(got[i], want[i], 1e-4f * (1.0f + std::fabs(want[i]))) << "n_in " << n_in << " n_out " << n_out;
#endif
      }
    }
}

// Packing in several row ranges at once (as repack_matrix does over the pool) writes the same bytes.
TEST_P(RepackQ32, ParallelPackingEqualsOnePass) {
  const TensorType wt = GetParam();
  const Case c = make_case(wt, 96, 77, 1, 5);
  const size_t n = portable_bytes(wt, 96, 77);
  AlignedBytes one(n), many(n);
  pack_portable(wt, c, one.p);
  auto pack = wt == TensorType::Q8_0 ? repack_pack_q8_0x16 : repack_pack_q4_0x16;
  for (int64_t r0 : {48, 0, 64, 16, 32}) pack(c.w.data(), 96, 77, r0, std::min<int64_t>(77, r0 + 16), many.p);
  EXPECT_EQ(std::memcmp(one.p, many.p, n), 0);
}

// Every ISA's layout: decode equals the x86-order reference bit for bit (and the scalar ggml kernel to
// f32 summation noise), prompt batches equal that ISA's ggml-layout GEMM bit for bit (the panels are
// the same bytes).
TEST_P(RepackQ32, IsaKernelsEqualTheGgmlLayoutKernels) {
  const TensorType wt = GetParam();
  const RepackLayout* layout = repack_layout(active_isa(), wt);
  if (layout == nullptr) GTEST_SKIP() << "no repacked " << type_name(wt) << " layout on " << isa_name(active_isa());
  EXPECT_EQ(layout->type, wt);
  EXPECT_EQ(layout->bytes(96, 17), portable_bytes(wt, 96, 17));
  ThreadPool pool(2);
  std::vector<int64_t> tokens = {1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 40};
  if (!sanitized()) tokens.push_back(520);  // > 512: two token blocks, the second of 8 (slow under the sanitizers)
  for (int64_t n_in : {32, 96, 256})
    for (int64_t n_out : {1, 17, 45, 100}) {
      const int64_t max_t = n_in == 96 && n_out == 45 ? tokens.back() : 40;
      const Case c = make_case(wt, n_in, n_out, max_t, static_cast<uint32_t>(n_in * 7 + n_out));
      AlignedBytes packed(layout->bytes(n_in, n_out));
      repack_matrix(pool, *layout, c.w.data(), n_in, n_out, packed.p);
      AlignedBytes portable(layout->bytes(n_in, n_out));
      pack_portable(wt, c, portable.p);
      ASSERT_EQ(std::memcmp(packed.p, portable.p, layout->bytes(n_in, n_out)), 0) << "the ISA packs other bytes";
      for (int64_t nt : tokens) {
        if (nt > max_t) continue;
        const std::vector<float> want = nt < 8 ? ref_packed(wt, packed.p, c, nt, true) : ggml_matmul(active_isa(), pool, c, nt);
        if (nt < 8) {
          // Same integer block sums as the scalar kernel, f32 sums in another order: ~n_in / 32 roundings.
          const std::vector<float> scalar = ggml_matmul(Isa::Scalar, pool, c, nt);
          float amax = 0;
          for (float v : scalar) amax = std::max(amax, std::fabs(v));
          for (size_t i = 0; i < scalar.size(); ++i)
            ASSERT_NEAR(want[i], scalar[i], 2e-6f * static_cast<float>(n_in / 32 + 8) * amax) << "n_in " << n_in << " i " << i;
        }
        for (int streams : test::decode_stream_counts()) {  // decode reads groups side by side
          const test::DecodeStreams set(streams);
          std::vector<float> got(static_cast<size_t>(nt * (n_out + 3)), -1.0f);
          matmul_packed(pool, *layout, packed.p, n_in, n_out, c.x.data(), nt, got.data(), n_out + 3);
          for (int64_t t = 0; t < nt; ++t) {
            for (int64_t r = 0; r < n_out; ++r)
              ASSERT_EQ(got[t * (n_out + 3) + r], want[t * n_out + r])
                  << "n_in " << n_in << " n_out " << n_out << " tokens " << nt << " streams " << streams << " t " << t << " r " << r;
            for (int64_t r = n_out; r < n_out + 3; ++r) ASSERT_EQ(got[t * (n_out + 3) + r], -1.0f) << "wrote past n_out";
          }
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, RepackQ32, ::testing::Values(TensorType::Q8_0, TensorType::Q4_0),
                         [](const auto& i) { return std::string(type_name(i.param)); });

// ---------------------------------------------------------------- f16x4 / bf16x4 (kernels/repack_half.h)
// The portable reference gemm over the layout equals the scalar ggml kernel, packing round-trips, and
// each ISA's packed kernels equal that ISA's ggml-layout kernels bit for bit (decode and small batches:
// the same f32 chain per output; prompt batches: the same GEMM on unpacked rows), on n_in tails (not a
// multiple of the 16/32-value steps or of the 32-value blocks), row tails (n_out not a multiple of 4)
// and token counts from 1 to past the prompt thresholds.
class RepackHalf : public ::testing::TestWithParam<TensorType> {};

TEST_P(RepackHalf, Bytes) {
  EXPECT_EQ(repack_bytes_half_x4(0, 4), 0u);
  EXPECT_EQ(repack_bytes_half_x4(32, 0), 0u);
  EXPECT_EQ(repack_bytes_half_x4(-32, 5), 0u);
  EXPECT_EQ(repack_bytes_half_x4(33, 5), 2u * 2u * 256u);  // 2 groups of 4 rows x 2 blocks of 32 values
  EXPECT_EQ(repack_bytes_half_x4(32, 4), 256u);
}

// Packing round-trips, and packing in several row ranges at once (as repack_matrix does) writes the
// same bytes as one pass.
TEST_P(RepackHalf, PackUnpackAndParallelPacking) {
  const Case c = make_case(GetParam(), 77, 23, 1, 3);
  const size_t n = repack_bytes_half_x4(77, 23);
  AlignedBytes one(n), many(n);
  repack_pack_half_x4(c.w.data(), 77, 23, 0, 23, one.p);
  for (int64_t r0 : {12, 0, 20, 4, 8, 16}) repack_pack_half_x4(c.w.data(), 77, 23, r0, std::min<int64_t>(23, r0 + 4), many.p);
  EXPECT_EQ(std::memcmp(one.p, many.p, n), 0);
  std::vector<uint8_t> back(c.w.size());
  repack_unpack_half_x4(one.p, 77, 0, 23, back.data());
  EXPECT_EQ(back, c.w);
  std::vector<uint8_t> part(static_cast<size_t>(7 * 77 * 2));
  repack_unpack_half_x4(one.p, 77, 16, 23, part.data());
  EXPECT_EQ(std::memcmp(part.data(), c.w.data() + 16 * 77 * 2, part.size()), 0);
}

// The layout's definition: its reference gemm gives the scalar ggml kernel's results exactly.
TEST_P(RepackHalf, ReferenceEqualsScalarGgmlKernel) {
  const TensorType wt = GetParam();
  ThreadPool pool(1);
  for (int64_t n_in : {1, 33, 96})
    for (int64_t n_out : {1, 4, 17}) {
      const int64_t n_tokens = 3;
      const Case c = make_case(wt, n_in, n_out, n_tokens, static_cast<uint32_t>(n_in * 131 + n_out));
      AlignedBytes packed(repack_bytes_half_x4(n_in, n_out));
      repack_pack_half_x4(c.w.data(), n_in, n_out, 0, n_out, packed.p);
      const size_t xrb = (static_cast<size_t>(n_in) * 2 + 63) / 64 * 64;
      std::vector<uint8_t> xc(xrb * n_tokens);
      for (int64_t t = 0; t < n_tokens; ++t) {
        if (wt == TensorType::F16) scalar_matmul_kernels()->fp32_to_fp16_row(c.x.data() + t * n_in, xc.data() + t * xrb, n_in);
        else scalar_matmul_kernels()->fp32_to_bf16_row(c.x.data() + t * n_in, xc.data() + t * xrb, n_in);
      }
      std::vector<float> got(static_cast<size_t>(n_tokens * n_out), -1.0f);
      GemmArgs a{packed.p, 0, n_in, xc.data(), xrb, n_tokens, got.data(), n_out, 0, n_out, 0};
      (wt == TensorType::F16 ? repack_gemm_f16x4_ref : repack_gemm_bf16x4_ref)(a);
      EXPECT_EQ(got, ggml_matmul(Isa::Scalar, pool, c, n_tokens)) << "n_in " << n_in << " n_out " << n_out;
    }
}

// The active ISA's layout kernels equal its ggml-layout kernels bit for bit, and write nothing past n_out.
TEST_P(RepackHalf, IsaKernelsEqualTheGgmlLayoutKernels) {
  const TensorType wt = GetParam();
  const RepackLayout* layout = repack_layout(active_isa(), wt);
  if (layout == nullptr) GTEST_SKIP() << "no repacked " << type_name(wt) << " layout on " << isa_name(active_isa());
  EXPECT_EQ(layout->type, wt);
  EXPECT_EQ(layout->bytes(96, 17), repack_bytes_half_x4(96, 17));
  ThreadPool pool(2);
  std::vector<int64_t> tokens = {1, 2, 3, 4, 5, 9, 17, 31, 32, 33, 63, 64, 67};
  std::vector<int64_t> n_ins = {1, 7, 16, 31, 33, 64, 257, 2048 + 48};
  if (sanitized()) n_ins.pop_back();
  for (int64_t n_in : n_ins)
    for (int64_t n_out : {1, 3, 17, 67}) {
      if (n_in > 1024 && n_out == 67) continue;  // keep the large case quick
      const int64_t max_t = tokens.back();
      const Case c = make_case(wt, n_in, n_out, max_t, static_cast<uint32_t>(n_in * 7 + n_out));
      AlignedBytes packed(layout->bytes(n_in, n_out));
      repack_matrix(pool, *layout, c.w.data(), n_in, n_out, packed.p);
      for (int64_t nt : tokens) {
        const int64_t ldy = n_out + 3;
        const std::vector<float> want = ggml_matmul(active_isa(), pool, c, nt, ldy);
        for (int streams : test::decode_stream_counts()) {  // decode reads groups side by side
          const test::DecodeStreams set(streams);
          std::vector<float> got(static_cast<size_t>(nt * ldy), -1.0f);
          matmul_packed(pool, *layout, packed.p, n_in, n_out, c.x.data(), nt, got.data(), ldy);
          for (int64_t t = 0; t < nt; ++t) {
            for (int64_t r = 0; r < n_out; ++r)
              ASSERT_EQ(got[t * ldy + r], want[t * ldy + r]) << type_name(wt) << " n_in " << n_in << " n_out " << n_out
                                                             << " tokens " << nt << " streams " << streams << " t " << t << " r " << r;
            for (int64_t r = n_out; r < ldy; ++r) ASSERT_EQ(got[t * ldy + r], -1.0f) << "wrote past n_out";
          }
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, RepackHalf, ::testing::Values(TensorType::F16, TensorType::BF16),
                         [](const auto& i) { return std::string(type_name(i.param)); });

TEST(Repack, TypesAndIsasWithoutALayout) {
  EXPECT_EQ(repack_layout(Isa::Scalar, TensorType::Q8_0), nullptr);
  EXPECT_EQ(repack_layout(Isa::Avx512, TensorType::F32), nullptr);
}

// A view with a packed copy for another ISA than the active one is read from its ggml rows.
TEST(Repack, MatmulViewFallsBackToTheGgmlRows) {
  const Case c = make_case(TensorType::Q8_0, 64, 20, 2, 9);
  ThreadPool pool(1);
  TensorView v{"w", TensorType::Q8_0, {64, 20}, c.w.data(), c.w.size()};
  std::vector<uint8_t> garbage(4096, 0x7F);
  v.packed = garbage.data();
  v.packed_isa = static_cast<int>(active_isa()) + 1;  // not the active ISA
  std::vector<float> y(40);
  matmul_view(pool, v, c.x.data(), 2, y.data(), 20);
  EXPECT_EQ(y, ggml_matmul(active_isa(), pool, c, 2));
}

// Every layout's unpack_row gives back each row's ggml bytes (odd block counts, a last group of fewer
// rows), and get_rows_view on a view without ggml rows reads the same floats as get_rows on them.
TEST(Repack, UnpackRowInvertsPackingAndFeedsGetRows) {
  const Isa isa = active_isa();
  int n_layouts = 0;
  std::mt19937 rng(77);
  for (TensorType t : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::F16, TensorType::BF16}) {
    const RepackLayout* l = repack_layout(isa, t);
    if (l == nullptr) continue;
    ASSERT_NE(l->unpack_row, nullptr) << l->name;
    ++n_layouts;
    const int64_t block = t == TensorType::Q4_K || t == TensorType::Q6_K ? 256 : 32;
    for (int64_t n_in : {block, 3 * block}) {
      const int64_t n_out = 2 * l->row_group + 3;
      const size_t row_bytes = static_cast<size_t>(*bytes_for(t, static_cast<uint64_t>(n_in)));
      std::vector<uint8_t> rows(row_bytes * static_cast<size_t>(n_out));
      for (uint8_t& b : rows) b = static_cast<uint8_t>(rng());
      // Finite scales and halves: the floats compared below must be comparable.
      for (size_t i = 0; i + 1 < rows.size(); i += 2) rows[i + 1] &= 0x3B;
      AlignedBuffer packed;
      void* pk = packed.get(l->bytes(n_in, n_out));
      ThreadPool pool(2);
      repack_matrix(pool, *l, rows.data(), n_in, n_out, pk);
      std::vector<uint8_t> got(row_bytes);
      for (int64_t r = 0; r < n_out; ++r) {
        l->unpack_row(pk, n_in, n_out, r, got.data());
        ASSERT_EQ(0, std::memcmp(got.data(), rows.data() + static_cast<size_t>(r) * row_bytes, row_bytes)) << l->name << " row " << r;
      }
      TensorView v{"tok", t, {n_in, n_out}, nullptr, rows.size()};
      v.packed = pk;
      v.packed_isa = static_cast<int>(isa);
      const std::vector<int32_t> ids{0, static_cast<int32_t>(n_out - 1), 5, 5};
      std::vector<float> want(ids.size() * static_cast<size_t>(n_in)), have(want.size());
      get_rows(t, rows.data(), n_in, ids.data(), static_cast<int64_t>(ids.size()), want.data());
      get_rows_view(v, ids.data(), static_cast<int64_t>(ids.size()), have.data());
      ASSERT_EQ(0, std::memcmp(want.data(), have.data(), want.size() * sizeof(float))) << l->name;
    }
  }
  if (isa == Isa::Avx512) {
    EXPECT_EQ(n_layouts, 6);
  }
}

// matmul_views (several matrices of one input in one job list) gives each output exactly what its own
// matmul_view gives: mixed types (shared and separate activation formats, F32 in place), packed and
// ggml-row views, decode and prompt token counts, 1 and 2 threads, and outputs with ldy > n_out.
TEST(Repack, MatmulViewsEqualOneMatmulViewEach) {
  const Isa isa = active_isa();
  const int64_t n_in = 512;
  struct Mat {
    Case c;
    AlignedBuffer packed;
    TensorView v;
  };
  const TensorType types[4] = {TensorType::Q4_K, TensorType::Q6_K, TensorType::Q8_0, TensorType::F32};
  const int64_t n_outs[4] = {96, 40, 67, 33};
  std::vector<Mat> mats(4);
  for (int i = 0; i < 4; ++i) {
    Mat& m = mats[static_cast<size_t>(i)];
    m.c = make_case(types[i], n_in, n_outs[i], 1, static_cast<uint32_t>(100 + i));
    m.v = TensorView{"w" + std::to_string(i), types[i], {n_in, n_outs[i]}, m.c.w.data(), m.c.w.size()};
    if (const RepackLayout* l = repack_layout(isa, types[i]); l != nullptr && i != 2) {  // Q8_0 stays on ggml rows
      ThreadPool pool(1);
      repack_matrix(pool, *l, m.c.w.data(), n_in, n_outs[i], m.packed.get(l->bytes(n_in, n_outs[i])));
      m.v.packed = m.packed.get(l->bytes(n_in, n_outs[i]));
      m.v.packed_isa = static_cast<int>(isa);
    }
  }
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    for (int64_t nt : {1, 3, 17, 40}) {
      std::vector<float> x(static_cast<size_t>(n_in * nt));
      for (float& v : x) v = nd(rng);
      for (int n : {2, 3, 4}) {
        std::vector<std::vector<float>> want(4), got(4);
        ViewOutput outs[4];
        for (int i = 0; i < n; ++i) {
          const int64_t ldy = n_outs[i] + 5;
          want[i].assign(static_cast<size_t>(nt * ldy), -1.0f);
          got[i] = want[i];
          matmul_view(pool, mats[static_cast<size_t>(i)].v, x.data(), nt, want[i].data(), ldy);
          outs[i] = ViewOutput{&mats[static_cast<size_t>(i)].v, got[i].data(), ldy};
        }
        matmul_views(pool, outs, n, x.data(), nt);
        for (int i = 0; i < n; ++i)
          ASSERT_EQ(0, std::memcmp(want[i].data(), got[i].data(), want[i].size() * sizeof(float)))
              << type_name(types[i]) << " of " << n << ", " << nt << " tokens, " << threads << " threads";
      }
    }
  }
}

}  // namespace
}  // namespace kestrel::kernels
