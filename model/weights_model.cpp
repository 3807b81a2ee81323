#include "model/weights_model.h"

#include <algorithm>
#include <map>

#include "kernels/ops.h"
#include "model/config.h"
#include "model/forward.h"
#include "model/repack_weights.h"

namespace kestrel {

Result<std::unique_ptr<Model>> Model::load(const std::string& path, const LoadParams& params) {
  return LoadedModel::open(path, params);
}

Result<std::unique_ptr<Model>> LoadedModel::open(const std::string& path, const LoadParams& params) {
  // With repacking, a --no-mmap load copies to the heap only what repacking leaves in the file's layout.
  auto ws = WeightStore::open(path, params.use_mmap ? LoadMode::Mmap : LoadMode::Heap, params.repack);
  if (!ws) return Status::error(ws.error());
  auto m = std::unique_ptr<LoadedModel>(new LoadedModel());
  m->ws_ = std::move(*ws);
  auto cfg = read_config(m->ws_->file());
  if (!cfg) return Status::error(path + ": " + cfg.error());
  m->cfg_ = *cfg;
  m->arch_ = find_arch(m->cfg_.arch);
  auto w = bind_weights(*m->ws_, *m->arch_, m->cfg_);
  if (!w) return Status::error(path + ": " + w.error());
  if (params.repack) {
    // Matrices get their own heap copies (repacked layout or huge-page ggml rows); then bind again, as
    // the MoE expert views are copies of the store's views.
    auto rs = repack_weights(*m->ws_, *w, params.n_threads);
    if (!rs) return Status::error(path + ": " + rs.error());
    m->repack_ = *rs;
    m->repacked_ = true;
    if (Status st = m->ws_->finish_heap_copy(); !st) return Status::error(path + ": " + st.message());
    w = bind_weights(*m->ws_, *m->arch_, m->cfg_);
    if (!w) return Status::error(path + ": " + w.error());
  }
  m->w_ = std::move(*w);
  for (bool swa : {false, true})
    if (Status st = kernels::check_rope_params(m->cfg_.head_dim, rope_params(m->cfg_, m->w_, m->cfg_.n_ctx_train, swa)); !st)
      return Status::error(path + ": " + st.message());
  auto tok = Tokenizer::from_gguf(m->ws_->file());
  if (!tok) return Status::error(path + ": " + tok.error());
  m->tok_ = std::move(*tok);
  if (m->tok_->n_vocab() != m->cfg_.n_vocab)
    return Status::error(path + ": the tokenizer has " + std::to_string(m->tok_->n_vocab()) +
                         " tokens but the model's vocabulary is " + std::to_string(m->cfg_.n_vocab));

  // Parameter count and the dominant weight type (by elements of the 2-D+ tensors), as llama.cpp reports.
  std::map<TensorType, uint64_t> by_type;
  for (const TensorView& t : m->ws_->tensors()) {
    uint64_t n = 1;
    for (int64_t d : t.ne) n *= static_cast<uint64_t>(d);
    m->n_params_ += n;
    if (t.ne.size() >= 2) by_type[t.type] += n;
  }
  auto best = std::max_element(by_type.begin(), by_type.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  std::string name = best == by_type.end() ? "f32" : std::string(kestrel::type_name(best->first));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
  m->type_name_ = name;
  return std::unique_ptr<Model>(std::move(m));
}

std::string LoadedModel::repack_summary() const {
  if (!repacked_) return "off";
  auto mib = [](uint64_t b) { return std::to_string((b + (1u << 19)) >> 20) + " MiB"; };
  return std::to_string(repack_.n_packed) + " matrices repacked (" + mib(repack_.packed_bytes) + "), " +
         std::to_string(repack_.n_copied) + " copied to huge pages (" + mib(repack_.copied_bytes) + ")";
}

}  // namespace kestrel
