// kestrel::Session: the KV cache, the forward pass's scratch and the thread pool of one conversation.
// Everything is sized once at create(); eval() allocates only when asked for more all-token logits than
// any earlier call.
#include <algorithm>
#include <memory>
#include <numeric>

#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/weights_model.h"

namespace kestrel {
namespace {

class SessionImpl final : public Session {
 public:
  SessionImpl(const LoadedModel& m, KvCache cache, int n_batch, int n_threads)
      : cfg_(m.config()),
        cache_(std::move(cache)),
        fwd_(m.config(), m.arch(), m.bound(), n_batch, cache_.n_ctx()),
        pool_(n_threads),
        rows_(n_batch),
        logits_(std::make_shared<std::vector<float>>(static_cast<size_t>(cfg_.n_vocab))) {}

  Status eval(const std::vector<int32_t>& tokens, bool all_logits) override {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n == 0) return Status::error("eval: no tokens");
    if (n_past_ + n > cache_.n_ctx())
      return Status::error("context overflow: " + std::to_string(n_past_) + " cached + " + std::to_string(n) +
                           " new tokens exceed the context size of " + std::to_string(cache_.n_ctx()));
    for (int64_t i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= cfg_.n_vocab)
        return Status::error("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(cfg_.n_vocab) + ")");
    const size_t V = static_cast<size_t>(cfg_.n_vocab);
    const size_t n_rows = all_logits ? static_cast<size_t>(n) : 1;
    // A new buffer rather than a resize: holders of logits_buffer() keep the old one.
    if (logits_->size() < n_rows * V) logits_ = std::make_shared<std::vector<float>>(n_rows * V);

    const int B = fwd_.n_batch();
    for (int64_t start = 0; start < n; start += B) {
      const int chunk = static_cast<int>(std::min<int64_t>(B, n - start));
      const bool last_chunk = start + chunk == n;
      int n_out = 0;
      float* out = logits_->data();
      if (all_logits) {
        std::iota(rows_.begin(), rows_.begin() + chunk, 0);
        n_out = chunk;
        out += static_cast<size_t>(start) * V;
      } else if (last_chunk) {
        rows_[0] = chunk - 1;
        n_out = 1;
      }
      fwd_.eval(pool_, cache_, tokens.data() + start, chunk, n_past_, rows_.data(), n_out, out);
      n_past_ += chunk;
    }
    n_logits_ = static_cast<int>(n_rows);
    return Status::ok();
  }

  const float* logits(int i) const override {
    if (n_logits_ == 0) return nullptr;
    if (i < 0) i = n_logits_ - 1;
    if (i >= n_logits_) return nullptr;
    return logits_->data() + static_cast<size_t>(i) * cfg_.n_vocab;
  }
  std::shared_ptr<const float> logits_buffer() const override { return {logits_, logits_->data()}; }
  int n_logits() const override { return n_logits_; }
  int n_past() const override { return static_cast<int>(n_past_); }
  int n_ctx() const override { return cache_.n_ctx(); }
  void reset() override {
    n_past_ = 0;
    n_logits_ = 0;
  }
  void truncate(int n) override {
    if (n < 0) n = 0;
    if (n < n_past_) {
      n_past_ = n;  // positions past n are simply overwritten by the next eval
      n_logits_ = 0;
    }
  }
  kernels::ThreadPool& pool() override { return pool_; }

 private:
  const ModelConfig& cfg_;  // the model must outlive its sessions
  KvCache cache_;
  Forward fwd_;
  kernels::ThreadPool pool_;
  std::vector<int32_t> rows_;
  std::shared_ptr<std::vector<float>> logits_;
  int64_t n_past_ = 0;
  int n_logits_ = 0;
};

}  // namespace

Result<std::unique_ptr<Session>> Session::create(const Model& model, const SessionParams& params) {
  const auto* m = dynamic_cast<const LoadedModel*>(&model);
  if (!m) return Status::error("Session::create: model was not made by Model::load");
  const ModelConfig& cfg = m->config();
  if (params.n_ctx < 0) return Status::error("context size must be >= 0 (0: the model's training context)");
  if (params.n_batch < 1) return Status::error("batch size must be >= 1");
  if (params.n_threads < 0) return Status::error("thread count must be >= 0 (0: all cores)");
  if (params.n_threads > 1024) return Status::error("thread count " + std::to_string(params.n_threads) + " is too large");
  const int n_ctx = params.n_ctx > 0 ? params.n_ctx : cfg.n_ctx_train;
  const int n_batch = std::min(params.n_batch, n_ctx);
  // Learned position embeddings (GPT-2) have rows for the training context only.
  if (m->bound().pos_embd && n_ctx > cfg.n_ctx_train)
    return Status::error("context size " + std::to_string(n_ctx) + " exceeds the model's " +
                         std::to_string(cfg.n_ctx_train) + " learned positions");
  // Sliding-window layers keep a ring of the window plus one batch (every position a batch's queries
  // read); global layers keep n_ctx positions.
  std::vector<int> rows(cfg.n_layer, n_ctx);
  for (int il = 0; il < cfg.n_layer; ++il)
    if (cfg.is_swa(il)) rows[il] = static_cast<int>(std::min<int64_t>(n_ctx, int64_t{cfg.n_swa} + n_batch - 1));
  auto cache = KvCache::create(cfg.n_layer, n_ctx, cfg.n_embd_kv(), params.cache_type, rows);
  if (!cache) return Status::error(cache.error());
  const int n_threads = params.n_threads > 0 ? params.n_threads : kernels::ThreadPool::hardware_threads();
  return std::unique_ptr<Session>(new SessionImpl(*m, std::move(*cache), n_batch, n_threads));
}

}  // namespace kestrel
