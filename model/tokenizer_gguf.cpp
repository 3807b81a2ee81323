// read_tokenizer_spec: tokenizer.ggml.* from a GGUF file into a TokenizerSpec.
#include <string>

#include "model/tokenizer_vocab.h"

namespace kestrel {
namespace {

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64:
      return true;
    default:
      return false;
  }
}
bool is_unsigned(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64;
}
int64_t int_value(const Value& v) {
  if (is_unsigned(v.type)) return v.u > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v.u);
  return v.i;
}

class SpecReader {
 public:
  explicit SpecReader(const GGUFFile& f) : f_(f) {}

  Status type_error(std::string_view key, const Value& v, const char* want) const {
    std::string got(value_type_name(v.type));
    if (v.type == ValueType::ARRAY) got += " of " + std::string(value_type_name(v.elem_type));
    return Status::error(f_.path() + ": key '" + std::string(key) + "' has type " + got + ", expected " + want);
  }

  Status string(std::string_view key, std::string* out, bool required) const {
    const Value* v = f_.find(key);
    if (!v) return required ? Status::error(f_.path() + ": missing key '" + std::string(key) + "'") : Status::ok();
    if (v->type != ValueType::STRING) return type_error(key, *v, "string");
    *out = v->str;
    return Status::ok();
  }
  Status integer(std::string_view key, std::optional<int64_t>* out) const {
    const Value* v = f_.find(key);
    if (!v) return Status::ok();
    if (!is_integer(v->type)) return type_error(key, *v, "integer");
    *out = int_value(*v);
    return Status::ok();
  }
  Status boolean(std::string_view key, std::optional<bool>* out) const {
    const Value* v = f_.find(key);
    if (!v) return Status::ok();
    if (v->type != ValueType::BOOL) return type_error(key, *v, "bool");
    *out = v->b;
    return Status::ok();
  }
  // Returns the array or nullptr when absent; wrong element types are errors.
  Result<const Value*> array(std::string_view key, bool required, bool (*elem_ok)(ValueType), const char* want) const {
    const Value* v = f_.find(key);
    if (!v) {
      if (required) return Status::error(f_.path() + ": missing key '" + std::string(key) + "'");
      return static_cast<const Value*>(nullptr);
    }
    if (v->type != ValueType::ARRAY || !elem_ok(v->elem_type)) return type_error(key, *v, want);
    return v;
  }

 private:
  const GGUFFile& f_;
};

}  // namespace

Result<TokenizerSpec> read_tokenizer_spec(const GGUFFile& file) {
  SpecReader r(file);
  TokenizerSpec s;
  KESTREL_RETURN_IF_ERROR(r.string("tokenizer.ggml.model", &s.model, true));
  KESTREL_RETURN_IF_ERROR(r.string("tokenizer.ggml.pre", &s.pre, false));
  KESTREL_RETURN_IF_ERROR(r.string("general.name", &s.general_name, false));

  auto tokens = r.array("tokenizer.ggml.tokens", true, [](ValueType t) { return t == ValueType::STRING; },
                        "array of string");
  if (!tokens) return tokens.status();
  const size_t n = (*tokens)->items.size();
  s.tokens.reserve(n);
  for (const Value& item : (*tokens)->items) s.tokens.push_back(item.str);

  auto scores = r.array("tokenizer.ggml.scores", false,
                        [](ValueType t) { return t == ValueType::FLOAT32 || t == ValueType::INT32; },
                        "array of float32");
  if (!scores) return scores.status();
  if (*scores) {
    if ((*scores)->items.size() != n)
      return Status::error(file.path() + ": tokenizer.ggml.scores has " + std::to_string((*scores)->items.size()) +
                           " entries but tokenizer.ggml.tokens has " + std::to_string(n));
    s.scores.reserve(n);
    for (const Value& item : (*scores)->items)
      s.scores.push_back(item.type == ValueType::INT32 ? static_cast<float>(item.i) : static_cast<float>(item.f));
  }

  auto types = r.array("tokenizer.ggml.token_type", false, [](ValueType t) { return t == ValueType::INT32; },
                       "array of int32");
  if (!types) return types.status();
  if (*types) {
    if ((*types)->items.size() != n)
      return Status::error(file.path() + ": tokenizer.ggml.token_type has " + std::to_string((*types)->items.size()) +
                           " entries but tokenizer.ggml.tokens has " + std::to_string(n));
    s.token_types.reserve(n);
    for (const Value& item : (*types)->items) s.token_types.push_back(static_cast<int32_t>(item.i));
  }

  auto merges = r.array("tokenizer.ggml.merges", false, [](ValueType t) { return t == ValueType::STRING; },
                        "array of string");
  if (!merges) return merges.status();
  if (*merges) {
    s.has_merges = true;
    s.merges.reserve((*merges)->items.size());
    for (const Value& item : (*merges)->items) s.merges.push_back(item.str);
  }

  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.bos_token_id", &s.bos_id));
  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.eos_token_id", &s.eos_id));
  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.eot_token_id", &s.eot_id));
  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.eom_token_id", &s.eom_id));
  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.unknown_token_id", &s.unk_id));
  KESTREL_RETURN_IF_ERROR(r.integer("tokenizer.ggml.padding_token_id", &s.pad_id));
  KESTREL_RETURN_IF_ERROR(r.boolean("tokenizer.ggml.add_bos_token", &s.add_bos));
  KESTREL_RETURN_IF_ERROR(r.boolean("tokenizer.ggml.add_eos_token", &s.add_eos));
  KESTREL_RETURN_IF_ERROR(r.boolean("tokenizer.ggml.add_space_prefix", &s.add_space_prefix));
  return s;
}

}  // namespace kestrel
