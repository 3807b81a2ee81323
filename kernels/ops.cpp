// Dispatch of the element-wise kernels to the active ISA's table (kernels/ops_isa.h).
#include "kernels/ops.h"

#include "kernels/ops_isa.h"

namespace kestrel::kernels {

const OpsKernels& ops_kernels(Isa isa) {
  if (isa != Isa::Scalar && isa_supported(isa)) {
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
      case Isa::Avx2: return avx2_ops_kernels();
      case Isa::Avx512: return avx512_ops_kernels();
#endif
#if defined(__aarch64__)
      case Isa::Neon: return neon_ops_kernels();
#endif
      default: break;
    }
  }
  return scalar_ops_kernels();
}

namespace {

// The active table's entry, or the scalar twin's where the table leaves it empty.
template <class Fn>
Fn pick(Isa isa, Fn OpsKernels::*entry) {
  Fn f = ops_kernels(isa).*entry;
  return f ? f : scalar_ops_kernels().*entry;
}

}  // namespace

void rmsnorm_isa(Isa isa, const float* x, const float* w, float* out, int64_t n, float eps) {
  if (n > 0) pick(isa, &OpsKernels::rmsnorm)(x, w, out, n, eps);
}
void softmax_isa(Isa isa, float* x, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::softmax)(x, n);
}
void swiglu_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::swiglu)(gate, up, out, n);
}
void silu_isa(Isa isa, float* x, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::silu)(x, n);
}
void gelu_isa(Isa isa, float* x, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::gelu)(x, n);
}
void geglu_isa(Isa isa, const float* gate, const float* up, float* out, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::geglu)(gate, up, out, n);
}
void layernorm_isa(Isa isa, const float* x, const float* w, const float* b, float* out, int64_t n, float eps) {
  if (n > 0) pick(isa, &OpsKernels::layernorm)(x, w, b, out, n, eps);
}
void softcap_isa(Isa isa, float* x, float cap, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::softcap)(x, cap, n);
}
void add_isa(Isa isa, const float* a, const float* b, float* out, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::add)(a, b, out, n);
}
void mul_isa(Isa isa, const float* a, const float* b, float* out, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::mul)(a, b, out, n);
}
void scale_isa(Isa isa, float* x, float s, int64_t n) {
  if (n > 0) pick(isa, &OpsKernels::scale)(x, s, n);
}

void rmsnorm(const float* x, const float* w, float* out, int64_t n, float eps) {
  rmsnorm_isa(active_isa(), x, w, out, n, eps);
}
void layernorm(const float* x, const float* w, const float* b, float* out, int64_t n, float eps) {
  layernorm_isa(active_isa(), x, w, b, out, n, eps);
}
void softmax(float* x, int64_t n) { softmax_isa(active_isa(), x, n); }
void silu(float* x, int64_t n) { silu_isa(active_isa(), x, n); }
void gelu(float* x, int64_t n) { gelu_isa(active_isa(), x, n); }
void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  swiglu_isa(active_isa(), gate, up, out, n);
}
void geglu(const float* gate, const float* up, float* out, int64_t n) {
  geglu_isa(active_isa(), gate, up, out, n);
}
void softcap(float* x, float cap, int64_t n) { softcap_isa(active_isa(), x, cap, n); }
void add(const float* a, const float* b, float* out, int64_t n) { add_isa(active_isa(), a, b, out, n); }
void mul(const float* a, const float* b, float* out, int64_t n) { mul_isa(active_isa(), a, b, out, n); }
void scale(float* x, float s, int64_t n) { scale_isa(active_isa(), x, s, n); }

}  // namespace kestrel::kernels
