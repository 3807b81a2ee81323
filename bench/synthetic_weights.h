#pragma once
// Synthetic weights and rotating weight copies for the matmul benchmarks (bench_matmul, bench_roofline):
// one definition of what a benchmark matrix holds and how its copies are laid out in memory.
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/quant.h"
#include "kernels/quant_k.h"
#include "kernels/quant_q2k_q3k_iq4xs.h"
#include "kernels/repack.h"
#include "kernels/thread_pool.h"
#include "kernels/type_traits.h"

namespace kestrel::bench {

// The kernels' block structs, converters and traits (inside this namespace only).
using namespace kestrel::kernels;

// Fast synthetic weights with realistic magnitudes (no denormals/NaNs): a quick LCG instead of
// quantizing random floats (the 128256-row shapes have 262M weights).
inline std::vector<uint8_t> make_weights(TensorType t, int64_t n_in, int64_t n_out) {
  const size_t bytes = *bytes_for(t, static_cast<uint64_t>(n_in)) * static_cast<size_t>(n_out);
  std::vector<uint8_t> w(bytes);
  uint32_t s = 12345;
  auto next = [&] { return s = s * 1664525u + 1013904223u; };
  const int64_t n = n_in * n_out;
  switch (t) {
    case TensorType::F32: {
      float* f = reinterpret_cast<float*>(w.data());
      for (int64_t i = 0; i < n; ++i) f[i] = static_cast<float>(static_cast<int32_t>(next()) >> 8) * 1e-9f;
      break;
    }
    case TensorType::F16:
    case TensorType::BF16: {
      uint16_t* h = reinterpret_cast<uint16_t*>(w.data());
      for (int64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(static_cast<int32_t>(next()) >> 8) * 1e-9f;
        h[i] = t == TensorType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
      }
      break;
    }
    case TensorType::Q8_0: {
      BlockQ8_0* b = reinterpret_cast<BlockQ8_0*>(w.data());
      for (int64_t i = 0; i < n / kQK; ++i) {
        b[i].d = fp32_to_fp16(0.01f);
        for (int j = 0; j < kQK; ++j) b[i].qs[j] = static_cast<int8_t>(static_cast<int>(next() >> 24) % 255 - 127);
      }
      break;
    }
    case TensorType::Q4_0: {
      BlockQ4_0* b = reinterpret_cast<BlockQ4_0*>(w.data());
      for (int64_t i = 0; i < n / kQK; ++i) {
        b[i].d = fp32_to_fp16(0.01f);
        for (int j = 0; j < kQK / 2; ++j) b[i].qs[j] = static_cast<uint8_t>(next() >> 24);
      }
      break;
    }
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::IQ4_NL: {
      // Random quant bytes, then scale 0.01 (and minimum -0.08 for the types that have one).
      const TypeLayout* l = type_layout(t);
      for (uint8_t& byte : w) byte = static_cast<uint8_t>(next() >> 24);
      const uint16_t d = fp32_to_fp16(0.01f), m = fp32_to_fp16(-0.08f);
      const bool has_min = t == TensorType::Q4_1 || t == TensorType::Q5_1;
      for (size_t off = 0; off < w.size(); off += l->block_bytes) {
        std::memcpy(&w[off], &d, 2);
        if (has_min) std::memcpy(&w[off + 2], &m, 2);
      }
      break;
    }
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::IQ4_XS: {
      // Random quants, levels, sub-block scales and mins; the f16 super-block scale (and minimum scale,
      // where the type has one) set to small finite values.
      size_t d_off = 0, dmin_off = SIZE_MAX;
      switch (t) {
        case TensorType::Q4_K: d_off = offsetof(BlockQ4_K, d), dmin_off = offsetof(BlockQ4_K, dmin); break;
        case TensorType::Q5_K: d_off = offsetof(BlockQ5_K, d), dmin_off = offsetof(BlockQ5_K, dmin); break;
        case TensorType::Q2_K: d_off = offsetof(BlockQ2_K, d), dmin_off = offsetof(BlockQ2_K, dmin); break;
        case TensorType::Q6_K: d_off = offsetof(BlockQ6_K, d); break;
        case TensorType::Q3_K: d_off = offsetof(BlockQ3_K, d); break;
        default: d_off = offsetof(BlockIQ4_XS, d); break;
      }
      for (size_t i = 0; i < bytes; ++i) w[i] = static_cast<uint8_t>(next() >> 24);
      const size_t bb = *bytes_for(t, kQK_K);
      const uint16_t d = fp32_to_fp16(0.001f);
      for (size_t off = 0; off < bytes; off += bb) {
        std::memcpy(w.data() + off + d_off, &d, 2);
        if (dmin_off != SIZE_MAX) std::memcpy(w.data() + off + dmin_off, &d, 2);
      }
      break;
    }
    default: break;
  }
  return w;
}

// Weight copies a benchmark cycles through: separate vectors (4 KiB pages), or (huge) pieces of one
// 2 MiB-aligned MADV_HUGEPAGE block, as the weight store holds repacked and copied matrices. With a
// layout, every copy is w0 packed into it (kernels/repack.h).
struct WeightCopies {
  std::vector<std::vector<uint8_t>> vecs;
  void* block = nullptr;
  std::vector<const void*> ptrs;
  WeightCopies() = default;
  WeightCopies(const WeightCopies&) = delete;
  WeightCopies& operator=(const WeightCopies&) = delete;
  ~WeightCopies() { std::free(block); }

  // false: out of memory.
  bool make(const std::vector<uint8_t>& w0, size_t copies, bool huge, const kernels::RepackLayout* layout,
            kernels::ThreadPool& pool, int64_t n_in, int64_t n_out) {
    if (!huge && layout == nullptr) {
      vecs.assign(copies, w0);
      for (const auto& v : vecs) ptrs.push_back(v.data());
      return true;
    }
    const size_t piece = (bytes(w0.size(), layout, n_in, n_out) + 4095) / 4096 * 4096;
    const size_t total = (piece * copies + (size_t{2} << 20) - 1) / (size_t{2} << 20) * (size_t{2} << 20);
    block = std::aligned_alloc(size_t{2} << 20, total);
    if (block == nullptr) return false;
    ::madvise(block, total, MADV_HUGEPAGE);
    for (size_t c = 0; c < copies; ++c) {
      void* p = static_cast<char*>(block) + c * piece;
      if (layout) kernels::repack_matrix(pool, *layout, w0.data(), n_in, n_out, p);
      else std::memcpy(p, w0.data(), w0.size());
      ptrs.push_back(p);
    }
    return true;
  }
  // Bytes one copy holds (what a call streams).
  static size_t bytes(size_t ggml_bytes, const kernels::RepackLayout* layout, int64_t n_in, int64_t n_out) {
    return layout ? layout->bytes(n_in, n_out) : ggml_bytes;
  }
};

// Copies of `bytes` each that together reach `footprint` (at least one).
inline size_t copies_for(size_t footprint, size_t bytes) { return std::max<size_t>(1, (footprint + bytes - 1) / bytes); }

}  // namespace kestrel::bench
