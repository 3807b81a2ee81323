#include "python/src/generation.h"

#include <mutex>

namespace py = pybind11;

namespace kestrel::binding {

Generation::Generation(std::shared_ptr<Engine> eng, std::vector<int32_t> prompt, const GenerateParams& params)
    : eng_(std::move(eng)), prompt_(std::move(prompt)) {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  held_ = eng_->hold(/*take_over=*/true, &epoch_);
  if (prompt_.empty()) throw ArgumentError("the prompt encodes to no tokens");
  if (static_cast<int>(prompt_.size()) > held_.session->n_ctx())
    throw ContextError("the prompt is " + std::to_string(prompt_.size()) + " tokens, longer than the context size " +
                       std::to_string(held_.session->n_ctx()) + " (raise n_ctx)");
  held_.session->reset();
  gen_ = std::make_unique<Generator>(*held_.session, *held_.model, params);
}

bool Generation::step_locked(std::string* out) {
  eng_->check_current(epoch_);
  if (!started_) {
    started_ = true;
    if (Status st = gen_->start(prompt_); !st) throw Error(st.message());
  }
  if (gen_->done()) return false;
  auto piece = gen_->next();
  if (!piece) throw Error(piece.error());
  *out += *piece;
  return true;
}

py::object Generation::next() {
  std::string piece;
  {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> compute(eng_->compute_mu);
    // Tokens whose text is held back (half a UTF-8 character, a possible stop string) give no piece.
    while (piece.empty() && step_locked(&piece))
      if (piece.empty()) check_signals_without_gil();
  }
  if (piece.empty()) throw py::stop_iteration();
  return to_str(piece);
}

std::string Generation::read_all() {
  std::string text;
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  while (step_locked(&text)) check_signals_without_gil();
  return text;
}

namespace {

std::optional<std::string> reason_name(FinishReason r) {  // llama-cpp-python's finish_reason values
  switch (r) {
    case FinishReason::Eog:
    case FinishReason::StopString: return "stop";
    case FinishReason::Length:
    case FinishReason::ContextFull: return "length";
    case FinishReason::Running:
    case FinishReason::Error: break;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Generation::finish_reason() const {
  py::gil_scoped_release nogil;  // another thread may be reading this generation
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  return reason_name(gen_->finish_reason());
}

std::vector<int32_t> Generation::tokens() const {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  return gen_->tokens();
}

std::pair<int, int> Generation::drafts() const {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  return {gen_->n_drafted(), gen_->n_accepted()};
}

}  // namespace kestrel::binding
