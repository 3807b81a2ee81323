// matmul driver: validates, converts activations once per call into reusable scratch, then splits
// (token block x row chunk) jobs over the pool with dynamic scheduling (the machine is shared, so a
// static split would wait for the slowest thread). The arithmetic is in the per-ISA tables.
#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/aligned_buffer.h"
#include "kernels/matmul_isa.h"
#include "kernels/quant.h"
#include "kernels/quant_q32.h"
#include "kernels/quant_k.h"
#include "kernels/type_traits.h"

namespace kestrel::kernels {
namespace {

const MatmulKernels* table_for(Isa isa) {
  if (!isa_supported(isa)) return scalar_matmul_kernels();
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2: return avx2_matmul_kernels();
    case Isa::Avx512: return avx512_matmul_kernels();
#endif
#if defined(__aarch64__)
    case Isa::Neon: return neon_matmul_kernels();
#endif
    default: return scalar_matmul_kernels();
  }
}

GemmFn gemm_slot(const MatmulKernels* k, TensorType wt) {
  switch (wt) {
    case TensorType::F32: return k->gemm_f32;
    case TensorType::F16: return k->gemm_f16;
    case TensorType::BF16: return k->gemm_bf16;
    case TensorType::Q8_0: return k->gemm_q8_0;
    case TensorType::Q4_0: return k->gemm_q4_0;
    case TensorType::Q4_1: return k->gemm_q4_1;
    case TensorType::Q5_0: return k->gemm_q5_0;
    case TensorType::Q5_1: return k->gemm_q5_1;
    case TensorType::IQ4_NL: return k->gemm_iq4_nl;
    case TensorType::Q4_K: return k->gemm_q4_K;
    case TensorType::Q5_K: return k->gemm_q5_K;
    case TensorType::Q6_K: return k->gemm_q6_K;
    case TensorType::Q2_K: return k->gemm_q2_K;
    case TensorType::Q3_K: return k->gemm_q3_K;
    case TensorType::IQ4_XS: return k->gemm_iq4_xs;
    default: return nullptr;
  }
}

// Converter for the weight type's activation format; nullptr for F32 (activations used in place).
ConvertRowFn convert_slot(const MatmulKernels* k, TensorType wt) {
  switch (wt) {
    case TensorType::F16: return k->fp32_to_fp16_row;
    case TensorType::BF16: return k->fp32_to_bf16_row;
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL: return k->quantize_row_q8_0;
    case TensorType::Q4_1:
    case TensorType::Q5_1: return k->quantize_row_q8_1;
    default: break;
  }
  switch (type_traits(wt)->vec_dot_type) {
    case TensorType::Q8_K: return k->quantize_row_q8_K;
    default: return nullptr;
  }
}

// Weight types whose kernels take integer dot products against quantized activations.
bool is_block_quant(TensorType wt) {
  switch (wt) {
    case TensorType::Q8_0: case TensorType::Q4_0: case TensorType::Q4_1: case TensorType::Q5_0:
    case TensorType::Q5_1: case TensorType::IQ4_NL: return true;
    default: return false;
  }
}

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

size_t act_row_bytes(TensorType wt, int64_t n_in) {
  switch (wt) {
    case TensorType::F16:
    case TensorType::BF16: return round_up(static_cast<size_t>(n_in) * 2, 64);
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL: return round_up(static_cast<size_t>(n_in / kQK) * sizeof(BlockQ8_0), 64);
    case TensorType::Q4_1:
    case TensorType::Q5_1: return round_up(static_cast<size_t>(n_in / kQK) * sizeof(BlockQ8_1), 64);
    default: break;
  }
  switch (type_traits(wt)->vec_dot_type) {
    case TensorType::Q8_K: return round_up(static_cast<size_t>(n_in / kQK_K) * sizeof(BlockQ8_K), 64);
    default: return static_cast<size_t>(n_in) * sizeof(float);
  }
}

// Converted activations of the calling thread (grows to the largest call, then reused: the decode
// hot path never allocates).
thread_local AlignedBuffer t_scratch;

// Token rows per job. Float activations are large (4 bytes/value): keep a block's worth near 512 KiB
// so it stays in L2 while weight rows stream past. Q8_0 activations are ~4x smaller and the integer
// kernels repack weight panels per job, so they take up to 512 tokens per job to amortize the packing.
// The AVX-512 F32 kernel packs weight panels too (matmul_avx512.cpp), so it also takes long token blocks.
int64_t token_block(Isa isa, TensorType wt, size_t x_row_bytes, int64_t n_tokens) {
  if (is_block_quant(wt)) return std::min<int64_t>(n_tokens, 512);
  // K-quants: the AVX-512 kernels repack weight panels per job (like Q8_0/Q4_0) and take long token
  // blocks; the dot-product kernels of the other ISAs read Q8_K activations (~1.14 bytes/value) once
  // per row, so a block of 64 tokens (300 KiB at n_in = 4096) stays in L2 while the rows stream past.
  if (type_traits(wt)->vec_dot_type == TensorType::Q8_K)
    return std::min<int64_t>(n_tokens, isa == Isa::Avx512 && isa_supported(isa) ? 512 : 64);
  if (wt == TensorType::F32 && isa == Isa::Avx512 && isa_supported(isa)) return std::min<int64_t>(n_tokens, 512);
  // F16/BF16 batches on a SIMD ISA take the packed kernels (kernels/matmul_packed_half.h), which widen
  // their weight panels once per job and read activations 16-bit: long token blocks amortize the panels.
  if ((wt == TensorType::F16 || wt == TensorType::BF16) && isa != Isa::Scalar && isa_supported(isa))
    return std::min<int64_t>(n_tokens, 512);
  const int64_t t = static_cast<int64_t>((size_t{512} << 10) / x_row_bytes) / 4 * 4;
  return std::clamp<int64_t>(t, 4, 64);
}

}  // namespace

Status matmul_check(TensorType wt, int64_t n_in, int64_t n_out, int64_t n_tokens, int64_t ldy) {
  const TypeTraits* tr = type_traits(wt);
  if (tr == nullptr || tr->activation_only || gemm_slot(scalar_matmul_kernels(), wt) == nullptr)
    return Status::error("matmul: weight type " + std::string(type_name(wt)) + " is not supported");
  if (n_in < 1 || n_in % tr->block_size != 0)
    return Status::error("matmul: n_in " + std::to_string(n_in) + " is not a positive multiple of " +
                         std::to_string(tr->block_size) + " (block size of " + std::string(type_name(wt)) + ")");
  if (n_out < 1) return Status::error("matmul: n_out " + std::to_string(n_out) + " must be >= 1");
  if (n_tokens < 1) return Status::error("matmul: n_tokens " + std::to_string(n_tokens) + " must be >= 1");
  if (ldy < n_out) return Status::error("matmul: ldy " + std::to_string(ldy) + " is smaller than n_out " + std::to_string(n_out));
  return Status::ok();
}

MatmulPart matmul_part(Isa isa, TensorType wt, const void* w, int64_t n_in, int64_t n_out, int64_t n_tokens, float* y,
                       int64_t ldy) {
  const Status st = matmul_check(wt, n_in, n_out, n_tokens, ldy);
  if (!st.is_ok()) {
    std::fprintf(stderr, "kestrel: %s\n", st.message().c_str());
    std::abort();
  }
  GemmFn gemm = gemm_slot(table_for(isa), wt);
  if (gemm == nullptr) gemm = gemm_slot(scalar_matmul_kernels(), wt);
  const size_t w_row_bytes = static_cast<size_t>(*bytes_for(wt, static_cast<uint64_t>(n_in)));
  return MatmulPart{wt, gemm, w, w_row_bytes, n_out, y, ldy};
}

void matmul_isa(Isa isa, ThreadPool& pool, TensorType wt, const void* w, int64_t n_in, int64_t n_out,
                const float* x, int64_t n_tokens, float* y, int64_t ldy) {
  const MatmulPart part = matmul_part(isa, wt, w, n_in, n_out, n_tokens, y, ldy);
  matmul_run(isa, pool, &part, 1, n_in, x, n_tokens);
}

void matmul_run(Isa isa, ThreadPool& pool, const MatmulPart* parts, int n_parts, int64_t n_in, const float* x,
                int64_t n_tokens) {
  if (n_parts < 1 || n_parts > kMaxMatmulParts) {
    std::fprintf(stderr, "kestrel: matmul_run: %d parts (1..%d)\n", n_parts, kMaxMatmulParts);
    std::abort();
  }
  const MatmulKernels* k = table_for(isa);
  const MatmulKernels* scalar = scalar_matmul_kernels();

  // Per part: its converted activations (parts of one format share them) and its jobs.
  struct PartJobs {
    ConvertRowFn convert;  // nullptr: F32, activations used in place
    size_t x_row_bytes, x_offset;
    bool converts;  // the first part of its format: converts the activations for the others too
    const void* xc;
    int64_t tblock, n_rchunks, chunk, first_job;
    uint64_t call_id;
  };
  PartJobs pj[kMaxMatmulParts];
  size_t scratch_bytes = 0;
  int64_t total_rows = 0;
  for (int p = 0; p < n_parts; ++p) {
    PartJobs& j = pj[p];
    total_rows += parts[p].n_out;
    j.x_row_bytes = act_row_bytes(parts[p].wt, n_in);
    j.convert = nullptr;
    j.converts = false;
    if (parts[p].wt == TensorType::F32) continue;
    j.convert = convert_slot(k, parts[p].wt);
    if (j.convert == nullptr) j.convert = convert_slot(scalar, parts[p].wt);
    int same = -1;
    for (int q = 0; q < p && same < 0; ++q)
      if (pj[q].convert == j.convert && pj[q].x_row_bytes == j.x_row_bytes) same = q;
    j.converts = same < 0;
    j.x_offset = j.converts ? scratch_bytes : pj[same].x_offset;
    if (j.converts) scratch_bytes += j.x_row_bytes * static_cast<size_t>(n_tokens);
  }
  char* buf = scratch_bytes > 0 ? static_cast<char*>(t_scratch.get(scratch_bytes)) : nullptr;
  for (int p = 0; p < n_parts; ++p) {
    PartJobs& j = pj[p];
    j.xc = j.convert == nullptr ? static_cast<const void*>(x) : buf + j.x_offset;
    if (!j.converts) continue;
    char* dst = buf + j.x_offset;
    auto convert_rows = [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) j.convert(x + t * n_in, dst + t * j.x_row_bytes, n_in);
    };
    if (n_tokens >= 4) pool.parallel_for(n_tokens, convert_rows);
    else convert_rows(0, n_tokens);  // a pool dispatch costs more than converting a row or two
  }

  // Jobs: per part token blocks x row chunks, token-block-major so a thread's consecutive jobs share
  // activations; the parts one after another.
  const int nth = pool.size();
  // Many jobs per thread (8 for decode, 16 for batches, whose jobs are long) so a thread descheduled
  // on a shared machine holds up little work at the end; multiples of 32 rows (the packed panel height).
  // The chunk comes from the rows of all parts, so the jobs of small and large parts are alike.
  static std::atomic<uint64_t> call_counter{0};
  int64_t n_jobs = 0;
  for (int p = 0; p < n_parts; ++p) {
    PartJobs& j = pj[p];
    const TensorType wt = parts[p].wt;
    j.tblock = token_block(isa, wt, j.x_row_bytes, n_tokens);
    int64_t per_thread = n_tokens >= 8 ? 16 : 8;
#if defined(__x86_64__) || defined(_M_X64)
    // F16/BF16 batches on AMX tiles (kernels/avx512/gemm_amx_half_avx512.h) read a job's activations
    // once per group of up to 8 panels of 32 rows: longer jobs read them fewer times. (From their
    // threshold kAmxHalfMinTokens = 32 on; smaller batches are dot-product tiles.)
    if ((wt == TensorType::F16 || wt == TensorType::BF16) && n_tokens >= 32 && isa == Isa::Avx512 &&
        amx_bf16_enabled())
      per_thread = 4;
#endif
    const int64_t chunk = (total_rows + nth * per_thread - 1) / (nth * per_thread);
    j.chunk = std::clamp<int64_t>(round_up(static_cast<size_t>(chunk), 32), 32, 512);
    j.n_rchunks = (parts[p].n_out + j.chunk - 1) / j.chunk;
    j.first_job = n_jobs;
    n_jobs += (n_tokens + j.tblock - 1) / j.tblock * j.n_rchunks;
    j.call_id = call_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  auto do_job = [&](int64_t job) {
    int p = n_parts - 1;
    while (job < pj[p].first_job) --p;
    const PartJobs& j = pj[p];
    const MatmulPart& part = parts[p];
    const int64_t local = job - j.first_job;
    const int64_t tb = local / j.n_rchunks, rc = local % j.n_rchunks;
    const int64_t t0 = tb * j.tblock;
    GemmArgs a;
    a.w = part.w;
    a.w_row_bytes = part.w_row_bytes;
    a.n_in = n_in;
    a.x = static_cast<const char*>(j.xc) + t0 * j.x_row_bytes;
    a.x_row_bytes = j.x_row_bytes;
    a.n_tokens = std::min(j.tblock, n_tokens - t0);
    a.y = part.y + t0 * part.ldy;
    a.ldy = part.ldy;
    a.row_begin = rc * j.chunk;
    a.row_end = std::min(part.n_out, a.row_begin + j.chunk);
    a.call_id = j.call_id;
    part.gemm(a);
  };
  // The pool hands jobs out dynamically and does not wait for a worker that has not woken up.
  pool.for_each_job(n_jobs, [&](int64_t j, int) { do_job(j); });
}

void matmul(ThreadPool& pool, TensorType wt, const void* w, int64_t n_in, int64_t n_out, const float* x,
            int64_t n_tokens, float* y, int64_t ldy) {
  matmul_isa(active_isa(), pool, wt, w, n_in, n_out, x, n_tokens, y, ldy);
}

void get_rows(TensorType wt, const void* w, int64_t n_in, const int32_t* ids, int64_t n_ids, float* dst) {
  const TypeTraits* tr = type_traits(wt);
  const auto row_bytes = bytes_for(wt, static_cast<uint64_t>(n_in));
  if (tr == nullptr || !row_bytes || n_in < 1) {
    std::fprintf(stderr, "kestrel: get_rows: cannot read rows of %lld %s values\n",
                 static_cast<long long>(n_in), std::string(type_name(wt)).c_str());
    std::abort();
  }
  for (int64_t i = 0; i < n_ids; ++i) {
    if (ids[i] < 0) {
      std::fprintf(stderr, "kestrel: get_rows: negative row id %d\n", ids[i]);
      std::abort();
    }
    tr->to_float(static_cast<const char*>(w) + static_cast<uint64_t>(ids[i]) * *row_bytes, dst + i * n_in, n_in);
  }
}

}  // namespace kestrel::kernels
