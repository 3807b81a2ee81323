#pragma once
// The order in which a decode job reads its row groups when it reads several side by side
// (StreamPrefetch::streams, decode_stream_prefetch in isa.cpp), shared by the load-time layouts'
// kernels (q8_0x16 / q4_0x16, f16x4 / bf16x4): with S streams the job's n groups are taken as rounds
// i = 0 .. h - 1, h = ceil(n / S), round i being groups i, i + h, ..., i + (S - 1) h, each its own
// sequential stream through memory. A round short of S groups (the last ones, when S does not divide
// n) reads its groups one at a time.
#include <cstdint>

namespace kestrel::kernels {

// f.template operator()<G>(idx): G group indices (0-based in the job) read together, G = S or 1.
template <int S, class F>
void stream_rounds(int64_t n, F&& f) {
  const int64_t h = (n + S - 1) / S;
  for (int64_t i = 0; i < h; ++i) {
    int64_t idx[S];
    int m = 0;
    for (; m < S && i + m * h < n; ++m) idx[m] = i + m * h;
    if (m == S) f.template operator()<S>(idx);
    else
      for (int k = 0; k < m; ++k) f.template operator()<1>(idx + k);
  }
}

// f.template operator()<S>() for the run-time stream count s (1..4; others read one stream).
template <class F>
void with_streams(int s, F&& f) {
  switch (s) {
    case 2: return f.template operator()<2>();
    case 3: return f.template operator()<3>();
    case 4: return f.template operator()<4>();
    default: return f.template operator()<1>();
  }
}

}  // namespace kestrel::kernels
