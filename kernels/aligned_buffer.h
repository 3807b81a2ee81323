#pragma once
// Grow-only 64-byte aligned scratch, kept per thread (thread_local) by the matmul driver and the packed
// kernels: it grows to the largest call and is then reused, so the decode and prompt hot paths do not
// allocate. In an anonymous namespace like the ISA files' helpers (see
// kernels/avx512/gemm_tile_avx512.h): every translation unit that includes it has its own copy.
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace kestrel::kernels {
namespace {

struct AlignedBuffer {
  void* p = nullptr;
  size_t cap = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(p); }
  // At least `bytes` bytes; the old contents are not kept when it grows (by a quarter more than asked).
  void* get(size_t bytes) {
    if (bytes > cap) {
      std::free(p);
      cap = (bytes + bytes / 4 + 63) / 64 * 64;
      p = std::aligned_alloc(64, cap);
      if (p == nullptr) {
        std::fprintf(stderr, "kestrel: out of memory for %zu bytes of matmul scratch\n", cap);
        std::abort();
      }
    }
    return p;
  }
};

}  // namespace
}  // namespace kestrel::kernels
