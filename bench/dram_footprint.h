#pragma once
// How many bytes a benchmark must stream to measure DRAM rather than the last-level cache: at least
// 1 GiB and at least twice the largest cache the OS reports (this VM reports a 480 MB L3, so data
// re-read from a smaller buffer would partly come from cache). bench_probe's mem_read buffer and
// bench_matmul's rotating decode weights use the same footprint, so their GB/s compare like with like.
#include <unistd.h>

#include <algorithm>
#include <cstddef>

namespace kestrel::bench {

inline size_t last_level_cache_bytes() {
  long l3 = -1, l2 = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
  l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
#ifdef _SC_LEVEL2_CACHE_SIZE
  l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  return static_cast<size_t>(std::max({l3, l2, 0L}));
}

inline size_t dram_footprint_bytes() {
  return std::max<size_t>(size_t(1) << 30, 2 * last_level_cache_bytes()) / 4096 * 4096;
}

}  // namespace kestrel::bench
