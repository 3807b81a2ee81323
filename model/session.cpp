// kestrel::Session: the KV caches (one per sequence), the forward pass's scratch and the thread pool.
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
  SessionImpl(const LoadedModel& m, std::vector<KvCache> caches, int n_batch, int n_threads,
              kernels::ThreadPool* shared_pool)
      : cfg_(m.config()),
        caches_(std::move(caches)),
        fwd_(m.config(), m.arch(), m.bound(), n_batch, caches_[0].n_ctx()),
        owned_pool_(shared_pool ? nullptr : std::make_unique<kernels::ThreadPool>(n_threads)),
        pool_(shared_pool ? *shared_pool : *owned_pool_),
        rows_(n_batch),
        ids_(n_batch),
        n_past_(caches_.size(), 0),
        logits_(std::make_shared<std::vector<float>>(static_cast<size_t>(cfg_.n_vocab))) {}

  Status eval(const std::vector<int32_t>& tokens, bool all_logits) override {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (n == 0) return Status::error("eval: no tokens");
    if (Status st = check_tokens(0, tokens.data(), n); !st) return st;
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
      fwd_.eval(pool_, caches_[0], tokens.data() + start, chunk, n_past_[0], rows_.data(), n_out, out);
      n_past_[0] += chunk;
    }
    n_logits_ = static_cast<int>(n_rows);
    item_row_.clear();
    item_first_row_.clear();
    return Status::ok();
  }

  Status eval_batch(const std::vector<SeqTokens>& items) override {
    if (items.empty()) return Status::error("eval_batch: no items");
    int64_t total = 0;
    seen_.assign(caches_.size(), 0);
    for (const SeqTokens& it : items) {
      if (it.seq < 0 || it.seq >= n_seq())
        return Status::error("eval_batch: sequence " + std::to_string(it.seq) + " is out of range [0, " +
                             std::to_string(n_seq()) + ")");
      if (seen_[it.seq]++) return Status::error("eval_batch: sequence " + std::to_string(it.seq) + " appears twice");
      if (it.n < 1 || !it.tokens) return Status::error("eval_batch: an item has no tokens");
      if (Status st = check_tokens(it.seq, it.tokens, it.n); !st) return st;
      total += it.n;
    }
    if (total > fwd_.n_batch())
      return Status::error("eval_batch: " + std::to_string(total) + " tokens exceed the batch size " +
                           std::to_string(fwd_.n_batch()));
    spans_.clear();
    item_row_.assign(items.size(), -1);
    item_first_row_.assign(items.size(), -1);
    int row = 0, n_out = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      const SeqTokens& it = items[k];
      std::copy_n(it.tokens, it.n, ids_.begin() + row);
      spans_.push_back({&caches_[it.seq], row, it.n, n_past_[it.seq]});
      row += it.n;
      if (it.all_logits) {
        item_first_row_[k] = n_out;
        for (int r = row - it.n; r < row; ++r) rows_[n_out++] = r;  // ascending: items are laid out in order
        item_row_[k] = n_out - 1;
      } else if (it.logits) {
        rows_[n_out] = row - 1;
        item_row_[k] = n_out++;
      }
    }
    const size_t need = static_cast<size_t>(std::max(n_out, 1)) * cfg_.n_vocab;
    if (logits_->size() < need) logits_ = std::make_shared<std::vector<float>>(need);  // see eval()
    fwd_.eval(pool_, spans_.data(), static_cast<int>(spans_.size()), ids_.data(), row, rows_.data(), n_out,
              logits_->data());
    for (const SeqTokens& it : items) n_past_[it.seq] += it.n;
    n_logits_ = 0;  // logits() is for eval(); the rows of this batch are read by item
    return Status::ok();
  }

  const float* item_logits(int k) const override {
    if (k < 0 || k >= static_cast<int>(item_row_.size()) || item_row_[k] < 0) return nullptr;
    return logits_->data() + static_cast<size_t>(item_row_[k]) * cfg_.n_vocab;
  }
  const float* item_logits(int k, int i) const override {
    if (k < 0 || k >= static_cast<int>(item_first_row_.size()) || item_first_row_[k] < 0 || i < 0 ||
        item_first_row_[k] + i > item_row_[k])
      return nullptr;
    return logits_->data() + static_cast<size_t>(item_first_row_[k] + i) * cfg_.n_vocab;
  }
  int n_seq() const override { return static_cast<int>(caches_.size()); }
  int n_batch() const override { return fwd_.n_batch(); }
  int n_past(int seq) const override {
    return seq >= 0 && seq < n_seq() ? static_cast<int>(n_past_[seq]) : 0;
  }
  void truncate(int seq, int n) override {
    if (seq < 0 || seq >= n_seq() || n < 0 || n >= n_past_[seq]) return;
    // A sliding-window layer's ring holds only positions [n_past - rows, n_past): the kept prefix is
    // exact only while the window its next query reads, [n - n_swa, n), has not been overwritten.
    // Otherwise the sequence starts over (everything is evaluated again).
    const KvCache& c = caches_[seq];
    for (int il = 0; il < cfg_.n_layer; ++il)
      if (c.ring(il) > 0 && n_past_[seq] - n > c.rows(il) - cfg_.n_swa) n = 0;
    n_past_[seq] = n;
  }

  const float* logits(int i) const override {
    if (n_logits_ == 0) return nullptr;
    if (i < 0) i = n_logits_ - 1;
    if (i >= n_logits_) return nullptr;
    return logits_->data() + static_cast<size_t>(i) * cfg_.n_vocab;
  }
  std::shared_ptr<const float> logits_buffer() const override { return {logits_, logits_->data()}; }
  int n_logits() const override { return n_logits_; }
  int n_past() const override { return static_cast<int>(n_past_[0]); }
  int n_ctx() const override { return caches_[0].n_ctx(); }
  void reset() override {
    std::fill(n_past_.begin(), n_past_.end(), 0);
    n_logits_ = 0;
    item_row_.clear();
    item_first_row_.clear();
  }
  void truncate(int n) override {
    if (n < 0) n = 0;
    if (n < n_past_[0]) {
      truncate(0, n);  // positions past n are simply overwritten by the next eval
      n_logits_ = 0;
    }
  }
  kernels::ThreadPool& pool() override { return pool_; }
  void set_tensor_tap(TensorTap tap) override { fwd_.set_tap(std::move(tap)); }

 private:
  // Ids in range and room in the sequence's cache for n more tokens.
  Status check_tokens(int seq, const int32_t* tokens, int64_t n) const {
    const int64_t past = n_past_[seq], ctx = caches_[seq].n_ctx();
    if (past + n > ctx)
      return Status::error("context overflow: " + std::to_string(past) + " cached + " + std::to_string(n) +
                           " new tokens exceed the context size of " + std::to_string(ctx));
    for (int64_t i = 0; i < n; ++i)
      if (tokens[i] < 0 || tokens[i] >= cfg_.n_vocab)
        return Status::error("token id " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
                             " is out of range [0, " + std::to_string(cfg_.n_vocab) + ")");
    return Status::ok();
  }

  const ModelConfig& cfg_;  // the model must outlive its sessions
  std::vector<KvCache> caches_;  // one per sequence
  Forward fwd_;
  std::unique_ptr<kernels::ThreadPool> owned_pool_;  // nullptr when SessionParams::pool was given
  kernels::ThreadPool& pool_;
  std::vector<int32_t> rows_;
  std::vector<int32_t> ids_;       // eval_batch: the items' tokens, concatenated
  std::vector<SeqSpan> spans_;
  std::vector<int> item_row_;      // eval_batch: logits row of each item's last token, -1 when none
  std::vector<int> item_first_row_;  // eval_batch: logits row of an all_logits item's first token, else -1
  std::vector<int> seen_;
  std::vector<int64_t> n_past_;    // per sequence
  std::shared_ptr<std::vector<float>> logits_;
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
  if (params.n_seq < 1 || params.n_seq > 256)
    return Status::error("sequence count " + std::to_string(params.n_seq) + " is out of range [1, 256]");
  const int n_ctx = params.n_ctx > 0 ? params.n_ctx : cfg.n_ctx_train;
  // One sequence never needs more than n_ctx rows; a multi-sequence batch may fill n_batch rows.
  const int n_batch = params.n_seq == 1 ? std::min(params.n_batch, n_ctx) : params.n_batch;
  // Learned position embeddings (GPT-2) have rows for the training context only.
  if (m->bound().pos_embd && n_ctx > cfg.n_ctx_train)
    return Status::error("context size " + std::to_string(n_ctx) + " exceeds the model's " +
                         std::to_string(cfg.n_ctx_train) + " learned positions");
  // Sliding-window layers keep a ring of the window plus one batch (every position a batch's queries
  // read; a sequence has at most n_batch rows in a batch); global layers keep n_ctx positions.
  std::vector<int> rows(cfg.n_layer, n_ctx);
  for (int il = 0; il < cfg.n_layer; ++il)
    if (cfg.is_swa(il)) rows[il] = static_cast<int>(std::min<int64_t>(n_ctx, int64_t{cfg.n_swa} + n_batch - 1));
  std::vector<KvCache> caches;
  for (int s = 0; s < params.n_seq; ++s) {
    auto cache = KvCache::create(cfg.n_layer, n_ctx, cfg.n_embd_kv(), params.cache_type, rows);
    if (!cache) return Status::error(cache.error());
    caches.push_back(std::move(*cache));
  }
  const int n_threads = params.n_threads > 0 ? params.n_threads : kernels::ThreadPool::hardware_threads();
  return std::unique_ptr<Session>(new SessionImpl(*m, std::move(caches), n_batch, n_threads, params.pool));
}

}  // namespace kestrel
