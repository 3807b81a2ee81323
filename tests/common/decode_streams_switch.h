#pragma once
// The side-by-side group counts the decode kernels can run with (kernels/decode_streams.h), so tests
// check every count whatever the CPU picks: on x86-64 1..4 through set_decode_streams; elsewhere only
// the CPU's choice (0), since no other kernel reads groups side by side.
#include <vector>

#include "kernels/matmul_isa.h"

namespace kestrel::test {

inline std::vector<int> decode_stream_counts() {
#if defined(__x86_64__) || defined(_M_X64)
  return {1, 2, 3, 4};
#else
  return {0};
#endif
}

// Sets the stream count for its scope (0: leaves the CPU's choice).
class DecodeStreams {
 public:
  explicit DecodeStreams(int streams) {
#if defined(__x86_64__) || defined(_M_X64)
    was_ = kernels::set_decode_streams(streams);
#else
    (void)streams;
#endif
  }
  ~DecodeStreams() {
#if defined(__x86_64__) || defined(_M_X64)
    kernels::set_decode_streams(was_);
#endif
  }
  DecodeStreams(const DecodeStreams&) = delete;
  DecodeStreams& operator=(const DecodeStreams&) = delete;

 private:
  int was_ = 0;
};

}  // namespace kestrel::test
