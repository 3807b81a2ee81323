#include "python/src/py_model.h"

#include <Python.h>

#include <cmath>
#include <mutex>

#include "gguf/tensor_type.h"

namespace py = pybind11;

namespace kestrel::binding {

namespace {

void check_finite(const char* name, float v) {
  if (!std::isfinite(v)) throw ArgumentError(std::string(name) + " must be a finite number");
}

std::string path_string(const py::object& path, const char* what) {
  py::object os = py::module_::import("os");
  py::object p;
  try {
    p = os.attr("fspath")(path);
  } catch (py::error_already_set&) {
    throw ArgumentError(std::string(what) + " must be a str or os.PathLike, not " +
                        std::string(py::str(path.get_type().attr("__name__"))));
  }
  if (!py::isinstance<py::str>(p)) throw ArgumentError(std::string(what) + " must be a str (bytes paths are not supported)");
  return p.cast<std::string>();
}

}  // namespace

GenerateParams GenerateArgs::params() const {
  GenerateParams gp;
  // llama-cpp-python: max_tokens None or <= 0 means "until the end of generation or a full context".
  gp.max_tokens = max_tokens && *max_tokens > 0 ? *max_tokens : -1;
  check_finite("temperature", temperature);
  check_finite("top_p", top_p);
  check_finite("min_p", min_p);
  check_finite("repeat_penalty", repeat_penalty);
  if (repeat_penalty <= 0) throw ArgumentError("repeat_penalty must be > 0 (1: off)");
  if (repeat_last_n < -1) throw ArgumentError("repeat_last_n must be >= -1 (-1: the whole context, 0: off)");
  gp.sampling.temp = temperature;
  gp.sampling.top_k = top_k;
  gp.sampling.top_p = top_p;
  gp.sampling.min_p = min_p;
  gp.sampling.repeat_penalty = repeat_penalty;
  gp.sampling.repeat_last_n = repeat_last_n;
  gp.sampling.seed = seed ? *seed : 0xFFFFFFFFu;
  gp.stop_tokens = stop_tokens;
  gp.lookup = lookup;
  if (Status st = check_speculative(gp); !st) throw ArgumentError(st.message());
  if (stop.is_none()) return gp;
  if (py::isinstance<py::str>(stop)) {
    gp.stop.push_back(stop.cast<std::string>());
    return gp;
  }
  if (!py::isinstance<py::sequence>(stop) || py::isinstance<py::bytes>(stop))
    throw ArgumentError("stop must be a str or a list of str");
  for (py::handle s : stop) {
    if (!py::isinstance<py::str>(s)) throw ArgumentError("stop must be a str or a list of str");
    gp.stop.push_back(s.cast<std::string>());
  }
  return gp;
}

PyModel::PyModel(const py::object& path_obj, int n_ctx, int n_threads, bool use_mmap, int n_batch,
                 const std::string& cache_type, const py::object& chat_template_file, bool repack)
    : eng_(std::make_shared<Engine>()) {
  eng_->path = path_string(path_obj, "the model path");
  if (!chat_template_file.is_none()) chat_template_file_ = path_string(chat_template_file, "chat_template_file");
  if (n_ctx < 0) throw ArgumentError("n_ctx must be >= 0 (0: min(4096, the model's training context))");
  if (n_threads < 0) throw ArgumentError("n_threads must be >= 0 (0: all cores)");
  if (n_batch < 1) throw ArgumentError("n_batch must be >= 1");
  auto ct = type_from_name(cache_type);
  if (!ct || (*ct != TensorType::F32 && *ct != TensorType::F16))
    throw ArgumentError("cache_type must be 'f32' or 'f16', not '" + cache_type + "'");

  std::string error;
  Held h;
  bool ctx_warning = false;
  {
    py::gil_scoped_release nogil;  // mapping or copying the weights, allocating the KV cache
    auto model = Model::load(eng_->path, {.use_mmap = use_mmap, .repack = repack, .n_threads = n_threads});
    if (!model) throw LoadError(model.error());
    h.model = std::shared_ptr<const Model>(std::move(*model));
    const int train = h.model->config().n_ctx_train;
    SessionParams sp;
    sp.n_ctx = n_ctx > 0 ? n_ctx : std::min(4096, train);  // llm-cli's default
    ctx_warning = sp.n_ctx > train;
    sp.n_threads = n_threads;
    sp.cache_type = *ct;
    sp.n_batch = n_batch;
    auto session = Session::create(*h.model, sp);
    if (!session) throw LoadError(session.error());
    std::shared_ptr<const Model> keep = h.model;
    h.session = std::shared_ptr<Session>(session->release(), [keep](Session* s) { delete s; });
  }
  if (ctx_warning) {  // llama.cpp warns and goes on
    const std::string msg = "n_ctx " + std::to_string(h.session->n_ctx()) + " exceeds the model's training context " +
                            std::to_string(h.model->config().n_ctx_train);
    if (PyErr_WarnEx(PyExc_RuntimeWarning, msg.c_str(), 1) != 0) throw py::error_already_set();
  }
  eng_->model = std::move(h.model);
  eng_->session = std::move(h.session);
}

std::vector<int32_t> PyModel::tokenize(const py::object& text, bool add_special, bool parse_special) {
  std::string s;
  if (py::isinstance<py::str>(text)) s = text.cast<std::string>();
  else if (py::isinstance<py::bytes>(text)) s = text.cast<std::string>();
  else throw ArgumentError("tokenize: text must be a str or bytes");
  Held h = eng_->hold(false);
  py::gil_scoped_release nogil;
  return h.model->tokenizer().encode(s, add_special, parse_special);
}

py::str PyModel::detokenize(const std::vector<int32_t>& ids, bool remove_special, bool unparse_special) {
  Held h = eng_->hold(false);
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= h.model->tokenizer().n_vocab())
      throw ArgumentError("detokenize: token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                          " is out of range [0, " + std::to_string(h.model->tokenizer().n_vocab()) + ")");
  return to_str(h.model->tokenizer().detokenize(ids, remove_special, unparse_special));
}

py::str PyModel::token_to_piece(int32_t id, bool special) {
  Held h = eng_->hold(false);
  if (id < 0 || id >= h.model->tokenizer().n_vocab())
    throw ArgumentError("token id " + std::to_string(id) + " is out of range [0, " +
                        std::to_string(h.model->tokenizer().n_vocab()) + ")");
  return to_str(h.model->tokenizer().token_to_piece(id, special));
}

void PyModel::eval(const std::vector<int32_t>& ids, bool logits_all) {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  Held h = eng_->hold(true);
  Session& s = *h.session;
  if (ids.empty()) throw ArgumentError("eval: no tokens");
  const int n_vocab = h.model->config().n_vocab;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= n_vocab)
      throw ArgumentError("eval: token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                          " is out of range [0, " + std::to_string(n_vocab) + ")");
  if (s.n_past() + ids.size() > static_cast<size_t>(s.n_ctx()))
    throw ContextError("eval: " + std::to_string(s.n_past()) + " cached + " + std::to_string(ids.size()) +
                       " new tokens exceed the context size of " + std::to_string(s.n_ctx()) +
                       " (reset() or raise n_ctx)");
  if (Status st = s.eval(ids, logits_all); !st) throw Error(st.message());
}

py::object PyModel::logits() {
  std::shared_ptr<const float> buf;
  int rows = 0, n_vocab = 0;
  {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> compute(eng_->compute_mu);  // not while another thread's eval writes them
    Held h = eng_->hold(false);
    rows = h.session->n_logits();
    n_vocab = h.model->config().n_vocab;
    buf = h.session->logits_buffer();
  }
  if (rows == 0) return py::none();
  // A read-only view; the capsule keeps the buffer alive as long as the array (the session moves to a new
  // buffer when it needs a larger one, so old views stay valid, but they show the data of a later eval
  // while the buffer is reused).
  auto* owner = new std::shared_ptr<const float>(std::move(buf));
  py::capsule base(owner, [](void* p) { delete static_cast<std::shared_ptr<const float>*>(p); });
  py::array_t<float> a({rows, n_vocab}, {static_cast<py::ssize_t>(n_vocab * sizeof(float)), py::ssize_t(sizeof(float))},
                       owner->get(), base);
  a.attr("setflags")(py::arg("write") = false);
  return a;
}

void PyModel::reset() {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  eng_->hold(true).session->reset();
}

std::shared_ptr<Generation> PyModel::generation(const py::object& prompt, const GenerateArgs& args) {
  const GenerateParams gp = args.params();
  Held h = eng_->hold(false);
  std::vector<int32_t> ids = prompt_ids(*h.model, prompt);
  return std::make_shared<Generation>(eng_, std::move(ids), gp);
}

py::object PyModel::generate(const py::object& prompt, const GenerateArgs& args, bool stream) {
  if (stream) return py::cast(generation(prompt, args));
  std::unique_lock<std::mutex> whole;
  {
    py::gil_scoped_release nogil;
    whole = std::unique_lock<std::mutex>(eng_->generate_mu);
  }
  return to_str(generation(prompt, args)->read_all());
}

py::object PyModel::metadata() {
  if (!metadata_) metadata_ = metadata_dict(*eng_->hold(false).model);
  return metadata_;  // like llama-cpp-python's Llama.metadata: one dict per model
}

void PyModel::close() {
  Held dropped = eng_->close();
  // Streaming generations and logits views keep what they use; the rest is freed here.
}

bool PyModel::closed() {
  std::lock_guard<std::mutex> lock(eng_->state_mu);
  return eng_->closed;
}

int PyModel::n_ctx() { return eng_->hold(false).session->n_ctx(); }
int PyModel::n_past() {
  py::gil_scoped_release nogil;
  std::lock_guard<std::mutex> compute(eng_->compute_mu);
  return eng_->hold(false).session->n_past();
}
int PyModel::n_vocab() { return eng_->hold(false).model->config().n_vocab; }
int PyModel::n_ctx_train() { return eng_->hold(false).model->config().n_ctx_train; }
int PyModel::token_bos() { return eng_->hold(false).model->tokenizer().bos(); }
int PyModel::token_eos() { return eng_->hold(false).model->tokenizer().eos(); }
int PyModel::token_eot() { return eng_->hold(false).model->tokenizer().eot(); }

}  // namespace kestrel::binding
