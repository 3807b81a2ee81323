#pragma once
// Continuous batching: N slots, one sequence of a multi-sequence Session each. Every step evaluates
// the next token of every decoding slot and a chunk of every prompt still being read in ONE forward
// pass (each weight is read once for all of them), then samples for the rows that ended a prompt or
// decoded a token. Requests join free slots between steps; a slot keeps the KV of the prefix its
// previous request shares with the next one, so a multi-turn chat re-evaluates only the new turn.
//
// Speculative decoding per request (greedy requests with speculative.n_max > 0): a slot's item in the
// step is its last token plus up to n_max drafted tokens (prompt lookup, or a draft model on the slot's
// sequence of a multi-sequence draft session), every row with logits. The slot keeps the longest prefix
// of drafts equal to its own greedy choices plus one token of its own, and its KV cache is truncated back
// over the rest; the tokens are those plain decoding gives, just several per step.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "model/llm.h"
#include "model/speculative.h"
#include "server/metrics.h"
#include "server/task.h"

namespace kestrel::server {

class Scheduler {
 public:
  // session: n_seq() slots of n_ctx() positions each. model, session and metrics outlive the scheduler.
  // draft_model + draft_session (n_seq() sequences too; the caller checked check_same_vocab): the
  // speculative requests draft with it; without, they use prompt lookup.
  Scheduler(const Model& model, Session& session, Metrics& metrics, const Model* draft_model = nullptr,
            Session* draft_session = nullptr);
  ~Scheduler();

  // Queues a task (its prompt already checked against n_ctx_slot()); error once stop() was called.
  Status submit(std::shared_ptr<Task> task);
  // The step loop, on its own thread. Returns after stop() once every queued and running task is done.
  void run();
  void stop();
  int n_ctx_slot() const { return session_.n_ctx(); }
  int n_slots() const { return session_.n_seq(); }

 private:
  struct Slot;
  void admit();                        // queued tasks -> free slots (under m_)
  void start(Slot& s, std::shared_ptr<Task> t);
  void step();                         // one forward pass over every busy slot
  int32_t choose(Slot& s, const float* logits);  // samples the next token and tells the sampler
  // Hands out a chosen token (logprobs, text, stop checks; may finish the slot). n_past: the positions
  // the slot holds once the token before it is evaluated (plain decoding's n_past).
  void deliver(Slot& s, int32_t id, const float* logits, size_t n_past);
  void add_drafts(Slot& s, int room);   // the slot's drafts for this step, at most `room` tokens
  void verify(Slot& s, int k);          // a decoding slot's item k: accept drafts, roll back, deliver
  bool is_end(const Slot& s, int32_t id) const;
  void prompt_logprobs(Slot& s, int k);  // echo + logprobs: the prompt tokens of items_[k]
  void emit(Slot& s, std::string text);
  void finish(Slot& s, const char* reason);
  void release(Slot& s);
  bool any_busy() const;

  const Model& model_;
  Session& session_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<SeqTokens> items_;       // this step's batch
  std::vector<Slot*> owners_;          // slot of each item
  uint64_t clock_ = 0;                 // for least-recently-used slot choice
  size_t round_robin_ = 0;             // which prompt gets the batch room first
  LookupDrafter lookup_;               // stateless: shared by the slots that use prompt lookup

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Task>> queue_;
  bool stopping_ = false;
};

}  // namespace kestrel::server
