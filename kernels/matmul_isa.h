#pragma once
// Internal (not a public contract for model/ code): the per-ISA matmul kernel table that
// kernels/matmul.cpp dispatches through. Each ISA directory (scalar/, avx2/, avx512/, neon/) defines one
// table; matmul.cpp does the shared work (activation conversion into pooled scratch, splitting output
// rows over the thread pool, token blocking) and calls the table's entries on sub-ranges.
//
// Activation formats (the "vec_dot_type" rows the gemm kernels read) are the ggml storage formats, so
// every ISA converts activations to the same bytes and the integer paths of all ISAs see identical
// quantized activations:
//   weights F32  -> activations F32 (used in place, no conversion)
//   weights F16  -> activations F16  (round-to-nearest-even, same bits as fp32_to_fp16)
//   weights BF16 -> activations BF16 (same bits as fp32_to_bf16)
//   weights Q8_0, Q4_0, Q5_0, IQ4_NL -> activations Q8_0 blocks (f16 d + 32 x int8), same bytes as the
//                          reference quantize_row_q8_0 (type_traits(Q8_0)->from_float)
//   weights Q4_1, Q5_1 -> activations Q8_1 blocks (Q8_0 plus f16 s = d * sum(q)), same bytes as
//                          quantize_row_q8_1_ref (type_traits(Q8_1)->from_float)
//   weights Q4_K, Q5_K, Q6_K, Q2_K, Q3_K, IQ4_XS -> activations Q8_K blocks (f32 d + 256 x int8
//                          + 16 int16 sums of 16), same bytes as quantize_row_q8_K_ref; rows are padded
//                          to 64 bytes like the others (x_row_bytes = round_up(292 * n_in / 256, 64))
// An ISA's converters must produce bit-identical output to the scalar ones (tests check this).
//
// A table entry may be nullptr: matmul.cpp then uses the scalar table's entry for that slot, so an ISA
// can be brought up one type at a time.
#include <cstddef>
#include <cstdint>

#include "gguf/tensor_type.h"
#include "kernels/isa.h"
#include "kernels/thread_pool.h"

namespace kestrel::kernels {

// Converts n floats (one activation row) to the activation format. n is a multiple of 32 for Q8_0.
using ConvertRowFn = void (*)(const float* x, void* dst, int64_t n);

// One tile job: for every output row r in [row_begin, row_end) and token t in [0, n_tokens):
//   y[t * ldy + r] = dot(W row r, activation row t)
// W row r starts at (const char*)w + r * w_row_bytes; activation row t starts at
// (const char*)x + t * x_row_bytes and is in the activation format of the weight type (see above).
// Rows of w are NOT guaranteed to be aligned (GGUF rows of 18*n/32 bytes); activation rows are 64-byte
// aligned when matmul.cpp converted them (x_row_bytes is a multiple of 64), but F32 activations used in
// place have only float alignment. Kernels must accept any n_tokens >= 1 and any row range (including
// a tail that is not a multiple of their register tile) and must not write outside the rectangle.
// n_in is a multiple of 32 for the 32-value block types, of 256 for K-quants; any n_in >= 1 for F32/F16/BF16.
struct GemmArgs {
  const void* w;
  size_t w_row_bytes;
  int64_t n_in;
  const void* x;
  size_t x_row_bytes;
  int64_t n_tokens;
  float* y;
  int64_t ldy;
  int64_t row_begin;
  int64_t row_end;
  // Distinct for every matmul call (0 = unknown). Kernels may cache per-call work derived from the
  // activations (e.g. per-block sums) in thread-local storage keyed by (call_id, x).
  uint64_t call_id = 0;
};
using GemmFn = void (*)(const GemmArgs& a);

struct MatmulKernels {
  const char* name;  // "scalar", "avx2", "avx512", "neon"

  // Activation converters.
  ConvertRowFn quantize_row_q8_0;  // f32 -> Q8_0 blocks
  ConvertRowFn fp32_to_fp16_row;   // f32 -> f16 (RNE)
  ConvertRowFn fp32_to_bf16_row;   // f32 -> bf16 (RNE, NaN kept quiet)
  ConvertRowFn quantize_row_q8_1;  // f32 -> Q8_1 blocks

  // Tile kernels, one per weight type.
  GemmFn gemm_f32;
  GemmFn gemm_f16;
  GemmFn gemm_bf16;
  GemmFn gemm_q8_0;
  GemmFn gemm_q4_0;
  // The other 32-value block types (kernels/quant_q32.h; per-ISA code in */matmul_q32_*.cpp).
  GemmFn gemm_q4_1;
  GemmFn gemm_q5_0;
  GemmFn gemm_q5_1;
  GemmFn gemm_iq4_nl;

  // K-quant family (kernels/<isa>/matmul_kquants_<isa>.cpp fills these through set_kquant_kernels_*).
  ConvertRowFn quantize_row_q8_K;  // f32 -> Q8_K blocks (n a multiple of 256)
  GemmFn gemm_q4_K;
  GemmFn gemm_q5_K;
  GemmFn gemm_q6_K;

  // Low-bit super-block types, Q8_K activations (kernels/<isa>/matmul_lowbit_<isa>.cpp fills these
  // through set_lowbit_kernels_*).
  GemmFn gemm_q2_K;
  GemmFn gemm_q3_K;
  GemmFn gemm_iq4_xs;
};

// One matrix of a matmul_run call: y[n_tokens][ldy] = W x, W of type wt (n_out rows) read by gemm with
// w / w_row_bytes as given (ggml rows: their stride; a repacked layout: 0).
struct MatmulPart {
  TensorType wt;
  GemmFn gemm;
  const void* w;
  size_t w_row_bytes;
  int64_t n_out;
  float* y;
  int64_t ldy;
};
constexpr int kMaxMatmulParts = 4;

// The matmul driver behind matmul_isa and matmul_view(s) (kernels/matmul.cpp): converts the activations
// once per activation format with `isa`'s converters, splits (token block x 32-row-multiple row chunk)
// jobs of all parts (1..kMaxMatmulParts matrices of the same input, n_in values per token) over the pool
// in one job list and calls each part's gemm on its jobs. One list instead of one per matrix: decode's
// attention Q/K/V and FFN gate/up are 2-3 small matrices, and every list ends in a wait for the
// slowest thread. Each output row is computed exactly as by a call of its own. Shapes must have passed
// matmul_check.
void matmul_run(Isa isa, ThreadPool& pool, const MatmulPart* parts, int n_parts, int64_t n_in, const float* x,
                int64_t n_tokens);

// The part for W of type wt in the ggml layout on `isa` (its kernel, else the scalar one); aborts with
// matmul_check's message on a caller bug.
MatmulPart matmul_part(Isa isa, TensorType wt, const void* w, int64_t n_in, int64_t n_out, int64_t n_tokens, float* y,
                       int64_t ldy);

// Each ISA's K-quant file sets its entries of that ISA's table (called while the table is built).
void set_kquant_kernels_scalar(MatmulKernels& k);
#if defined(__x86_64__) || defined(_M_X64)
void set_kquant_kernels_avx2(MatmulKernels& k);
void set_kquant_kernels_avx512(MatmulKernels& k);
#endif
#if defined(__aarch64__)
void set_kquant_kernels_neon(MatmulKernels& k);
#endif
void set_lowbit_kernels_scalar(MatmulKernels& k);
#if defined(__x86_64__) || defined(_M_X64)
void set_lowbit_kernels_avx2(MatmulKernels& k);
void set_lowbit_kernels_avx512(MatmulKernels& k);
#endif
#if defined(__aarch64__)
void set_lowbit_kernels_neon(MatmulKernels& k);
#endif

// Defined in kernels/scalar/ (always), kernels/avx2/ and kernels/avx512/ (x86-64 builds), and
// kernels/neon/ (aarch64 builds). Only call an ISA's table after isa_supported() said yes.
const MatmulKernels* scalar_matmul_kernels();
#if defined(__x86_64__) || defined(_M_X64)
// The avx512 tier requires AVX-512 F+BW+VL+DQ+VNNI (isa.cpp checks); AVX512-BF16 is optional and the
// avx512 table picks its BF16 kernel with this query (defined in isa.cpp).
bool cpu_has_avx512_bf16();
// AMX int8 tiles (Sapphire Rapids and later): the CPU has AMX-TILE + AMX-INT8, the OS enabled the tile
// state and granted this process permission to use it (isa.cpp). The avx512 table's prompt kernels
// (the packed batch path, see gemm_amx_avx512.h) then run their integer products on the tiles.
bool cpu_has_amx_int8();
// cpu_has_amx_int8() and not switched off (env KESTREL_AMX=0, or set_amx_enabled(false), which tests
// and benchmarks use to compare the AMX and VNNI paths). set_amx_enabled returns the previous state.
bool amx_enabled();
bool set_amx_enabled(bool on);
// AMX-TILE + AMX-BF16 with the tile state granted (isa.cpp), and amx_bf16_enabled(): that and the same
// switch as amx_enabled() (KESTREL_AMX=0 / set_amx_enabled(false) turn both off). The avx512 table's
// F16 and BF16 prompt kernels then run on BF16 tiles (kernels/avx512/gemm_amx_half_avx512.h).
bool cpu_has_amx_bf16();
bool amx_bf16_enabled();
// How the decode kernels that read one sequential weight stream per row group (the load-time layouts)
// software-prefetch it: bytes ahead, into L1 or L2, and (q8_0x16 / q4_0x16 / f16x4 / bf16x4 / q4_Kx16)
// how many of a job's groups a thread reads side by side, each its own stream. Chosen once per CPU vendor and
// layout (isa.cpp), since the best pacing differs between Intel's and AMD's cores.
enum class StreamLayout { kQ8x16, kQ4x16, kHalf4, kQ4KX16 };  // q8_0x16, q4_0x16, f16x4 / bf16x4, q4_Kx16
struct StreamPrefetch {
  int64_t ahead;
  bool l2;          // _MM_HINT_T1 (else T0)
  int streams = 1;  // groups read side by side per thread (1..4; kQ4KX16: 1..2, one-token jobs)
};
StreamPrefetch decode_stream_prefetch(StreamLayout layout);
// Tests: every layout reads `streams` groups side by side (clamped per kernel as above; 0: the CPU's
// choice again). Returns the previous setting.
int set_decode_streams(int streams);
const MatmulKernels* avx2_matmul_kernels();
const MatmulKernels* avx512_matmul_kernels();
// The avx512 table with the BF16 kernel that does not use AVX512-BF16 (tests check both variants).
const MatmulKernels* avx512_matmul_kernels_no_bf16_dot();
#endif
#if defined(__aarch64__)
const MatmulKernels* neon_matmul_kernels();
#endif

}  // namespace kestrel::kernels
