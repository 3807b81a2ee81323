#pragma once
// Load-time weight repacking (kernels/repack.h): the matrices the forward pass multiplies by get a
// heap copy of their own, in the active ISA's repacked layout where one exists, else the ggml bytes
// on huge pages; the file stays mapped for everything else (norms, embedding rows read by get_rows).
#include <cstdint>

#include "gguf/status.h"
#include "gguf/weight_store.h"
#include "model/weights.h"

namespace kestrel {

struct RepackStats {
  int n_packed = 0;        // matrices in a repacked layout
  int n_copied = 0;        // matrices copied unchanged onto huge pages (no layout for the type/ISA)
  uint64_t packed_bytes = 0, copied_bytes = 0;
};

// Repacks or copies every matrix of `w` (dense layers' projections, the output matrix, a tied
// embedding as output, the MoE routers and expert tensors) into blocks of `ws`, using n_threads threads
// (<= 0: all cores). Views of `ws` change (TensorView::packed, or data for copies); callers must bind
// the weights again afterwards (MoE expert views are copies of the store's views).
// MoE expert tensors (3-D or per expert) are copied, not repacked: the decode path reads row ranges of
// single experts from their ggml rows (model/moe_ffn.cpp).
Result<RepackStats> repack_weights(WeightStore& ws, const ModelWeights& w, int n_threads);

}  // namespace kestrel
