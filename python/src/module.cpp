// kestrel._core: the pybind11 module. Defines the exception types, Model and Generation; the pure-Python
// package (python/kestrel/__init__.py) re-exports them and adds the llama-cpp-python style dict methods.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <Python.h>

#include "kernels/isa.h"
#include "python/src/engine.h"
#include "python/src/generation.h"
#include "python/src/py_model.h"

namespace py = pybind11;
using namespace py::literals;
using kestrel::binding::ArgumentError;
using kestrel::binding::ContextError;
using kestrel::binding::Error;
using kestrel::binding::GenerateArgs;
using kestrel::binding::Generation;
using kestrel::binding::LoadError;
using kestrel::binding::PyModel;
using kestrel::binding::TemplateError;

namespace {

PyObject* g_error = nullptr;
PyObject* g_load_error = nullptr;
PyObject* g_context_error = nullptr;
PyObject* g_argument_error = nullptr;
PyObject* g_template_error = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string full = std::string("kestrel.") + name;
  PyObject* t = PyErr_NewExceptionWithDoc(full.c_str(), doc, bases, nullptr);
  if (!t) throw py::error_already_set();
  m.add_object(name, py::handle(t));  // the module keeps a reference for the interpreter's lifetime
  return t;
}

// seed: None or -1 = random (llama-cpp-python's convention), else 0 .. 2**64-1.
std::optional<uint64_t> seed_arg(const py::object& seed) {
  if (seed.is_none()) return std::nullopt;
  if (!py::isinstance<py::int_>(seed) || py::isinstance<py::bool_>(seed))
    throw ArgumentError("seed must be an int or None");
  if (seed.cast<py::int_>().equal(py::int_(-1))) return std::nullopt;
  if (seed < py::int_(0) || seed >= py::int_(1).attr("__lshift__")(64))
    throw ArgumentError("seed must be None, -1 or in [0, 2**64)");
  return seed.cast<uint64_t>();
}

GenerateArgs generate_args(std::optional<int> max_tokens, float temperature, int top_k, float top_p, float min_p,
                           float repeat_penalty, int repeat_last_n, const py::object& seed, py::object stop,
                           const std::optional<std::vector<int32_t>>& stop_tokens, int lookup) {
  GenerateArgs a;
  a.lookup = lookup;
  a.max_tokens = max_tokens;
  a.temperature = temperature;
  a.top_k = top_k;
  a.top_p = top_p;
  a.min_p = min_p;
  a.repeat_penalty = repeat_penalty;
  a.repeat_last_n = repeat_last_n;
  a.seed = seed_arg(seed);
  a.stop = std::move(stop);
  if (stop_tokens) a.stop_tokens = *stop_tokens;
  return a;
}

constexpr const char* kGenerateDoc = R"(Generates a continuation of `prompt` (a str, encoded like llm-cli: BOS as the
vocab asks, special tokens parsed; or a list of token ids). The session is reset first.

max_tokens: None or <= 0 runs until an end-of-generation token or a full context.
temperature (<= 0: greedy), top_k (<= 0: off), top_p (1: off), min_p (0: off), repeat_penalty (1: off),
repeat_last_n (-1: whole context), seed (None or -1: random): llama.cpp's sampler and defaults.
stop: a str or list of str; the text ends before the first one and never shows any part of it.
stop_tokens: token ids that end the generation besides the vocab's end-of-generation tokens.
lookup: > 0 turns on speculative decoding with prompt-lookup drafts of up to this many tokens (n-gram matches
in the prompt and the output so far, checked in one batched eval): the same tokens, faster when the output
quotes the prompt. Needs temperature <= 0 (greedy).
stream=False returns the text; stream=True returns a Generation, an iterator of text pieces that never
split a UTF-8 character. The GIL is released while computing; Ctrl-C interrupts between tokens.)";

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Kestrel's C++ engine (GGUF inference with run-time SIMD dispatch), bound with pybind11.";

  g_error = new_exception(m, "Error", PyExc_Exception, "Base class of every error the Kestrel engine raises.");
  g_load_error = new_exception(m, "LoadError", g_error,
                               "The model file could not be loaded (missing, truncated, unsupported architecture or type).");
  g_context_error = new_exception(m, "ContextError", g_error,
                                  "The tokens do not fit in the context (prompt longer than n_ctx, eval past n_ctx).");
  py::tuple arg_bases = py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError));
  g_argument_error = new_exception(m, "ArgumentError", arg_bases.ptr(),
                                   "A bad argument (also a ValueError): out-of-range ids, negative sizes, bad types.");
  g_template_error = new_exception(m, "TemplateError", g_error, "The chat template failed to render the messages.");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArgumentError& e) {
      PyErr_SetString(g_argument_error, e.what());
    } catch (const LoadError& e) {
      PyErr_SetString(g_load_error, e.what());
    } catch (const ContextError& e) {
      PyErr_SetString(g_context_error, e.what());
    } catch (const TemplateError& e) {
      PyErr_SetString(g_template_error, e.what());
    } catch (const Error& e) {
      PyErr_SetString(g_error, e.what());
    }
  });

  // The same ISA choice as the programs: KESTREL_ISA if set, else the best this CPU supports.
  if (kestrel::Status st = kestrel::kernels::init_isa_from_env(); !st) throw Error(st.message());
  m.def("isa", [] { return std::string(kestrel::kernels::isa_name(kestrel::kernels::active_isa())); },
        "The SIMD instruction set the kernels run with: 'scalar', 'avx2', 'avx512' or 'neon'.");

  py::class_<Generation, std::shared_ptr<Generation>>(m, "Generation", R"(One generation, read as an iterator of
text pieces or all at once with read_all(). Another generate/eval/reset on the same model supersedes it.)")
      .def("__iter__", [](py::object self) { return self; })
      .def("__next__", &Generation::next, "The next piece of text (never empty); StopIteration at the end.")
      .def("read_all", &Generation::read_all, "Generates the rest and returns it as one str.")
      .def_property_readonly("finish_reason", &Generation::finish_reason,
                             "'stop' (end-of-generation token or stop string), 'length' (max_tokens or a full "
                             "context), or None while running.")
      .def_property_readonly("n_prompt_tokens", &Generation::n_prompt_tokens, "Tokens in the prompt.")
      .def_property_readonly("tokens", &Generation::tokens,
                             "Token ids generated so far (the end-of-generation token excluded).")
      .def_property_readonly("n_drafted", [](const Generation& g) { return g.drafts().first; },
                             "Speculative decoding (lookup > 0): draft tokens verified so far.")
      .def_property_readonly("n_accepted", [](const Generation& g) { return g.drafts().second; },
                             "Speculative decoding: draft tokens the model agreed with.");

  py::class_<PyModel>(m, "Model", R"(A GGUF model and one session (KV cache) over it.

Model(path, n_ctx=0, n_threads=0, use_mmap=True, n_batch=512, cache_type='f16', chat_template_file=None,
      repack=True)
n_ctx 0: min(4096, the model's training context); n_threads 0: all cores; cache_type 'f16' or 'f32';
chat_template_file: a .jinja file used instead of the model's tokenizer.chat_template.
repack False: matmuls read the file's weight layout (no load-time repacking / huge-page copies; --no-repack).
Raises kestrel.LoadError with the engine's one-line message when the file cannot be used.
Use it as a context manager, or call close(), to free the weights and the KV cache early.)")
      .def(py::init<const py::object&, int, int, bool, int, const std::string&, const py::object&, bool>(), "path"_a,
           "n_ctx"_a = 0, "n_threads"_a = 0, "use_mmap"_a = true, "n_batch"_a = 512, "cache_type"_a = "f16",
           "chat_template_file"_a = py::none(), "repack"_a = true)
      .def("tokenize", &PyModel::tokenize, "text"_a, "add_special"_a = true, "parse_special"_a = false,
           "Token ids of `text` (str or UTF-8 bytes). add_special: BOS/EOS as the vocab asks; parse_special: "
           "recognise special token texts such as '<|eot_id|>'.")
      .def("detokenize", &PyModel::detokenize, "ids"_a, "remove_special"_a = false, "unparse_special"_a = false,
           "Text of token ids, like llama.cpp's llama_detokenize.")
      .def("token_to_piece", &PyModel::token_to_piece, "id"_a, "special"_a = false,
           "The text of one token (special=True also renders control tokens).")
      .def("eval", &PyModel::eval, "ids"_a, "logits_all"_a = false,
           "Evaluates token ids after what the session holds (n_past). logits_all keeps every position's logits "
           "(else only the last). Raises ContextError past n_ctx. Releases the GIL.")
      .def_property_readonly("logits", &PyModel::logits,
                             "Logits of the last eval as a read-only float32 NumPy array [rows, n_vocab] (rows = "
                             "tokens with logits_all, else 1): a view of the engine's buffer, no copy; the next "
                             "eval/generate may overwrite it (copy it to keep it). None before the first eval.")
      .def("reset", &PyModel::reset, "Forgets the KV cache (n_past = 0).")
      .def("generation",
           [](PyModel& self, py::object prompt, std::optional<int> max_tokens, float temperature, int top_k,
              float top_p, float min_p, float repeat_penalty, int repeat_last_n, py::object seed, py::object stop,
              std::optional<std::vector<int32_t>> stop_tokens, int lookup) {
             return self.generation(prompt, generate_args(max_tokens, temperature, top_k, top_p, min_p,
                                                          repeat_penalty, repeat_last_n, seed, std::move(stop),
                                                          stop_tokens, lookup));
           },
           "prompt"_a, py::kw_only(), "max_tokens"_a = py::none(), "temperature"_a = 0.8f, "top_k"_a = 40,
           "top_p"_a = 0.95f, "min_p"_a = 0.05f, "repeat_penalty"_a = 1.0f, "repeat_last_n"_a = 64,
           "seed"_a = py::none(), "stop"_a = py::none(), "stop_tokens"_a = py::none(), "lookup"_a = 0,
           "Like generate(stream=True), returning the Generation (finish_reason, tokens, ...).")
      .def("generate",
           [](PyModel& self, py::object prompt, std::optional<int> max_tokens, float temperature, int top_k,
              float top_p, float min_p, float repeat_penalty, int repeat_last_n, py::object seed, py::object stop,
              std::optional<std::vector<int32_t>> stop_tokens, bool stream, int lookup) {
             return self.generate(prompt,
                                  generate_args(max_tokens, temperature, top_k, top_p, min_p, repeat_penalty,
                                                repeat_last_n, seed, std::move(stop), stop_tokens, lookup),
                                  stream);
           },
           "prompt"_a, py::kw_only(), "max_tokens"_a = py::none(), "temperature"_a = 0.8f, "top_k"_a = 40,
           "top_p"_a = 0.95f, "min_p"_a = 0.05f, "repeat_penalty"_a = 1.0f, "repeat_last_n"_a = 64,
           "seed"_a = py::none(), "stop"_a = py::none(), "stop_tokens"_a = py::none(), "stream"_a = false,
           "lookup"_a = 0, kGenerateDoc)
      .def_property_readonly("metadata", &PyModel::metadata,
                             "The GGUF metadata as a dict (ints, floats, bools, strs, lists).")
      .def_property_readonly("n_ctx", &PyModel::n_ctx, "The session's context size.")
      .def_property_readonly("n_past", &PyModel::n_past, "Tokens in the KV cache.")
      .def_property_readonly("n_vocab", &PyModel::n_vocab, "Vocabulary size (columns of logits).")
      .def_property_readonly("n_ctx_train", &PyModel::n_ctx_train, "The model's training context.")
      .def_property_readonly("path", &PyModel::path, "The model file.")
      .def("token_bos", &PyModel::token_bos, "BOS id (-1 when the vocab has none).")
      .def("token_eos", &PyModel::token_eos, "EOS id (-1 when the vocab has none).")
      .def("token_eot", &PyModel::token_eot, "EOT id (-1 when the vocab has none).")
      .def("apply_chat_template",
           [](PyModel& self, py::object messages, bool add_generation_prompt, py::kwargs kwargs) {
             return self.apply_chat_template(messages, add_generation_prompt, kwargs);
           },
           "messages"_a, "add_generation_prompt"_a = true,
           "Renders messages ([{'role': ..., 'content': ...}, ...]) with the model's chat template (its "
           "tokenizer.chat_template, chat_template_file, or ChatML when it has none). Keyword arguments become "
           "template variables (e.g. tools=[...]). Raises TemplateError.")
      .def("chat_prompt_tokens", &PyModel::chat_prompt_tokens, "prompt"_a,
           "Token ids of a rendered chat prompt: special tokens parsed, BOS added only when the vocab wants one "
           "and the template did not write it.")
      .def_property_readonly("chat_stop_tokens", &PyModel::chat_stop_tokens,
                             "Token ids that end a chat reply (EOS, EOT, <|im_end|>, <|eot_id|>, ...).")
      .def_property_readonly("chat_template", &PyModel::chat_template_source, "The chat template's source text.")
      .def("close", &PyModel::close,
           "Frees the weights and the KV cache (once no streaming generation or logits view uses them); later "
           "calls raise kestrel.Error.")
      .def_property_readonly("closed", &PyModel::closed)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyModel& self, py::args) { self.close(); });
}
