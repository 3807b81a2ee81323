#pragma once
// Multiple-choice evaluation (llm-perplexity --multiple-choice FILE), the lm-evaluation-harness way:
// each ending is scored by the summed log-likelihood of its tokens given the context; the task counts as
// right when the labelled ending scores highest (acc), and separately when it scores highest after
// dividing by the ending's length in bytes (acc_norm).
//
// FILE is JSONL, one task per line: {"context": "...", "endings": ["...", "..."], "label": 0}.
// Blank lines are skipped; anything else malformed is an error naming the line.
#include <cstdint>
#include <string>
#include <vector>

#include "gguf/status.h"
#include "model/llm.h"

namespace kestrel::cli {

struct ChoiceTask {
  int line = 0;  // 1-based line in the file, for messages
  std::string context;
  std::vector<std::string> endings;
  int label = 0;
};

Result<std::vector<ChoiceTask>> parse_choice_tasks(const std::string& text, const std::string& path);
Result<std::vector<ChoiceTask>> read_choice_tasks(const std::string& path);

struct ChoiceScore {
  std::vector<double> logprob;       // per ending: summed log-likelihood of its tokens
  std::vector<int> n_tokens;         // per ending
  int best = -1;                     // argmax of logprob
  int best_norm = -1;                // argmax of logprob / bytes of the ending
};

// Scores every ending of one task with a fresh KV cache per ending. Errors when context + ending does
// not fit the session's context or the ending adds no tokens.
Result<ChoiceScore> score_choice_task(Session& session, const Model& model, const ChoiceTask& task, int n_batch);

}  // namespace kestrel::cli
