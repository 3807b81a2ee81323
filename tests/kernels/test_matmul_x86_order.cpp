// The AVX-512 prompt kernels of Q8_0 (ggml rows and the q8_0x16 layout) and Q5_0 sum in llama.cpp's x86
// order (kernels/x86_lane_order.h: what its tinyBLAS computes for these batches), bit for bit against
// the scalar twins, on odd shapes: rows that are not a multiple of 16 or 32, jobs that start past row 0,
// 1-5 blocks, every batch of 8..37 tokens (the packed GEMM's token tiles and their tails) and thread
// splits. Without AMX only: the AMX tiles keep their own order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_isa.h"
#include "kernels/matmul_q32.h"
#include "kernels/quant.h"
#include "kernels/repack.h"
#include "kernels/repack_q32.h"
#include "kernels/type_traits.h"

#if defined(__x86_64__)
namespace kestrel::kernels {
namespace {

struct Weights {
  TensorType wt;
  int64_t n_in, n_out;
  std::vector<uint8_t> rows;  // ggml rows
  size_t row_bytes;
};

Weights make_weights(TensorType wt, int64_t n_in, int64_t n_out, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Weights w{wt, n_in, n_out, {}, *bytes_for(wt, n_in)};
  w.rows.resize(w.row_bytes * n_out);
  std::vector<float> f(static_cast<size_t>(n_in));
  for (int64_t r = 0; r < n_out; ++r) {
    for (float& v : f) v = nd(rng) * (1.0f + static_cast<float>(r % 7));  // scales differ per row
    type_traits(wt)->from_float(f.data(), w.rows.data() + r * w.row_bytes, n_in);
  }
  return w;
}

// Activations of n_tokens rows as the matmul converts them (64-byte rows, kernels/matmul_isa.h).
struct Acts {
  std::vector<float> f;
  std::vector<uint8_t> q;
  size_t row_bytes;
};

Acts make_acts(int64_t n_in, int64_t n_tokens, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Acts x{std::vector<float>(static_cast<size_t>(n_in * n_tokens)), {}, (*bytes_for(TensorType::Q8_0, n_in) + 63) / 64 * 64};
  for (float& v : x.f) v = nd(rng);
  x.q.resize(x.row_bytes * n_tokens);
  for (int64_t t = 0; t < n_tokens; ++t)
    scalar_matmul_kernels()->quantize_row_q8_0(x.f.data() + t * n_in, x.q.data() + t * x.row_bytes, n_in);
  return x;
}

// The scalar twin over all rows (ldy = n_out).
std::vector<float> reference(const Weights& w, const Acts& x, int64_t n_tokens) {
  std::vector<float> y(static_cast<size_t>(n_tokens * w.n_out));
  const GemmArgs a{w.rows.data(), w.row_bytes, w.n_in, x.q.data(), x.row_bytes, n_tokens, y.data(), w.n_out, 0, w.n_out, 0};
  (w.wt == TensorType::Q8_0 ? gemm_q8_0_x86_ref : gemm_q5_0_x86_ref)(a);
  return y;
}

bool usable() { return isa_supported(Isa::Avx512) && !amx_enabled(); }

class X86Order : public ::testing::TestWithParam<TensorType> {};

// The table's kernel called on one job (rows [r0, n_out)), and the whole matmul over a 2-thread pool.
TEST_P(X86Order, GgmlRowKernelsEqualTheScalarTwin) {
  if (!usable()) GTEST_SKIP() << "no AVX-512, or AMX tiles in use";
  const TensorType wt = GetParam();
  const MatmulKernels* k = avx512_matmul_kernels();
  const GemmFn gemm = wt == TensorType::Q8_0 ? k->gemm_q8_0 : k->gemm_q5_0;
  ThreadPool pool(2);
  std::mt19937 rng(wt == TensorType::Q8_0 ? 7 : 11);
  for (int64_t n_in : {32, 96, 160})
    for (int64_t n_out : {17, 45, 100}) {
      const Weights w = make_weights(wt, n_in, n_out, rng);
      const Acts x = make_acts(n_in, 37, rng);
      for (int64_t nt = 8; nt <= 37; ++nt) {
        const std::vector<float> want = reference(w, x, nt);
        const int64_t r0 = n_out > 32 ? 32 : 0;
        std::vector<float> got(static_cast<size_t>(nt * (n_out + 3)), std::nanf(""));
        const GemmArgs a{w.rows.data(), w.row_bytes, n_in, x.q.data(), x.row_bytes, nt, got.data(), n_out + 3, r0, n_out, 0};
        gemm(a);
        std::vector<float> all(static_cast<size_t>(nt * n_out));
        matmul_isa(Isa::Avx512, pool, wt, w.rows.data(), n_in, n_out, x.f.data(), nt, all.data(), n_out);
        for (int64_t t = 0; t < nt; ++t)
          for (int64_t r = 0; r < n_out + 3; ++r) {
            const float g = got[t * (n_out + 3) + r];
            if (r < r0 || r >= n_out) {
              ASSERT_TRUE(std::isnan(g)) << "wrote outside the job: row " << r;
              continue;
            }
            ASSERT_EQ(g, want[t * n_out + r]) << type_name(wt) << " n_in " << n_in << " n_out " << n_out << " tokens " << nt
                                              << " t " << t << " r " << r;
            ASSERT_EQ(all[t * n_out + r], want[t * n_out + r]) << "matmul_isa, tokens " << nt << " t " << t << " r " << r;
          }
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Types, X86Order, ::testing::Values(TensorType::Q8_0, TensorType::Q5_0),
                         [](const auto& i) { return std::string(type_name(i.param)); });

// The q8_0x16 layout (kernels/repack_q32.h): decode and prompt batches alike equal its x86-order
// reference, which equals the ggml-row twin.
TEST(X86Order, Q8_0x16LayoutEqualsTheScalarTwins) {
  const RepackLayout* layout = repack_layout(active_isa(), TensorType::Q8_0);
  if (!usable() || layout == nullptr || active_isa() != Isa::Avx512) GTEST_SKIP() << "no AVX-512 q8_0x16 layout";
  ThreadPool pool(2);
  std::mt19937 rng(5);
  for (int64_t n_in : {32, 96, 160})
    for (int64_t n_out : {17, 45, 100}) {
      const Weights w = make_weights(TensorType::Q8_0, n_in, n_out, rng);
      const Acts x = make_acts(n_in, 37, rng);
      const size_t bytes = layout->bytes(n_in, n_out);
      void* packed = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      repack_matrix(pool, *layout, w.rows.data(), n_in, n_out, packed);
      for (int64_t nt = 1; nt <= 37; ++nt) {
        const std::vector<float> want = reference(w, x, nt);
        std::vector<float> ref16(static_cast<size_t>(nt * n_out));
        const GemmArgs a{packed, 0, n_in, x.q.data(), x.row_bytes, nt, ref16.data(), n_out, 0, n_out, 0};
        repack_gemm_q8_0x16_x86_ref(a);
        std::vector<float> got(static_cast<size_t>(nt * n_out));
        matmul_packed(pool, *layout, packed, n_in, n_out, x.f.data(), nt, got.data(), n_out);
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_EQ(ref16[i], want[i]) << "the two scalar twins differ: n_in " << n_in << " n_out " << n_out << " i " << i;
          ASSERT_EQ(got[i], want[i]) << "n_in " << n_in << " n_out " << n_out << " tokens " << nt << " i " << i;
        }
      }
      std::free(packed);
    }
}

}  // namespace
}  // namespace kestrel::kernels
#else
TEST(X86Order, X86KernelsOnly) { GTEST_SKIP() << "the x86-order kernels are AVX-512 code"; }
#endif
