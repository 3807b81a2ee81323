#include "server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "model/generate.h"

namespace kestrel::server {

struct Scheduler::Slot {
  int seq = 0;
  std::vector<int32_t> cached;  // the tokens whose K/V are in the sequence (= session n_past(seq))
  std::shared_ptr<Task> task;   // null: free
  size_t n_prompt_done = 0;     // prompt tokens in the cache
  int n_reused = 0;             // of which were kept from the previous request
  bool decoding = false;        // prompt done: each step evaluates `pending` and samples the next
  int32_t pending = -1;
  int n_gen = 0;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<TokenStreamer> streamer;
  std::unique_ptr<StopMatcher> stop;
  std::vector<TokenLogprob> logprobs;  // tokens whose text has not been sent yet
  bool prompt_logprobs = false;        // echo + logprobs: every prompt position's logits are kept
  std::vector<TokenLogprob> prompt_lp; // the prompt tokens' log-probabilities so far
  uint64_t last_used = 0;
  // Speculative decoding.
  std::unique_ptr<ModelDrafter> model_drafter;  // with a draft model: on this slot's draft sequence
  bool spec = false;                   // this request drafts (greedy and speculative.n_max > 0)
  std::vector<int32_t> batch;          // this step's item: pending, then the drafts
  int n_drafted = 0, n_accepted = 0;
  std::chrono::steady_clock::time_point t_start, t_first;  // request start, first token
  bool has_first = false;
};

namespace {

size_t common_prefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Log-probability of `id` under softmax(logits) and the n most likely tokens (raw model distribution,
// as OpenAI's logprobs report it).
TokenLogprob logprob_of(const float* logits, int V, int32_t id, int n_top, std::vector<int32_t>& idx) {
  float mx = logits[0];
  for (int i = 1; i < V; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int i = 0; i < V; ++i) sum += std::exp(static_cast<double>(logits[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  TokenLogprob lp;
  lp.id = id;
  lp.logprob = logits[id] - lse;
  n_top = std::min(n_top, V);
  if (n_top > 0) {
    idx.resize(V);
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + n_top, idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    for (int i = 0; i < n_top; ++i) lp.top.emplace_back(idx[i], logits[idx[i]] - lse);
  }
  return lp;
}

// echo + logprobs reads the logits of every prompt token: at most this many per step, so the logits
// buffer stays small (rows x n_vocab floats) and other streams keep their pace.
constexpr int kPromptLogitsChunk = 32;

uint64_t micros_since(std::chrono::steady_clock::time_point t0) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace

Scheduler::Scheduler(const Model& model, Session& session, Metrics& metrics, const Model* draft_model,
                     Session* draft_session)
    : model_(model), session_(session), metrics_(metrics) {
  for (int i = 0; i < session.n_seq(); ++i) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->seq = i;
    if (draft_model && draft_session && i < draft_session->n_seq())
      slots_.back()->model_drafter = ModelDrafter::on_sequence(*draft_model, *draft_session, i);
  }
  metrics_.n_slots = session.n_seq();
  metrics_.n_ctx_slot = session.n_ctx();
}

Scheduler::~Scheduler() = default;

Status Scheduler::submit(std::shared_ptr<Task> task) {
  {
    std::lock_guard<std::mutex> lk(m_);
    if (stopping_) return Status::error("the server is shutting down");
    queue_.push_back(std::move(task));
    metrics_.queue_length = static_cast<int>(queue_.size());
  }
  cv_.notify_one();
  return Status::ok();
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lk(m_);
    stopping_ = true;
  }
  cv_.notify_one();
}

bool Scheduler::any_busy() const {
  for (const auto& s : slots_)
    if (s->task) return true;
  return false;
}

void Scheduler::run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lk(m_);
      if (!any_busy()) cv_.wait(lk, [&] { return !queue_.empty() || stopping_; });
      if (stopping_ && queue_.empty() && !any_busy()) return;
      admit();
    }
    step();
  }
}

void Scheduler::admit() {
  while (!queue_.empty()) {
    std::shared_ptr<Task> t = queue_.front();
    if (t->cancelled) {  // the client left while waiting
      queue_.pop_front();
      metrics_.generations_cancelled++;
      continue;
    }
    // The free slot whose cache shares the longest prefix with the prompt, when that prefix is at least
    // half the prompt (llama-server's similarity rule); otherwise the least recently used free slot, so
    // a stranger's prompt does not evict a conversation that shares only its first tokens.
    Slot* best = nullptr;
    Slot* lru = nullptr;
    size_t best_prefix = 0;
    for (auto& s : slots_) {
      if (s->task) continue;
      const size_t p = common_prefix(s->cached, t->params.prompt);
      if (p > best_prefix) {
        best = s.get();
        best_prefix = p;
      }
      if (!lru || s->last_used < lru->last_used) lru = s.get();
    }
    if (!best || 2 * best_prefix < t->params.prompt.size()) best = lru;
    if (!best) break;
    queue_.pop_front();
    start(*best, std::move(t));
  }
  metrics_.queue_length = static_cast<int>(queue_.size());
}

void Scheduler::start(Slot& s, std::shared_ptr<Task> t) {
  const GenParams& p = t->params;
  // Keep the shared prefix, but always evaluate at least the last prompt token: its logits are needed.
  // Prompt log-probabilities need the logits of every prompt position: nothing is reused.
  // cache_prompt false (llama-server's): the whole prompt is evaluated in its own batch, as llm-cli does.
  const bool prompt_logprobs = p.echo && p.logprobs >= 0;
  size_t keep = prompt_logprobs || !p.cache_prompt ? 0 : std::min(common_prefix(s.cached, p.prompt), p.prompt.size() - 1);
  session_.truncate(s.seq, static_cast<int>(keep));
  keep = std::min(keep, static_cast<size_t>(session_.n_past(s.seq)));  // a sliding-window ring may keep less
  s.cached.resize(keep);
  s.task = std::move(t);
  s.n_prompt_done = keep;
  s.n_reused = static_cast<int>(keep);
  s.decoding = false;
  s.pending = -1;
  s.n_gen = 0;
  s.sampler = std::make_unique<Sampler>(p.sampling);
  for (int32_t id : p.prompt) s.sampler->accept(id);  // the penalties see the prompt, as in llm-cli
  s.streamer = std::make_unique<TokenStreamer>(model_.tokenizer());
  s.stop = std::make_unique<StopMatcher>(p.stop);
  s.logprobs.clear();
  s.prompt_logprobs = prompt_logprobs;
  s.prompt_lp.clear();
  // Speculation changes only the speed, and only greedy choices can be checked against drafts.
  s.spec = p.sampling.temp <= 0 && p.spec_n_max > 0;
  if (s.spec && s.model_drafter) s.model_drafter->set_p_min(p.spec_p_min);
  s.n_drafted = s.n_accepted = 0;
  s.t_start = std::chrono::steady_clock::now();
  s.has_first = false;
  if (prompt_logprobs) {
    TokenLogprob first;
    first.id = p.prompt[0];
    first.has_logprob = false;
    s.prompt_lp.push_back(first);
  }
  metrics_.busy_slots++;
  metrics_.prompt_tokens_cached += keep;
  // max_tokens 0 ends before the prompt is read, unless its log-probabilities were asked for (scoring).
  if (p.max_tokens == 0 && !prompt_logprobs) finish(s, "length");
}

void Scheduler::step() {
  for (auto& s : slots_)
    if (s->task && s->task->cancelled) {
      metrics_.generations_cancelled++;
      release(*s);
    }
  items_.clear();
  owners_.clear();
  const auto t0 = std::chrono::steady_clock::now();  // drafting is part of the step's time
  int budget = session_.n_batch();
  int n_decode = 0, n_prompt = 0;
  for (auto& s : slots_)
    if (s->task && s->decoding) ++n_decode;
  n_decode = std::min(n_decode, budget);
  // Drafts take the room the decoding slots' own tokens leave, before the prompts.
  int draft_room = budget - n_decode;
  for (auto& s : slots_)
    if (s->task && s->decoding && budget > 0) {
      s->batch.assign(1, s->pending);
      if (s->spec && draft_room > 0) add_drafts(*s, draft_room);
      const int n = static_cast<int>(s->batch.size());
      draft_room -= n - 1;
      items_.push_back({s->seq, s->batch.data(), n, true, n > 1});
      owners_.push_back(s.get());
      budget -= n;
    }
  // Prompts fill the rest of the batch, a different one first each step, so one long prompt goes in
  // chunks between the decode steps of the others instead of stalling them.
  const size_t n = slots_.size();
  for (size_t i = 0; i < n && budget > 0; ++i) {
    Slot& s = *slots_[(round_robin_ + i) % n];
    if (!s.task || s.decoding) continue;
    const auto& prompt = s.task->params.prompt;
    const int remaining = static_cast<int>(prompt.size() - s.n_prompt_done);
    const int chunk = std::min({remaining, budget, s.prompt_logprobs ? kPromptLogitsChunk : remaining});
    items_.push_back({s.seq, prompt.data() + s.n_prompt_done, chunk, chunk == remaining, s.prompt_logprobs});
    owners_.push_back(&s);
    budget -= chunk;
    n_prompt += chunk;
  }
  ++round_robin_;
  if (items_.empty()) return;

  const Status st = session_.eval_batch(items_);
  const uint64_t us = micros_since(t0);
  metrics_.steps++;
  if (n_prompt > 0) {
    metrics_.prompt_tokens += n_prompt;
    metrics_.prompt_us += us;
  }
  if (n_decode > 0) metrics_.decode_us += us;
  for (size_t k = 0; k < items_.size(); ++k) {
    Slot& s = *owners_[k];
    if (!st) {  // cannot happen for checked prompts; never leave a client waiting
      Event e;
      e.kind = Event::Kind::Error;
      e.error = st.message();
      s.task->push(std::move(e));
      session_.truncate(s.seq, 0);
      s.cached.clear();
      release(s);
      continue;
    }
    s.cached.insert(s.cached.end(), items_[k].tokens, items_[k].tokens + items_[k].n);
    if (s.decoding) {
      verify(s, static_cast<int>(k));
      continue;
    }
    // A prompt chunk; the last one's logits give the first token.
    if (s.prompt_logprobs) prompt_logprobs(s, static_cast<int>(k));
    s.n_prompt_done += items_[k].n;
    if (!items_[k].logits) continue;
    s.decoding = true;
    // The draft model reads the prompt now (prompt time); should that fail, its first draft() retries.
    if (s.spec && s.model_drafter) {
      if (Status ds = s.model_drafter->prefill(s.cached); !ds)
        std::fprintf(stderr, "llm-server: slot %d: %s\n", s.seq, ds.message().c_str());
    }
    if (s.prompt_logprobs) {
      Event e;
      e.prompt = true;
      e.tokens.swap(s.prompt_lp);
      s.task->push(std::move(e));
      if (s.task->params.max_tokens == 0) {
        finish(s, "length");
        continue;
      }
    }
    const float* logits = session_.item_logits(static_cast<int>(k));
    deliver(s, choose(s, logits), logits, s.cached.size());
  }
}

void Scheduler::add_drafts(Slot& s, int room) {
  const GenParams& p = s.task->params;
  // The batch row budget, the rollback distance a sliding-window ring still holds (n_batch - 1, see
  // Generator), the context (every draft needs a position) and the token budget (the item gives up to
  // k + 1 tokens) cap the drafts.
  const int base = static_cast<int>(s.cached.size());
  int k = std::min({p.spec_n_max, room, session_.n_batch() - 1, session_.n_ctx() - base - 1});
  if (p.max_tokens >= 0) k = std::min(k, p.max_tokens - s.n_gen - 1);
  if (k < std::max(1, p.spec_n_min)) return;
  Drafter& d = s.model_drafter ? static_cast<Drafter&>(*s.model_drafter) : lookup_;
  s.cached.push_back(s.pending);  // the drafter's context: everything cached, then the token to evaluate
  auto r = d.draft(s.cached, k);
  s.cached.pop_back();
  if (!r) {  // a draft model's eval failed: decode this step without drafts (the tokens do not change)
    std::fprintf(stderr, "llm-server: slot %d: %s\n", s.seq, r.error().c_str());
    return;
  }
  if (static_cast<int>(r->size()) > k) r->resize(k);
  if (static_cast<int>(r->size()) < p.spec_n_min) return;  // llama.cpp's n_min: too short to verify
  s.batch.insert(s.batch.end(), r->begin(), r->end());
}

bool Scheduler::is_end(const Slot& s, int32_t id) const {
  const GenParams& p = s.task->params;
  return !p.ignore_eos && (model_.tokenizer().is_eog(id) ||
                           std::find(p.stop_tokens.begin(), p.stop_tokens.end(), id) != p.stop_tokens.end());
}

// Row i of the item holds the logits after batch[0..i]: its greedy choice is the token plain decoding
// gives there as long as every earlier draft was right. The rows are chosen first (the draft counts go
// into the Done event that delivering may send), then the cache is rolled back, then the tokens go out.
void Scheduler::verify(Slot& s, int k) {
  const int nd = items_[k].n - 1;
  const size_t base = s.cached.size() - items_[k].n;  // position of batch[0] (the pending token)
  thread_local std::vector<int32_t> ids;
  ids.clear();
  for (int i = 0; i <= nd; ++i) {
    const int32_t id = choose(s, nd == 0 ? session_.item_logits(k) : session_.item_logits(k, i));
    ids.push_back(id);
    if (i == nd || id != s.batch[i + 1] || is_end(s, id)) break;
  }
  const int accepted = static_cast<int>(ids.size()) - 1;
  s.n_drafted += nd;
  s.n_accepted += accepted;
  metrics_.draft_tokens += nd;
  metrics_.draft_tokens_accepted += accepted;
  const size_t keep = base + 1 + accepted;  // the pending token and the accepted drafts
  if (keep < s.cached.size()) {
    session_.truncate(s.seq, static_cast<int>(keep));
    s.cached.resize(keep);
    if (static_cast<size_t>(session_.n_past(s.seq)) != keep) {  // cannot happen with k <= n_batch - 1 (add_drafts)
      Event e;
      e.kind = Event::Kind::Error;
      e.error = "speculative decoding: the KV cache could not be rolled back to position " + std::to_string(keep);
      s.task->push(std::move(e));
      session_.truncate(s.seq, 0);
      s.cached.clear();
      release(s);
      return;
    }
  }
  for (size_t j = 0; j < ids.size() && s.task; ++j)
    deliver(s, ids[j], nd == 0 ? session_.item_logits(k) : session_.item_logits(k, static_cast<int>(j)), base + 1 + j);
}

// Row i of item k is prompt position n_prompt_done + i; its logits predict the next prompt token.
void Scheduler::prompt_logprobs(Slot& s, int k) {
  const GenParams& p = s.task->params;
  const int V = model_.config().n_vocab;
  thread_local std::vector<int32_t> idx;
  for (int i = 0; i < items_[k].n; ++i) {
    const size_t next = s.n_prompt_done + i + 1;
    if (next >= p.prompt.size()) break;
    s.prompt_lp.push_back(logprob_of(session_.item_logits(k, i), V, p.prompt[next], p.logprobs, idx));
  }
}

int32_t Scheduler::choose(Slot& s, const float* logits) {
  const int32_t id = s.sampler->sample(logits, model_.config().n_vocab);
  s.sampler->accept(id);
  return id;
}

void Scheduler::deliver(Slot& s, int32_t id, const float* logits, size_t n_past) {
  const GenParams& p = s.task->params;
  const int V = model_.config().n_vocab;
  if (!s.has_first) {
    s.has_first = true;
    s.t_first = std::chrono::steady_clock::now();
  }
  ++s.n_gen;
  metrics_.predicted_tokens++;
  if (is_end(s, id)) return finish(s, "stop");  // the end-of-generation token is not part of the output
  thread_local std::vector<int32_t> idx;
  if (p.logprobs >= 0) s.logprobs.push_back(logprob_of(logits, V, id, p.logprobs, idx));
  emit(s, s.stop->push(s.streamer->push(id)));
  if (s.stop->matched()) return finish(s, "stop");
  if (p.max_tokens >= 0 && s.n_gen >= p.max_tokens) return finish(s, "length");
  if (n_past >= static_cast<size_t>(session_.n_ctx())) return finish(s, "length");  // no room to evaluate it
  s.pending = id;
}

void Scheduler::emit(Slot& s, std::string text) {
  if (text.empty()) return;  // held back (incomplete character or a possible stop string)
  Event e;
  e.text = std::move(text);
  e.tokens.swap(s.logprobs);
  s.task->push(std::move(e));
}

void Scheduler::finish(Slot& s, const char* reason) {
  if (!s.stop->matched()) {
    std::string rest = s.stop->push(s.streamer->flush());
    if (!s.stop->matched()) rest += s.stop->flush();
    else reason = "stop";
    emit(s, std::move(rest));
  }
  if (!s.logprobs.empty()) {  // tokens whose text was cut by a stop string or held back
    Event e;
    e.tokens.swap(s.logprobs);
    s.task->push(std::move(e));
  }
  Event done;
  done.kind = Event::Kind::Done;
  done.finish_reason = reason;
  done.n_prompt = static_cast<int>(s.task->params.prompt.size());
  done.n_cached = s.n_reused;
  done.n_gen = s.n_gen;
  done.speculative = s.spec;
  done.n_drafted = s.n_drafted;
  done.n_accepted = s.n_accepted;
  const auto now = std::chrono::steady_clock::now();
  using ms = std::chrono::duration<double, std::milli>;
  done.prompt_ms = ms((s.has_first ? s.t_first : now) - s.t_start).count();
  done.predicted_ms = s.has_first ? ms(now - s.t_first).count() : 0.0;
  s.task->push(std::move(done));
  metrics_.generations_total++;
  release(s);
}

void Scheduler::release(Slot& s) {
  s.task.reset();
  s.decoding = false;
  s.pending = -1;
  s.last_used = ++clock_;
  metrics_.busy_slots--;
}

}  // namespace kestrel::server
