// GGUFFile: opening (read-only mmap or caller memory) and typed metadata access. Parsing and
// validation live in gguf_parser.cpp.
#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace kestrel {

Status parse_gguf(GGUFFile* f, const uint8_t* data, uint64_t size);

uint64_t TensorInfo::n_elements() const {
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);  // the parser guaranteed no overflow
  return n;
}

Result<std::unique_ptr<GGUFFile>> GGUFFile::open(const std::string& path) {
  std::unique_ptr<GGUFFile> f(new GGUFFile());
  f->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::error(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(path + ": not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    return Status::error(path + ": not a GGUF file: the file is empty");
  }
  f->file_size_ = static_cast<uint64_t>(st.st_size);
  void* p = ::mmap(nullptr, f->file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) return Status::error(path + ": cannot mmap: " + std::strerror(e));
  f->map_ = static_cast<const uint8_t*>(p);
  f->map_size_ = f->file_size_;
  f->owns_map_ = true;
  KESTREL_RETURN_IF_ERROR(parse_gguf(f.get(), f->map_, f->file_size_));
  return f;
}

Result<std::unique_ptr<GGUFFile>> GGUFFile::open_memory(const uint8_t* data, size_t size, const std::string& name) {
  std::unique_ptr<GGUFFile> f(new GGUFFile());
  f->path_ = name;
  f->file_size_ = size;
  f->map_ = data;
  f->map_size_ = size;
  if (!data && size != 0) return Status::error(name + ": null buffer");
  KESTREL_RETURN_IF_ERROR(parse_gguf(f.get(), data ? data : reinterpret_cast<const uint8_t*>(""), size));
  return f;
}

GGUFFile::~GGUFFile() { drop_mapping(); }

void GGUFFile::drop_mapping() {
  if (owns_map_ && map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
  map_ = nullptr;
  owns_map_ = false;
}

const Value* GGUFFile::find(std::string_view key) const {
  auto it = kv_index_.find(std::string(key));
  return it == kv_index_.end() ? nullptr : &kv_[it->second].value;
}

const TensorInfo* GGUFFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

std::string describe_type(const Value& v) {
  if (v.type != ValueType::ARRAY) return std::string(value_type_name(v.type));
  return "array of " + std::string(value_type_name(v.elem_type));
}

bool is_unsigned(ValueType t) {
  return t == ValueType::UINT8 || t == ValueType::UINT16 || t == ValueType::UINT32 || t == ValueType::UINT64;
}
bool is_signed(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 || t == ValueType::INT64;
}

// An integer Value as a wide signed number; false if it is not an integer or does not fit int64.
bool as_int64(const Value& v, int64_t* out) {
  if (is_signed(v.type)) { *out = v.i; return true; }
  if (is_unsigned(v.type) && v.u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    *out = static_cast<int64_t>(v.u);
    return true;
  }
  return false;
}

}  // namespace

Status GGUFFile::type_error(std::string_view key, const Value& v, std::string_view expected) const {
  return Status::error(path_ + ": key '" + std::string(key) + "' has type " + describe_type(v) + ", expected " +
                       std::string(expected));
}

#define KESTREL_FIND_OR_FAIL(key)                                                                \
  const Value* v = find(key);                                                                    \
  if (!v) return Status::error(path_ + ": key '" + std::string(key) + "' not found");

Result<std::string> GGUFFile::get_string(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::STRING) return type_error(key, *v, "string");
  return v->str;
}

Result<int64_t> GGUFFile::get_int(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  int64_t x = 0;
  if (!is_signed(v->type) && !is_unsigned(v->type)) return type_error(key, *v, "an integer");
  if (!as_int64(*v, &x))
    return Status::error(path_ + ": key '" + std::string(key) + "' value " + std::to_string(v->u) + " does not fit int64");
  return x;
}

Result<uint32_t> GGUFFile::get_u32(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  int64_t x = 0;
  if (!is_signed(v->type) && !is_unsigned(v->type)) return type_error(key, *v, "uint32");
  if (!as_int64(*v, &x) || x < 0 || x > static_cast<int64_t>(std::numeric_limits<uint32_t>::max()))
    return Status::error(path_ + ": key '" + std::string(key) + "' value " +
                         (is_signed(v->type) ? std::to_string(v->i) : std::to_string(v->u)) + " does not fit uint32");
  return static_cast<uint32_t>(x);
}

Result<float> GGUFFile::get_float(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::FLOAT32 && v->type != ValueType::FLOAT64) return type_error(key, *v, "float32");
  return static_cast<float>(v->f);
}

Result<bool> GGUFFile::get_bool(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::BOOL) return type_error(key, *v, "bool");
  return v->b;
}

Result<std::vector<std::string>> GGUFFile::get_string_array(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::ARRAY || v->elem_type != ValueType::STRING) return type_error(key, *v, "array of string");
  std::vector<std::string> out;
  out.reserve(v->items.size());
  for (const Value& item : v->items) out.push_back(item.str);
  return out;
}

Result<std::vector<float>> GGUFFile::get_float_array(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::ARRAY || (v->elem_type != ValueType::FLOAT32 && v->elem_type != ValueType::FLOAT64))
    return type_error(key, *v, "array of float32");
  std::vector<float> out;
  out.reserve(v->items.size());
  for (const Value& item : v->items) out.push_back(static_cast<float>(item.f));
  return out;
}

Result<std::vector<int32_t>> GGUFFile::get_i32_array(std::string_view key) const {
  KESTREL_FIND_OR_FAIL(key);
  if (v->type != ValueType::ARRAY || (!is_signed(v->elem_type) && !is_unsigned(v->elem_type)))
    return type_error(key, *v, "array of int32");
  std::vector<int32_t> out;
  out.reserve(v->items.size());
  for (size_t i = 0; i < v->items.size(); ++i) {
    int64_t x = 0;
    if (!as_int64(v->items[i], &x) || x < std::numeric_limits<int32_t>::min() || x > std::numeric_limits<int32_t>::max())
      return Status::error(path_ + ": key '" + std::string(key) + "' item " + std::to_string(i) + " does not fit int32");
    out.push_back(static_cast<int32_t>(x));
  }
  return out;
}

#undef KESTREL_FIND_OR_FAIL

Result<int64_t> GGUFFile::get_int_or(std::string_view key, int64_t dflt) const {
  return find(key) ? get_int(key) : Result<int64_t>(dflt);
}
Result<float> GGUFFile::get_float_or(std::string_view key, float dflt) const {
  return find(key) ? get_float(key) : Result<float>(dflt);
}
Result<bool> GGUFFile::get_bool_or(std::string_view key, bool dflt) const {
  return find(key) ? get_bool(key) : Result<bool>(dflt);
}
Result<std::string> GGUFFile::get_string_or(std::string_view key, std::string dflt) const {
  return find(key) ? get_string(key) : Result<std::string>(std::move(dflt));
}

}  // namespace kestrel
