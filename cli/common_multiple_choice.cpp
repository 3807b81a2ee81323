#include "cli/common_multiple_choice.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "cli/common_json.h"
#include "cli/common_ppl_eval.h"

namespace kestrel::cli {
namespace {

Status line_error(const std::string& path, int line, const std::string& what) {
  return Status::error(path + ":" + std::to_string(line) + ": " + what);
}

}  // namespace

Result<std::vector<ChoiceTask>> parse_choice_tasks(const std::string& text, const std::string& path) {
  std::vector<ChoiceTask> tasks;
  std::istringstream in(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    if (raw.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto v = json::parse(raw);
    if (!v) return line_error(path, line_no, "invalid JSON " + v.error());
    if (!v->is_object()) return line_error(path, line_no, "expected a JSON object per line");
    const json::Json& o = *v;
    if (!o.contains("context") || !o["context"].is_string()) return line_error(path, line_no, "\"context\" must be a string");
    if (!o.contains("endings") || !o["endings"].is_array() || o["endings"].size() < 2)
      return line_error(path, line_no, "\"endings\" must be an array of at least two strings");
    if (!o.contains("label") || !json::is_int(o["label"])) return line_error(path, line_no, "\"label\" must be an integer");
    ChoiceTask t;
    t.line = line_no;
    t.context = o["context"].get<std::string>();
    for (const auto& e : o["endings"]) {
      if (!e.is_string()) return line_error(path, line_no, "\"endings\" must be an array of at least two strings");
      if (e.get<std::string>().empty()) return line_error(path, line_no, "an ending is empty");
      t.endings.push_back(e.get<std::string>());
    }
    const int64_t label = o["label"].get<int64_t>();
    if (label < 0 || label >= static_cast<int64_t>(t.endings.size()))
      return line_error(path, line_no, "\"label\" " + std::to_string(label) + " is not an index into \"endings\"");
    t.label = static_cast<int>(label);
    tasks.push_back(std::move(t));
  }
  if (tasks.empty()) return Status::error(path + ": no tasks (expected JSONL lines {\"context\", \"endings\", \"label\"})");
  return tasks;
}

Result<std::vector<ChoiceTask>> read_choice_tasks(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::error(path + ": cannot open multiple-choice file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_choice_tasks(ss.str(), path);
}

Result<ChoiceScore> score_choice_task(Session& session, const Model& model, const ChoiceTask& task, int n_batch) {
  const Tokenizer& tok = model.tokenizer();
  const int n_vocab = model.config().n_vocab;
  // Like lm-eval-harness: trailing spaces of the context belong to the continuation, and the ending's
  // tokens are whatever the joint encoding adds after the context's tokens (so a word split across the
  // boundary is scored as the tokenizer really sees it).
  std::string context = task.context;
  std::string moved;
  while (!context.empty() && context.back() == ' ') {
    context.pop_back();
    moved += ' ';
  }
  const std::vector<int32_t> ctx_ids = tok.encode(context, true, false);
  ChoiceScore sc;
  for (size_t e = 0; e < task.endings.size(); ++e) {
    const std::string ending = moved + task.endings[e];
    const std::vector<int32_t> ids = tok.encode(context + ending, true, false);
    const size_t n_ctx_tok = std::min(ctx_ids.size(), ids.size());
    if (ids.size() <= n_ctx_tok || n_ctx_tok == 0)
      return Status::error("task on line " + std::to_string(task.line) + ": ending " + std::to_string(e) + " adds no tokens");
    if (static_cast<int>(ids.size()) > session.n_ctx())
      return Status::error("task on line " + std::to_string(task.line) + ": context + ending is " + std::to_string(ids.size()) +
                           " tokens, more than the context size " + std::to_string(session.n_ctx()) + " (raise -c)");
    session.reset();
    double lp = 0;
    for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(n_batch)) {
      const size_t n = std::min(static_cast<size_t>(n_batch), ids.size() - start);
      std::vector<int32_t> piece(ids.begin() + static_cast<long>(start), ids.begin() + static_cast<long>(start + n));
      KESTREL_RETURN_IF_ERROR(session.eval(piece, true));
      // Position p predicts token p + 1; ending tokens are n_ctx_tok .. ids.size() - 1.
      for (size_t k = 0; k < n; ++k) {
        const size_t p = start + k;
        if (p + 1 < n_ctx_tok || p + 1 >= ids.size()) continue;
        const float* lg = session.logits(static_cast<int>(k));
        lp += LogSoftmax::of(lg, n_vocab).logprob(lg, ids[p + 1]);
      }
    }
    sc.logprob.push_back(lp);
    sc.n_tokens.push_back(static_cast<int>(ids.size() - n_ctx_tok));
  }
  auto argmax = [&](auto&& value) {
    int best = 0;
    for (int i = 1; i < static_cast<int>(task.endings.size()); ++i)
      if (value(i) > value(best)) best = i;
    return best;
  };
  sc.best = argmax([&](int i) { return sc.logprob[i]; });
  sc.best_norm = argmax([&](int i) {
    return sc.logprob[i] / static_cast<double>(std::max<size_t>(1, (moved + task.endings[i]).size()));
  });
  return sc;
}

}  // namespace kestrel::cli
