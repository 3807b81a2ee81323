// Finds and checks one layer's Mixtral expert tensors (merged 3-D or older per-expert 2-D naming) and
// presents them as one 2-D view per expert.
#include <string>
#include <vector>

#include "gguf/tensor_type.h"
#include "gguf/value_format.h"
#include "kernels/type_traits.h"
#include "model/llm.h"
#include "model/moe.h"

namespace kestrel {
namespace {

// Shapes compare equal when they agree on the expected dims and any extra dims are 1 (GGUF writers
// sometimes store trailing unit dims).
bool shape_is(const TensorView& t, const std::vector<int64_t>& want) {
  if (t.ne.size() < want.size()) return false;
  for (size_t i = 0; i < t.ne.size(); ++i) {
    const int64_t w = i < want.size() ? want[i] : 1;
    if (t.ne[i] != w) return false;
  }
  return true;
}

// The compute code needs the type to be one Kestrel can multiply with and the rows to be whole blocks.
Status check_tensor(const TensorView& t, const std::vector<int64_t>& want) {
  if (!shape_is(t, want))
    return Status::error("tensor '" + t.name + "' has shape " + format_shape(t.ne) + ", expected " +
                         format_shape(want));
  const auto* traits = kernels::type_traits(t.type);
  if (!kernels::is_computable(t.type))
    return Status::error("tensor '" + t.name + "' has type " + std::string(type_name(t.type)) +
                         ", which Kestrel cannot compute with");
  if (want[0] % traits->block_size != 0)
    return Status::error("tensor '" + t.name + "': row length " + std::to_string(want[0]) +
                         " is not a multiple of the " + std::string(type_name(t.type)) + " block size");
  return Status::ok();
}

// A 2-D view of expert e inside a merged [n_in, n_out, n_expert] tensor.
TensorView expert_slice(const TensorView& t, int64_t n_in, int64_t n_out, int e) {
  TensorView v;
  v.name = t.name + "[expert " + std::to_string(e) + "]";
  v.type = t.type;
  v.ne = {n_in, n_out};
  v.bytes = t.row_bytes() * static_cast<uint64_t>(n_out);
  v.data = static_cast<const uint8_t*>(t.data) + v.bytes * static_cast<uint64_t>(e);
  return v;
}

std::string name(int il, const std::string& what) { return "blk." + std::to_string(il) + "." + what; }

// Merged form: blk.N.ffn_{gate,up,down}_exps.weight.
Status bind_merged(const WeightStore& ws, int il, const ModelConfig& cfg, MoeLayer& layer) {
  struct Part {
    const char* what;
    int64_t n_in, n_out;
    std::vector<TensorView>* dst;
  };
  const int64_t n_embd = cfg.n_embd, n_ff = cfg.n_ff;
  const Part parts[] = {{"ffn_gate_exps.weight", n_embd, n_ff, &layer.gate},
                        {"ffn_up_exps.weight", n_embd, n_ff, &layer.up},
                        {"ffn_down_exps.weight", n_ff, n_embd, &layer.down}};
  for (const Part& p : parts) {
    const TensorView* t = ws.find(name(il, p.what));
    if (t == nullptr) return Status::error("missing expert tensor '" + name(il, p.what) + "'");
    KESTREL_RETURN_IF_ERROR(check_tensor(*t, {p.n_in, p.n_out, cfg.n_expert}));
    p.dst->clear();
    for (int e = 0; e < cfg.n_expert; ++e) p.dst->push_back(expert_slice(*t, p.n_in, p.n_out, e));
  }
  return Status::ok();
}

// Older form: blk.N.ffn_{gate,up,down}.E.weight, one 2-D tensor per expert.
Status bind_per_expert(const WeightStore& ws, int il, const ModelConfig& cfg, MoeLayer& layer) {
  const int64_t n_embd = cfg.n_embd, n_ff = cfg.n_ff;
  for (int e = 0; e < cfg.n_expert; ++e) {
    struct Part {
      const char* what;
      int64_t n_in, n_out;
      std::vector<TensorView>* dst;
    };
    const Part parts[] = {{"ffn_gate", n_embd, n_ff, &layer.gate},
                          {"ffn_up", n_embd, n_ff, &layer.up},
                          {"ffn_down", n_ff, n_embd, &layer.down}};
    for (const Part& p : parts) {
      const std::string tn = name(il, std::string(p.what) + "." + std::to_string(e) + ".weight");
      const TensorView* t = ws.find(tn);
      if (t == nullptr) return Status::error("missing expert tensor '" + tn + "'");
      KESTREL_RETURN_IF_ERROR(check_tensor(*t, {p.n_in, p.n_out}));
      p.dst->push_back(*t);
    }
  }
  return Status::ok();
}

}  // namespace

Result<MoeLayer> bind_moe_layer(const WeightStore& ws, int il, const ModelConfig& cfg) {
  if (cfg.n_expert <= 0)
    return Status::error("layer " + std::to_string(il) + ": MoE layer needs expert_count > 0, got " +
                         std::to_string(cfg.n_expert));
  if (cfg.n_expert_used < 1 || cfg.n_expert_used > cfg.n_expert)
    return Status::error("expert_used_count " + std::to_string(cfg.n_expert_used) +
                         " must be between 1 and expert_count " + std::to_string(cfg.n_expert));
  if (cfg.n_embd <= 0 || cfg.n_ff <= 0)
    return Status::error("layer " + std::to_string(il) + ": MoE layer needs n_embd and n_ff > 0");

  MoeLayer layer;
  const std::string router = name(il, "ffn_gate_inp.weight");
  layer.router = ws.find(router);
  if (layer.router == nullptr) return Status::error("missing expert router tensor '" + router + "'");
  KESTREL_RETURN_IF_ERROR(check_tensor(*layer.router, {cfg.n_embd, cfg.n_expert}));

  // The merged form is what current converters write; fall back to per-expert tensors only when the
  // merged gate tensor is absent, so a half-merged file reports the merged tensor it lacks.
  const bool merged = ws.find(name(il, "ffn_gate_exps.weight")) != nullptr ||
                      ws.find(name(il, "ffn_gate.0.weight")) == nullptr;
  KESTREL_RETURN_IF_ERROR(merged ? bind_merged(ws, il, cfg, layer) : bind_per_expert(ws, il, cfg, layer));
  return layer;
}

}  // namespace kestrel
