// AVX-512 VNNI kernels over the repacked q8_0x16 / q4_0x16 layouts (kernels/repack_q32.h defines the
// bytes and the reference gemms these must equal bit for bit).
//
// Decode (n_tokens < kPackedMinTokens): per 32-row panel (two 16-row groups) and up to 4 tokens, each
// block costs per group 8 aligned 64-byte weight loads (Q4_0: 4 loads, split into low / high nibbles),
// one broadcast activation dword per load shared by all 16 rows, 8 VPDPBUSD, and one fp16 scale vector
// for the 16 rows. The unsigned offset (128, or Q4_0's 8) is removed by starting the block's chain at
// -off * sum(x_block), computed once per call and thread. The float steps are llama.cpp's x86 order
// (ggml_vec_dot_q8_0_q8_0 / _q4_0_q8_0 and tinyBLAS_Q0_AVX): each of the 8 dword steps of a block is
// its own lane (chain start -off * the sum of those 4 activations), lane_k = fma(d_w * d_x, isum_k,
// lane_k), and the output is hsum_float_8's tree; one token at a time, so the 8 lanes of one 16-row
// group stay in registers. Decode results equal repack_gemm_q*_0x16_x86_ref exactly. With AMX on, decode
// sums in the order of llama.cpp's AMX buffer instead (ggml-cpu/amx/mmq.cpp, tinygemm_kernel_vnni, which
// its sapphirerapids build runs for every Q4_0 / Q8_0 matrix of one token): per block the exact integer
// sum, then acc = fma(float(isum), d_w * d_x, acc), block after block (repack_gemm_q*_0x16_chain_ref):
// 1 convert + 1 FMA per block of 16 rows instead of 8 + 8, which leaves Q4_0's tile memory-bound.
// Prompts (n_tokens >= kPackedMinTokens): the shared packed GEMM (gemm_packed_avx512.h, VNNI or AMX)
// with a panel builder that copies the layout's vectors (Q4_0: splits nibbles) instead of gathering and
// transposing ggml rows; the panels, and so the results, equal those of the ggml-layout kernels (Q8_0
// without AMX in the x86 order of the decode kernels, PackedOrder::kX86Lanes; Q4_0 the block chain).
#include <algorithm>

#include "kernels/avx512/gemm_packed_avx512.h"
#include "kernels/decode_streams.h"
#include "kernels/repack_isa.h"
#include "kernels/repack_q32.h"

namespace kestrel::kernels {
namespace {

template <bool kQ4>
struct Lay {
  static constexpr size_t kPair = kQ4 ? kQ4x16PairBytes : kQ8x16PairBytes;
  static constexpr size_t kHalf = kQ4 ? 256 : 512;  // quant bytes of one block of a group
  static constexpr int32_t kOff = kQ4 ? 8 : 128;
  // Prompt batches: llama.cpp's x86 order for Q8_0 (its tinyBLAS); its Q4_0 batches run on its own
  // 8x8 repacked kernels, in another order, so Q4_0 keeps the faster block chain.
  static constexpr PackedOrder kOrder = kQ4 ? PackedOrder::kBlockChain : PackedOrder::kX86Lanes;
};

inline int32_t load_i32(const char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Rows [r0[g], r0[g] + rows[g]) (G 16-row groups, each one sequential stream) x token t. corr:
// [t][block][8] (-off * the sum of each activation dword), dx: [block][n_tokens]. Each stream is
// prefetched `ahead` bytes ahead into L1 or (kL2) L2; how many streams a thread reads side by side and
// the pacing are per CPU vendor (decode_stream_prefetch, isa.cpp): on AMD Zen 5 tiles of two adjacent
// groups read DRAM at 81-85% of the rate of one (Q4_0 2048x8192 and 4096x14336, 2 threads, interleaved
// A/B, 2026-12-01; Q8_0 88-92%), on the Xeon 4 distant groups read faster than one (isa.cpp).
// kChain: the block chain (AMX machines, see the top), else llama.cpp's 8 x86 lanes.
template <bool kQ4, bool kL2, int G, bool kChain>
void decode_group(const GemmArgs& a, const int32_t* corr, const float* dx, const int64_t* r0, const int* rows, int64_t t, int64_t ahead) {
  using L = Lay<kQ4>;
  const int64_t nb = a.n_in / kQK, np = (nb + 1) / 2;
  const uint8_t* gp[G];
  uintptr_t pf[G];  // addresses past the tensor's end are only prefetched (never faults): integers
  for (int g = 0; g < G; ++g) {
    gp[g] = static_cast<const uint8_t*>(a.w) + static_cast<size_t>((r0[g] / kRepackRows) * np) * L::kPair;
    pf[g] = reinterpret_cast<uintptr_t>(gp[g]) + ahead;
  }
  const char* xr = static_cast<const char*>(a.x) + t * a.x_row_bytes + 2;
  __m512 acc[G][8];
  for (int g = 0; g < G; ++g)
    for (int k = 0; k < 8; ++k) acc[g][k] = _mm512_setzero_ps();
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < nb; ++b) {
    const size_t off = static_cast<size_t>(b >> 1) * L::kPair + static_cast<size_t>(b & 1) * L::kHalf;
    const int32_t* cb = corr + (t * nb + b) * 8;
    const char* xb = xr + b * 34;
    const size_t d_off = static_cast<size_t>(b >> 1) * L::kPair + 2 * L::kHalf + static_cast<size_t>(b & 1) * 32;
    const __m512 dxb = _mm512_set1_ps(dx[b * a.n_tokens + t]);
    // kChain: one chain per half block (dwords 0..3, 4..7), started at the sum of its corrections.
    const __m512i c_lo = _mm512_set1_epi32(cb[0] + cb[1] + cb[2] + cb[3]);
    const __m512i c_hi = _mm512_set1_epi32(cb[4] + cb[5] + cb[6] + cb[7]);
    for (int g = 0; g < G; ++g) {
      // The group is one sequential stream; the hardware prefetcher alone does not keep DRAM busy while
      // this thread computes (decode_rows4_avx512.h measured the same): fetch the lines `ahead` bytes
      // ahead, half a pair per block (a whole Q8_0 pair's 17 at once left the kernel slower).
      for (const uintptr_t end = reinterpret_cast<uintptr_t>(gp[g]) + (b + 1) * (L::kPair / 2) + ahead; pf[g] < end; pf[g] += 64)
        _mm_prefetch(reinterpret_cast<const char*>(pf[g]), kL2 ? _MM_HINT_T1 : _MM_HINT_T0);
      const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(gp[g] + d_off)));
      const __m512 d = _mm512_mul_ps(dw, dxb);
      if constexpr (kChain) {
        __m512i lo = c_lo, hi = c_hi;
        for (int j = 0; j < 4; ++j) {
          const __m512i x_lo = _mm512_set1_epi32(load_i32(xb + 4 * j)), x_hi = _mm512_set1_epi32(load_i32(xb + 16 + 4 * j));
          if constexpr (kQ4) {  // the high nibbles in place as below: hi is 16 times its sum, exactly
            const __m512i v = _mm512_load_si512(gp[g] + off + j * 64);
            lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v, nib), x_lo);
            hi = _mm512_dpbusd_epi32(hi, _mm512_andnot_si512(nib, v), x_hi);
          } else {
            lo = _mm512_dpbusd_epi32(lo, _mm512_load_si512(gp[g] + off + j * 64), x_lo);
            hi = _mm512_dpbusd_epi32(hi, _mm512_load_si512(gp[g] + off + (4 + j) * 64), x_hi);
          }
        }
        const __m512i isum = _mm512_add_epi32(lo, kQ4 ? _mm512_srai_epi32(hi, 4) : hi);
        acc[g][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[g][0]);
        continue;
      }
      __m512i is[8];
      if constexpr (kQ4) {
        // The high nibbles in place (v & 0xF0 = 16 q): lanes 4..7 are 16 times their sums (corr too,
        // lane_tables' hi_mul), exact below 2^24, and take d / 16, exact as d = dw * dx is the product
        // of two fp16 values. The same bits as shifting, one vector shift (a Zen 4 multiply-pipe uop)
        // less per 128 values.
        for (int j = 0; j < 4; ++j) {
          const __m512i v = _mm512_load_si512(gp[g] + off + j * 64);
          const __m512i lo = _mm512_and_si512(v, nib), hi = _mm512_andnot_si512(nib, v);
          is[j] = _mm512_dpbusd_epi32(_mm512_set1_epi32(cb[j]), lo, _mm512_set1_epi32(load_i32(xb + 4 * j)));
          is[4 + j] = _mm512_dpbusd_epi32(_mm512_set1_epi32(cb[4 + j]), hi, _mm512_set1_epi32(load_i32(xb + 16 + 4 * j)));
        }
      } else {
        for (int k = 0; k < 8; ++k)
          is[k] = _mm512_dpbusd_epi32(_mm512_set1_epi32(cb[k]), _mm512_load_si512(gp[g] + off + k * 64), _mm512_set1_epi32(load_i32(xb + 4 * k)));
      }
      const __m512 d_hi = kQ4 ? _mm512_mul_ps(d, _mm512_set1_ps(1.0f / 16)) : d;
      for (int k = 0; k < 8; ++k) acc[g][k] = _mm512_fmadd_ps(k < 4 ? d : d_hi, _mm512_cvtepi32_ps(is[k]), acc[g][k]);
    }
  }
  for (int g = 0; g < G; ++g) {
    const __m512* l = acc[g];
    const __m512 s = kChain ? l[0] : _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[4], l[0]), _mm512_add_ps(l[6], l[2])),
                                   _mm512_add_ps(_mm512_add_ps(l[5], l[1]), _mm512_add_ps(l[7], l[3])));
    _mm512_mask_storeu_ps(a.y + t * a.ldy + r0[g], static_cast<__mmask16>((1u << rows[g]) - 1), s);
  }
}

// The job's groups, pf.streams of them side by side (kernels/decode_streams.h) with the block chain
// (one accumulator per group); llama.cpp's 8 lanes hold 8 per group, so there Q4_0 reads at most 2 side
// by side and Q8_0 one (two measured 1-2% slower on the Xeon).
template <bool kQ4, bool kL2, bool kChain>
void decode_rows(const GemmArgs& a, const LaneTables& lt, const StreamPrefetch& pf) {
  const int64_t n = (a.row_end - a.row_begin + 15) / 16;
  with_streams(kChain ? pf.streams : std::min(pf.streams, kQ4 ? 2 : 1), [&]<int S>() {
    stream_rounds<S>(n, [&]<int G>(const int64_t* idx) {
      int64_t r[G];
      int rows[G];
      for (int k = 0; k < G; ++k) {
        r[k] = a.row_begin + 16 * idx[k];
        rows[k] = static_cast<int>(a.row_end - r[k] < 16 ? a.row_end - r[k] : 16);
      }
      for (int64_t t = 0; t < a.n_tokens; ++t) decode_group<kQ4, kL2, G, kChain>(a, lt.corr, lt.dx, r, rows, t, pf.ahead);
    });
  });
}

template <bool kQ4>
void decode(const GemmArgs& a) {
  const LaneTables lt = lane_tables(a, a.n_in / kQK, Lay<kQ4>::kOff, kQ4 ? 16 : 1);
  const StreamPrefetch pf = decode_stream_prefetch(kQ4 ? StreamLayout::kQ4x16 : StreamLayout::kQ8x16);  // per job: tests vary the streams
  const bool chain = amx_enabled();
  if (pf.l2) chain ? decode_rows<kQ4, true, true>(a, lt, pf) : decode_rows<kQ4, true, false>(a, lt, pf);
  else chain ? decode_rows<kQ4, false, true>(a, lt, pf) : decode_rows<kQ4, false, false>(a, lt, pf);
}

// gemm_packed's panel (gemm_packed_avx512.h) from the layout: group g's block b is already the panel's
// [k][row][4] vectors (Q4_0: after splitting the nibbles); scales widen from fp16.
template <bool kQ4>
void pack_panel_from_layout(const GemmArgs& a, int64_t r0, int rows, int64_t nb, uint8_t* panel) {
  using L = Lay<kQ4>;
  const int64_t np = (nb + 1) / 2;
  const __m512i nib = _mm512_set1_epi8(0x0F);
  for (int g = 0; g < 2; ++g) {
    const bool present = rows > 16 * g;
    const uint8_t* gp = static_cast<const uint8_t*>(a.w) + static_cast<size_t>((r0 / kRepackRows + g) * np) * L::kPair;
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* pw = panel + b * kPanelBlockBytes + g * 512;
      float* ps = reinterpret_cast<float*>(panel + b * kPanelBlockBytes + kPanelWeightBytes) + 16 * g;
      if (!present) {
        for (int k = 0; k < 8; ++k) _mm512_store_si512(pw + k * 64, _mm512_setzero_si512());
        _mm512_store_ps(ps, _mm512_setzero_ps());
        continue;
      }
      const uint8_t* q = gp + static_cast<size_t>(b >> 1) * L::kPair + static_cast<size_t>(b & 1) * L::kHalf;
      if constexpr (kQ4) {
        for (int j = 0; j < 4; ++j) {
          const __m512i v = _mm512_load_si512(q + j * 64);
          _mm512_store_si512(pw + j * 64, _mm512_and_si512(v, nib));
          _mm512_store_si512(pw + (4 + j) * 64, _mm512_and_si512(_mm512_srli_epi16(v, 4), nib));
        }
      } else {
        for (int k = 0; k < 8; ++k) _mm512_store_si512(pw + k * 64, _mm512_load_si512(q + k * 64));
      }
      const uint8_t* d = gp + static_cast<size_t>(b >> 1) * L::kPair + 2 * L::kHalf + static_cast<size_t>(b & 1) * 32;
      _mm512_store_ps(ps, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d))));
    }
  }
}

// The packer (the bytes of repack_pack_q*_0x16, which tests compare): per 16-row group and block, one
// dword gather per layout vector (the same dword of 16 rows' blocks), plus one for the 16 fp16 scales.
// Rows past n_out are masked off and read as padding. ~10x the portable packer's speed: packing a 1B
// model is a small part of its load time.
template <bool kQ4>
void pack_avx512(const void* src, int64_t n_in, int64_t n_out, int64_t r0, int64_t r1, void* dst) {
  using L = Lay<kQ4>;
  constexpr int64_t kBlock = kQ4 ? 18 : 34;
  constexpr int kVecs = kQ4 ? 4 : 8;
  const int64_t nb = n_in / kQK, np = (nb + 1) / 2, rb = nb * kBlock;
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(static_cast<int32_t>(rb)));
  const __m512i pad = _mm512_set1_epi8(static_cast<char>(kQ4 ? 0x88 : 0x00));  // Q8_0: 0 + 128 after the flip
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(kQ4 ? 0x00 : 0x80));
  for (int64_t g = r0 / kRepackRows; g * kRepackRows < r1; ++g) {
    const int64_t left = n_out - g * kRepackRows;
    const __mmask16 m = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
    const char* rows = static_cast<const char*>(src) + g * kRepackRows * rb;
    uint8_t* gp = static_cast<uint8_t*>(dst) + static_cast<size_t>(g * np) * L::kPair;
    for (int64_t b = 0; b < 2 * np; ++b) {
      uint8_t* q = gp + static_cast<size_t>(b >> 1) * L::kPair + static_cast<size_t>(b & 1) * L::kHalf;
      __m256i* d = reinterpret_cast<__m256i*>(gp + static_cast<size_t>(b >> 1) * L::kPair + 2 * L::kHalf +
                                              static_cast<size_t>(b & 1) * 32);
      if (b >= nb) {  // the padding block of an odd count
        for (int k = 0; k < kVecs; ++k) _mm512_store_si512(q + k * 64, _mm512_xor_si512(pad, flip));
        _mm256_store_si256(d, _mm256_setzero_si256());
        continue;
      }
      const char* blk = rows + b * kBlock;
      for (int k = 0; k < kVecs; ++k) {
        const __m512i v = _mm512_mask_i32gather_epi32(pad, m, idx, blk + 2 + 4 * k, 1);
        _mm512_store_si512(q + k * 64, _mm512_xor_si512(v, flip));
      }
      // The scale's 2 bytes plus the first 2 quant bytes (inside the block), keep the low 16 bits.
      const __m512i dd = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, blk, 1);
      _mm256_store_si256(d, _mm512_cvtepi32_epi16(dd));
    }
  }
}

// gemm_packed names an unpacker for its default panel builder; ours replaces that builder.
void unpack_unused(const char*, int64_t, uint8_t* out, float* d, float* m) {
  std::memset(out, 0, 32);
  *d = 0.0f;
  *m = 0.0f;
}

template <bool kQ4>
void gemm_x16(const GemmArgs& a) {
  if (a.n_tokens < kPackedMinTokens) decode<kQ4>(a);
  else gemm_packed<unpack_unused, ActQ8_0, false, pack_panel_from_layout<kQ4>, Lay<kQ4>::kOrder>(a, Lay<kQ4>::kOff);
}

}  // namespace

const RepackLayout* repack_layout_q8_0_avx512() {
  static const RepackLayout k{TensorType::Q8_0, "q8_0x16", repack_bytes_q8_0x16, kRepackRows, pack_avx512<false>,
                              gemm_x16<false>, repack_unpack_row_q8_0x16};
  return &k;
}

const RepackLayout* repack_layout_q4_0_avx512() {
  static const RepackLayout k{TensorType::Q4_0, "q4_0x16", repack_bytes_q4_0x16, kRepackRows, pack_avx512<true>,
                              gemm_x16<true>, repack_unpack_row_q4_0x16};
  return &k;
}

}  // namespace kestrel::kernels
