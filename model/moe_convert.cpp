// Dense Llama -> Mixtral-shaped GGUF with identical experts and a uniform router (see moe_convert.h).
#include "model/moe_convert.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"

namespace kestrel {
namespace {

// "blk.7.ffn_up.weight" -> layer 7 and part "ffn_up"; false for every other tensor.
bool split_dense_ffn(const std::string& name, int* layer, std::string* part) {
  if (name.rfind("blk.", 0) != 0) return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot > 12) return false;
  for (size_t i = 4; i < dot; ++i)
    if (name[i] < '0' || name[i] > '9') return false;
  const std::string rest = name.substr(dot + 1);
  for (const char* p : {"ffn_gate", "ffn_up", "ffn_down"}) {
    if (rest == std::string(p) + ".weight") {
      *layer = std::stoi(name.substr(4, dot - 4));
      *part = p;
      return true;
    }
  }
  return false;
}

}  // namespace

Status moe_from_dense(const std::string& in, const std::string& out, const MoeFromDenseParams& params) {
  if (params.n_expert < 1 || params.n_expert_used < 1 || params.n_expert_used > params.n_expert)
    return Status::error("need 1 <= experts-used (" + std::to_string(params.n_expert_used) +
                         ") <= experts (" + std::to_string(params.n_expert) + ")");
  auto file = GGUFFile::open(in);
  if (!file) return file.status();
  const GGUFFile& f = **file;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.status();
  if (*arch != "llama")
    return Status::error(in + ": general.architecture is '" + *arch + "', only llama can be converted");
  const std::string prefix = *arch + ".";
  if (f.find(prefix + "expert_count") != nullptr)
    return Status::error(in + ": already has " + prefix + "expert_count (not a dense model)");
  auto n_embd = f.get_int(prefix + "embedding_length");
  if (!n_embd) return n_embd.status();
  auto n_layer = f.get_int(prefix + "block_count");
  if (!n_layer) return n_layer.status();

  GGUFWriter w;
  for (const KeyValue& kv : f.metadata()) w.set(kv.key, kv.value);
  w.set_u32(prefix + "expert_count", static_cast<uint32_t>(params.n_expert));
  w.set_u32(prefix + "expert_used_count", static_cast<uint32_t>(params.n_expert_used));

  const std::vector<float> router_zeros(static_cast<size_t>(*n_embd) * params.n_expert, 0.0f);
  std::vector<uint8_t> stacked;
  std::vector<int> converted(static_cast<size_t>(*n_layer), 0);  // FFN parts found per layer
  for (const TensorInfo& t : f.tensors()) {
    int layer = -1;
    std::string part;
    if (!split_dense_ffn(t.name, &layer, &part)) {
      KESTREL_RETURN_IF_ERROR(w.add_tensor(t.name, t.type, t.ne, f.tensor_data(t), t.bytes));
      continue;
    }
    if (layer < 0 || layer >= *n_layer)
      return Status::error(in + ": tensor '" + t.name + "' names a layer beyond block_count");
    if (t.ne.size() != 2) return Status::error(in + ": tensor '" + t.name + "' is not 2-D");
    const std::string blk = "blk." + std::to_string(layer) + ".";
    if (part == "ffn_gate") {  // the router goes just before the experts, as converters order them
      KESTREL_RETURN_IF_ERROR(w.add_tensor(blk + "ffn_gate_inp.weight", TensorType::F32,
                                           {*n_embd, params.n_expert}, router_zeros.data(),
                                           router_zeros.size() * sizeof(float)));
    }
    stacked.resize(t.bytes * params.n_expert);
    for (int e = 0; e < params.n_expert; ++e)
      std::copy(f.tensor_data(t), f.tensor_data(t) + t.bytes, stacked.begin() + t.bytes * e);
    KESTREL_RETURN_IF_ERROR(w.add_tensor(blk + part + "_exps.weight", t.type,
                                         {t.ne[0], t.ne[1], params.n_expert}, stacked.data(), stacked.size()));
    ++converted[layer];
  }
  for (int64_t l = 0; l < *n_layer; ++l)
    if (converted[l] != 3)
      return Status::error(in + ": layer " + std::to_string(l) +
                           " lacks one of ffn_gate/ffn_up/ffn_down.weight (not a dense SwiGLU llama)");
  return w.write(out);
}

}  // namespace kestrel
