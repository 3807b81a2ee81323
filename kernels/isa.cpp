// Run-time ISA choice. x86-64: cpuinfo when available (else the compiler's cpuid builtins);
// aarch64: getauxval(AT_HWCAP) so the cross build needs no arm64 cpuinfo.
#include "kernels/isa.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

#include "kernels/matmul_isa.h"

#if defined(KESTREL_HAVE_CPUINFO) && (defined(__x86_64__) || defined(_M_X64))
#include <cpuinfo.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace kestrel::kernels {
namespace {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 + FMA + F16C
  bool avx512 = false;       // AVX-512 F + BW + VL + DQ + VNNI
  bool avx512_bf16 = false;
  bool intel = false;        // the CPU's vendor (decode_stream_prefetch)
  bool neon = false;         // ASIMD + dot product (armv8.2-a+dotprod), what kernels/neon/ is built for
};

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(_M_X64)
#if defined(KESTREL_HAVE_CPUINFO)
  if (cpuinfo_initialize()) {
    f.avx2 = cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3() && cpuinfo_has_x86_f16c();
    f.avx512 = f.avx2 && cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() &&
               cpuinfo_has_x86_avx512vl() && cpuinfo_has_x86_avx512dq() && cpuinfo_has_x86_avx512vnni();
    f.avx512_bf16 = f.avx512 && cpuinfo_has_x86_avx512bf16();
    const cpuinfo_core* core = cpuinfo_get_core(0);
    f.intel = core != nullptr && core->vendor == cpuinfo_vendor_intel;
    return f;
  }
#endif
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
  f.intel = __builtin_cpu_is("intel");
#elif defined(__aarch64__)
#if defined(__linux__)
  const unsigned long hw = getauxval(AT_HWCAP);
  // HWCAP_ASIMD = 1 << 1, HWCAP_ASIMDDP = 1 << 20 (linux/arch/arm64/include/uapi/asm/hwcap.h).
  f.neon = (hw & (1UL << 1)) && (hw & (1UL << 20));
#endif
#endif
  return f;
}

const CpuFeatures& features() {
  static const CpuFeatures f = detect();
  return f;
}

bool compiled_in(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
#if defined(__x86_64__) || defined(_M_X64)
    case Isa::Avx2:
    case Isa::Avx512: return true;
#endif
#if defined(__aarch64__)
    case Isa::Neon: return true;
#endif
    default: return false;
  }
}

// -1: nothing chosen yet (active_isa() answers best_isa()).
std::atomic<int> g_active{-1};
std::mutex g_init_mutex;
bool g_env_done = false;

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
    case Isa::Neon: return "neon";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
  if (!compiled_in(isa)) return false;
  const CpuFeatures& f = features();
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return f.avx2;
    case Isa::Avx512: return f.avx512;
    case Isa::Neon: return f.neon;
  }
  return false;
}

bool cpu_has_avx512_bf16() { return features().avx512_bf16; }

#if defined(__x86_64__) || defined(_M_X64)
namespace {
// AMX needs three things: the CPU (CPUID.7.0:EDX bit 24 AMX-TILE, bit 25 AMX-INT8, bit 22 AMX-BF16),
// the OS enabling the tile state in XCR0 (bits 17 TILECFG and 18 TILEDATA), and on Linux >= 5.16 a
// per-process permission for the large (8 KiB) tile data state, asked once with
// arch_prctl(ARCH_REQ_XCOMP_PERM); without it the first tile instruction faults. Any "no" leaves AMX
// off and the VNNI / FMA kernels in use (e.g. AMD Zen 4/5: AVX-512 without AMX).
struct AmxSupport {
  bool int8 = false, bf16 = false;
};
AmxSupport detect_amx() {
#if defined(__linux__)
  if (!features().avx512) return {};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return {};
  const bool tile = (edx >> 24) & 1, int8 = (edx >> 25) & 1, bf16 = (edx >> 22) & 1;
  if (!tile || (!int8 && !bf16)) return {};
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !((ecx >> 27) & 1)) return {};  // OSXSAVE
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if (((lo >> 17) & 3) != 3) return {};
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return {};
  return {int8, bf16};
#else
  return {};
#endif
}
const AmxSupport& amx_support() {
  static const AmxSupport s = detect_amx();
  return s;
}
std::atomic<int> g_amx_enabled{-1};  // -1: not decided yet (KESTREL_AMX, default on)
}  // namespace

bool cpu_has_amx_int8() { return amx_support().int8; }
bool cpu_has_amx_bf16() { return amx_support().bf16; }

bool amx_enabled() {
  int e = g_amx_enabled.load(std::memory_order_relaxed);
  if (e < 0) {
    const char* env = std::getenv("KESTREL_AMX");
    e = (env != nullptr && env[0] == '0') ? 0 : 1;
    g_amx_enabled.store(e, std::memory_order_relaxed);
  }
  return e == 1 && cpu_has_amx_int8();
}

bool amx_bf16_enabled() {
  amx_enabled();  // decides the KESTREL_AMX switch on first use
  return g_amx_enabled.load(std::memory_order_relaxed) == 1 && cpu_has_amx_bf16();
}

namespace {
std::atomic<int> g_decode_streams{0};  // set_decode_streams (0: the CPU's choice)
StreamPrefetch cpu_stream_prefetch(StreamLayout layout);
}  // namespace

StreamPrefetch decode_stream_prefetch(StreamLayout layout) {
  StreamPrefetch pf = cpu_stream_prefetch(layout);
  if (const int s = g_decode_streams.load(std::memory_order_relaxed); s > 0) pf.streams = s;
  return pf;
}

int set_decode_streams(int streams) { return g_decode_streams.exchange(streams, std::memory_order_relaxed); }

namespace {
StreamPrefetch cpu_stream_prefetch(StreamLayout layout) {
  // Intel Xeon (Sapphire Rapids class, 2026-12-02; bench_matmul --decode[-1b] --repacked, weights
  // rotated over 1 GiB, medians of 3, GB/s at 1 / 2 threads), T0 8 KiB -> T1 2 KiB: Q4_0 2048x8192
  // 9.1 -> 13.5 / 16.5 -> 25.3, Q8_0 12.8 -> 14.6 / 23.8 -> 28.4, F16 4096x14336 9.5 -> 14.5 / 17.9 ->
  // 27.6, BF16 13.0 -> 14.8 / 24.9 -> 29.7 (4 KiB and more fall off: an L1 prefetch stream 8 KiB deep
  // outruns the core's L1 fill buffers, an L2 one does not). Q4_K x16 T0 8 KiB -> T1 8 KiB: 14.7 ->
  // 15.4 / 28.9 -> 29.8; 2026-12-03 (4096x14336, three interleaved rounds, medians of the rounds'
  // medians) T1 8 KiB one group 15.8 / 30.8, T0 2 KiB one group 16.0 / 30.9, two groups side by side
  // 16.6 / 31.3 (T0 1 KiB 15.5 / 29.1, T1 4 KiB 16.1 / 31.5, T0 8 KiB 2 groups 16.1 / 31.0).
  // Streams side by side (groups i, i + n/S, ...; 4096x14336, same runs, 1 / 2 / 3 / 4 streams): F16
  // 14.6-15.4 / 17.1 / 18.4-18.6 / 18.0-18.3 at 1 thread, 28.7 / 33.5 / 36.3-36.5 / 35.6-35.8 at 2 (BF16 alike); q4_0x16 with the AMX machines' block chain 14.9-16.0 / 15.6-16.1 /
  // 16.2-16.4 / 16.7-17.0 and 29.1-30.7 / 30.4-32.2 / 32.3-32.6 / 33.6-34.0; q8_0x16 flat at 16.4-17.1
  // and 32.7-33.9 (end to end, 1B tg128: 3-4 streams +2-3% over 1). AMD Zen 5 measured best at T0
  // 8 KiB, one group (docs/KERNELS.md "Decode prefetch pacing"), the values used for every other CPU.
  if (!features().intel) return {8192, false};
  switch (layout) {
    case StreamLayout::kQ8x16: return {2048, true, 4};
    case StreamLayout::kQ4x16: return {2048, true, 4};
    case StreamLayout::kHalf4: return {2048, true, 3};
    case StreamLayout::kQ4KX16: return {2048, false, 2};
  }
  return {8192, false};
}
}  // namespace

bool set_amx_enabled(bool on) {
  const bool was = amx_enabled();
  g_amx_enabled.store(on ? 1 : 0, std::memory_order_relaxed);
  return was;
}
#endif

Isa best_isa() {
  for (Isa isa : {Isa::Avx512, Isa::Avx2, Isa::Neon})
    if (isa_supported(isa)) return isa;
  return Isa::Scalar;
}

Status select_isa(std::string_view name) {
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon}) {
    if (name != isa_name(isa)) continue;
    if (!isa_supported(isa)) {
      std::string why = compiled_in(isa) ? "this CPU lacks the required features"
                                         : "not compiled into this build";
      if (isa == Isa::Avx512 && compiled_in(isa)) why += " (needs AVX-512 F, BW, VL, DQ and VNNI)";
      if (isa == Isa::Avx2 && compiled_in(isa)) why += " (needs AVX2, FMA and F16C)";
      if (isa == Isa::Neon && compiled_in(isa)) why += " (needs ASIMD and the dot-product extension)";
      return Status::error("ISA '" + std::string(name) + "' is not supported: " + why);
    }
    g_active.store(static_cast<int>(isa), std::memory_order_release);
    return Status::ok();
  }
  return Status::error("unknown ISA '" + std::string(name) + "' (expected scalar, avx2, avx512 or neon)");
}

Status init_isa_from_env() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (g_env_done) return Status::ok();
  const char* env = std::getenv("KESTREL_ISA");
  if (env != nullptr && *env != '\0') {
    Status s = select_isa(env);
    if (!s.is_ok()) return Status::error("KESTREL_ISA: " + s.message());
  } else {
    g_active.store(static_cast<int>(best_isa()), std::memory_order_release);
  }
  g_env_done = true;
  return Status::ok();
}

Isa active_isa() {
  const int a = g_active.load(std::memory_order_acquire);
  return a < 0 ? best_isa() : static_cast<Isa>(a);
}

}  // namespace kestrel::kernels
