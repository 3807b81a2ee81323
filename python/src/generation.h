#pragma once
// kestrel.Generation: one run of model/generate.h's Generator, read either as an iterator of text pieces
// (stream=True; the GIL is released for each token) or all at once (read_all(); the GIL is released for
// the whole run and re-taken between tokens to check for Ctrl-C).
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/generate.h"
#include "python/src/engine.h"

namespace kestrel::binding {

class Generation {
 public:
  // Takes the session over (resets it); the prompt is evaluated on the first read.
  Generation(std::shared_ptr<Engine> eng, std::vector<int32_t> prompt, const GenerateParams& params);

  pybind11::object next();  // the next non-empty piece; StopIteration at the end
  std::string read_all();   // everything not read yet

  std::optional<std::string> finish_reason() const;  // "stop", "length", or None while running
  int n_prompt_tokens() const { return static_cast<int>(prompt_.size()); }
  std::vector<int32_t> tokens() const;  // generated so far (end-of-generation token excluded)
  std::pair<int, int> drafts() const;   // speculative decoding: draft tokens verified, accepted

 private:
  // One token, with compute_mu held and the GIL released. Returns false once the generation has ended.
  bool step_locked(std::string* out);

  std::shared_ptr<Engine> eng_;
  Held held_;  // before gen_: the generator refers to this session and model
  uint64_t epoch_ = 0;
  std::vector<int32_t> prompt_;
  std::unique_ptr<Generator> gen_;
  bool started_ = false;
};

}  // namespace kestrel::binding
