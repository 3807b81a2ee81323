// The f16x4 / bf16x4 repacked layouts (kernels/repack_half.h): the portable reference gemm over the layout
// equals the scalar ggml kernel, packing round-trips, and each ISA's packed kernels equal that ISA's
// ggml-layout kernels bit for bit (decode and small batches: the same f32 chain per output; prompt
// batches: the same GEMM on unpacked rows), on n_in tails (not a multiple of the 16/32-value steps or
// of the 32-value blocks), row tails (n_out not a multiple of 4) and token counts from 1 to past the
// prompt thresholds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/repack.h"
#include "kernels/repack_half.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

bool sanitized() { return std::getenv("KESTREL_SANITIZED") != nullptr; }

struct Case {
  TensorType wt;
  int64_t n_in, n_out;
  std::vector<uint8_t> w;
  std::vector<float> x;
};

struct Aligned {
  void* p;
  explicit Aligned(size_t n) : p(std::aligned_alloc(64, (n + 63) / 64 * 64)) { std::memset(p, 0xA5, (n + 63) / 64 * 64); }
  ~Aligned() { std::free(p); }
  Aligned(const Aligned&) = delete;
  Aligned& operator=(const Aligned&) = delete;
};

Case make_case(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, uint32_t seed) {
  Case c{wt, n_in, n_out, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> wf(static_cast<size_t>(n_in * n_out));
  for (float& v : wf) v = nd(rng);
  c.w.resize(static_cast<size_t>(n_in * n_out) * 2);
  for (int64_t r = 0; r < n_out; ++r) type_traits(wt)->from_float(wf.data() + r * n_in, c.w.data() + r * n_in * 2, n_in);
  c.x.resize(static_cast<size_t>(n_in * n_tokens));
  for (float& v : c.x) v = nd(rng);
  return c;
}

std::vector<float> ggml_matmul(Isa isa, ThreadPool& pool, const Case& c, int64_t n_tokens, int64_t ldy) {
  std::vector<float> y(static_cast<size_t>(n_tokens * ldy), -1.0f);
  matmul_isa(isa, pool, c.wt, c.w.data(), c.n_in, c.n_out, c.x.data(), n_tokens, y.data(), ldy);
  return y;
}

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
  Aligned one(n), many(n);
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
      Aligned packed(repack_bytes_half_x4(n_in, n_out));
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
      EXPECT_EQ(got, ggml_matmul(Isa::Scalar, pool, c, n_tokens, n_out)) << "n_in " << n_in << " n_out " << n_out;
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
      Aligned packed(layout->bytes(n_in, n_out));
      repack_matrix(pool, *layout, c.w.data(), n_in, n_out, packed.p);
      for (int64_t nt : tokens) {
        const int64_t ldy = n_out + 3;
        std::vector<float> got(static_cast<size_t>(nt * ldy), -1.0f);
        matmul_packed(pool, *layout, packed.p, n_in, n_out, c.x.data(), nt, got.data(), ldy);
        const std::vector<float> want = ggml_matmul(active_isa(), pool, c, nt, ldy);
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t r = 0; r < n_out; ++r)
            ASSERT_EQ(got[t * ldy + r], want[t * ldy + r])
                << type_name(wt) << " n_in " << n_in << " n_out " << n_out << " tokens " << nt << " t " << t << " r " << r;
          for (int64_t r = n_out; r < ldy; ++r) ASSERT_EQ(got[t * ldy + r], -1.0f) << "wrote past n_out";
        }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, RepackHalf, ::testing::Values(TensorType::F16, TensorType::BF16),
                         [](const auto& i) { return std::string(type_name(i.param)); });

}  // namespace
}  // namespace kestrel::kernels
