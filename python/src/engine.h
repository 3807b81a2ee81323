#pragma once
// The state behind one kestrel.Model: the loaded model, its session, and the lock that lets one compute
// run at a time on that session. Shared (shared_ptr) by the Model object and its streaming generations, so
// close() cannot pull memory from under a generation that is still being read.
//
// Threading rule: the GIL is always released *before* taking `mu` (compute runs without the GIL and only
// re-takes it briefly between tokens to check for Ctrl-C), so two threads can never wait on each other.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "model/llm.h"

namespace kestrel::binding {

// C++ side of kestrel.Error and its subclasses (module.cpp maps them to the Python types).
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct LoadError : Error {
  using Error::Error;
};
struct ContextError : Error {
  using Error::Error;
};
struct ArgumentError : Error {
  using Error::Error;
};
struct TemplateError : Error {
  using Error::Error;
};

// What a call needs from the engine, copied out under the state lock: holding these keeps the memory alive
// even if close() runs meanwhile.
struct Held {
  std::shared_ptr<const Model> model;
  std::shared_ptr<Session> session;  // its deleter holds a copy of `model`: a session never outlives it
};

struct Engine {
  std::string path;
  // One compute at a time on the session. Taken only with the GIL released (its holder re-takes the GIL
  // between tokens to check for Ctrl-C).
  std::mutex compute_mu;
  // Held by a non-streaming generate() from start to end, so two threads sharing a model run theirs one
  // after the other instead of the second taking the session over between the first one's setup and its
  // tokens. Taken with the GIL released, and always before compute_mu (never while holding it).
  std::mutex generate_mu;

  // Copies out model + session (and, with take_over, marks the session as taken over by a new call: streaming
  // generations started before then refuse to go on). Throws Error when closed.
  Held hold(bool take_over, uint64_t* epoch = nullptr);
  // Throws unless the model is open and no call took the session over since `epoch`.
  void check_current(uint64_t epoch);
  Held close();  // marks closed; returns what it held (to be dropped by the caller, outside the lock)

  // Guarded by state_mu, which is held only for these few lines (never while computing or waiting on the GIL).
  std::mutex state_mu;
  std::shared_ptr<const Model> model;
  std::shared_ptr<Session> session;
  uint64_t epoch_ = 0;
  bool closed = false;
};

// Re-takes the GIL for a moment and raises (KeyboardInterrupt, ...) when a signal handler asked for it.
// Call with the GIL released.
void check_signals_without_gil();

// Encodes a prompt (str or list of ids) like llm-cli: BOS as the vocab asks, special tokens parsed.
std::vector<int32_t> prompt_ids(const Model& m, pybind11::handle prompt);

// Python str from engine text; bytes that are not UTF-8 (a byte token on its own) become U+FFFD.
pybind11::str to_str(const std::string& s);

// GGUF metadata as a dict of Python values (ints, floats, bools, strs, nested lists).
pybind11::dict metadata_dict(const Model& m);

}  // namespace kestrel::binding
