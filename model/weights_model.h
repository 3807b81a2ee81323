#pragma once
// The loaded model behind kestrel::Model: the weight store (mmap or heap), the validated config, the
// bound tensor views and the tokenizer. Sessions read it; nothing in it changes after load().
#include <memory>
#include <string>

#include "model/arch.h"
#include "model/llm.h"
#include "model/repack_weights.h"
#include "model/weights.h"

namespace kestrel {

class LoadedModel final : public Model {
 public:
  static Result<std::unique_ptr<Model>> open(const std::string& path, const LoadParams& params);

  const ModelConfig& config() const override { return cfg_; }
  const Tokenizer& tokenizer() const override { return *tok_; }
  const WeightStore& weights() const override { return *ws_; }
  uint64_t n_params() const override { return n_params_; }
  std::string type_name() const override { return type_name_; }
  std::string repack_summary() const override;

  const ArchSpec& arch() const { return *arch_; }
  const ModelWeights& bound() const { return w_; }

 private:
  std::unique_ptr<WeightStore> ws_;
  ModelConfig cfg_;
  const ArchSpec* arch_ = nullptr;
  ModelWeights w_;
  std::unique_ptr<Tokenizer> tok_;
  uint64_t n_params_ = 0;
  std::string type_name_;
  bool repacked_ = false;
  RepackStats repack_;
};

}  // namespace kestrel
