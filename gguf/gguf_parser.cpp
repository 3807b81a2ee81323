// The one GGUF parser: turns a byte range (an mmap or caller memory) into a validated GGUFFile.
// Every read goes through a bounds-checked cursor, every count is checked against the bytes left
// before anything is allocated for it, and every size computation is overflow-checked.
#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_set>

#include "gguf/gguf_file.h"
#include "gguf/gguf_format.h"

namespace kestrel {
namespace fmt = gguf_format;

namespace {

// Reads little-endian fields from [data, data+size); never reads past the end.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  template <class T>
  bool read(T* out) {
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));  // GGUF is little-endian, like every host we build for
    pos_ += sizeof(T);
    return true;
  }
  bool read_bytes(uint64_t n, const uint8_t** out) {
    if (remaining() < n) return false;
    *out = data_ + pos_;
    pos_ += n;
    return true;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

std::string quoted(std::string_view s) {
  // Names in messages are cut short so a hostile 1 MB key does not become a 1 MB error line.
  constexpr size_t kMax = 80;
  std::string out = "'";
  out.append(s.substr(0, kMax));
  if (s.size() > kMax) out += "...";
  out += "'";
  return out;
}

}  // namespace

class GGUFParser {
 public:
  GGUFParser(GGUFFile* f, const uint8_t* data, uint64_t size) : f_(f), c_(data, size), size_(size) {}

  Status parse() {
    KESTREL_RETURN_IF_ERROR(parse_header());
    KESTREL_RETURN_IF_ERROR(parse_metadata());
    KESTREL_RETURN_IF_ERROR(parse_alignment());
    KESTREL_RETURN_IF_ERROR(parse_tensor_table());
    return place_tensor_data();
  }

 private:
  Status fail(const std::string& msg) const { return Status::error(f_->path_ + ": " + msg); }
  Status truncated(const std::string& what) const {
    return fail("truncated file: " + what + " at offset " + std::to_string(c_.pos()) + " runs past the end (file size " +
                std::to_string(size_) + ")");
  }

  Status parse_header() {
    const uint8_t* magic = nullptr;
    if (!c_.read_bytes(4, &magic)) return fail("not a GGUF file: too small for the magic (" + std::to_string(size_) + " bytes)");
    if (std::memcmp(magic, fmt::kMagic, 4) != 0) return fail("not a GGUF file (bad magic)");
    uint32_t version = 0;
    if (!c_.read(&version)) return truncated("version");
    if (version == 1) return fail("GGUF version 1 is not supported (only versions 2 and 3); re-convert the model");
    if (version != 2 && version != 3) {
      if ((version & 0xFFFF) == 0 && version != 0)
        return fail("big-endian GGUF files are not supported (version field " + std::to_string(version) + ")");
      return fail("unsupported GGUF version " + std::to_string(version) + " (supported: 2, 3)");
    }
    f_->version_ = version;
    if (!c_.read(&n_tensors_)) return truncated("tensor count");
    if (!c_.read(&n_kv_)) return truncated("metadata count");
    // Minimum encodings: a key/value is >= 8 (key length) + 4 (type) + 1 (u8) bytes; a tensor info
    // is >= 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset). Counts that cannot fit fail here,
    // before anything is reserved for them.
    if (n_kv_ > c_.remaining() / 13)
      return fail("metadata count " + std::to_string(n_kv_) + " cannot fit in the file (size " + std::to_string(size_) + ")");
    if (n_tensors_ > c_.remaining() / 24)
      return fail("tensor count " + std::to_string(n_tensors_) + " cannot fit in the file (size " + std::to_string(size_) + ")");
    return Status::ok();
  }

  Status read_string(std::string* out, const std::string& what) {
    uint64_t len = 0;
    if (!c_.read(&len)) return truncated(what + " length");
    const uint8_t* p = nullptr;
    if (!c_.read_bytes(len, &p))
      return fail(what + " length " + std::to_string(len) + " at offset " + std::to_string(c_.pos() - 8) +
                  " runs past the end of the file (size " + std::to_string(size_) + ")");
    out->assign(reinterpret_cast<const char*>(p), len);
    return Status::ok();
  }

  Status read_value_type(ValueType* t, const std::string& what) {
    uint32_t id = 0;
    if (!c_.read(&id)) return truncated(what + " type");
    if (id > fmt::kMaxValueType) return fail(what + " has unknown value type " + std::to_string(id));
    *t = static_cast<ValueType>(id);
    return Status::ok();
  }

  Status read_scalar(ValueType t, Value* v, const std::string& what) {
    v->type = t;
    bool ok = true;
    switch (t) {
      case ValueType::UINT8: { uint8_t x = 0; ok = c_.read(&x); v->u = x; break; }
      case ValueType::INT8: { int8_t x = 0; ok = c_.read(&x); v->i = x; break; }
      case ValueType::UINT16: { uint16_t x = 0; ok = c_.read(&x); v->u = x; break; }
      case ValueType::INT16: { int16_t x = 0; ok = c_.read(&x); v->i = x; break; }
      case ValueType::UINT32: { uint32_t x = 0; ok = c_.read(&x); v->u = x; break; }
      case ValueType::INT32: { int32_t x = 0; ok = c_.read(&x); v->i = x; break; }
      case ValueType::UINT64: { uint64_t x = 0; ok = c_.read(&x); v->u = x; break; }
      case ValueType::INT64: { int64_t x = 0; ok = c_.read(&x); v->i = x; break; }
      case ValueType::FLOAT32: { float x = 0; ok = c_.read(&x); v->f = x; break; }
      case ValueType::FLOAT64: { double x = 0; ok = c_.read(&x); v->f = x; break; }
      case ValueType::BOOL: { uint8_t x = 0; ok = c_.read(&x); v->b = x != 0; break; }
      case ValueType::STRING: return read_string(&v->str, what + " string");
      case ValueType::ARRAY: return fail(what + ": internal error, array read as scalar");
    }
    if (!ok) return truncated(what + " value");
    return Status::ok();
  }

  Status read_value(ValueType t, Value* v, int depth, const std::string& what) {
    if (t != ValueType::ARRAY) return read_scalar(t, v, what);
    if (depth >= fmt::kMaxArrayDepth)
      return fail(what + ": arrays nested deeper than " + std::to_string(fmt::kMaxArrayDepth) + " levels");
    v->type = ValueType::ARRAY;
    KESTREL_RETURN_IF_ERROR(read_value_type(&v->elem_type, what + " array element"));
    uint64_t count = 0;
    if (!c_.read(&count)) return truncated(what + " array count");
    // Smallest encoding of one element: its fixed size, a string's length field, a nested array's
    // type + count. The count must fit in what is left before we reserve for it.
    uint64_t min_size = fmt::scalar_size(v->elem_type);
    if (v->elem_type == ValueType::STRING) min_size = 8;
    if (v->elem_type == ValueType::ARRAY) min_size = 12;
    if (count > c_.remaining() / min_size)
      return fail(what + ": array of " + std::to_string(count) + " " + std::string(value_type_name(v->elem_type)) +
                  " items at offset " + std::to_string(c_.pos() - 8) + " cannot fit in the file (size " +
                  std::to_string(size_) + ")");
    v->items.resize(count);
    for (uint64_t i = 0; i < count; ++i)
      KESTREL_RETURN_IF_ERROR(read_value(v->elem_type, &v->items[i], depth + 1, what));
    return Status::ok();
  }

  Status parse_metadata() {
    f_->kv_.reserve(n_kv_);
    for (uint64_t k = 0; k < n_kv_; ++k) {
      KeyValue kv;
      KESTREL_RETURN_IF_ERROR(read_string(&kv.key, "metadata key #" + std::to_string(k)));
      const std::string what = "key " + quoted(kv.key);
      if (f_->kv_index_.count(kv.key)) return fail("duplicate metadata " + what);
      ValueType t;
      KESTREL_RETURN_IF_ERROR(read_value_type(&t, what));
      KESTREL_RETURN_IF_ERROR(read_value(t, &kv.value, 0, what));
      f_->kv_index_.emplace(kv.key, f_->kv_.size());
      f_->kv_.push_back(std::move(kv));
    }
    return Status::ok();
  }

  Status parse_alignment() {
    f_->alignment_ = fmt::kDefaultAlignment;
    const Value* v = f_->find(fmt::kAlignmentKey);
    if (!v) return Status::ok();
    uint64_t a = 0;
    switch (v->type) {
      case ValueType::UINT8: case ValueType::UINT16: case ValueType::UINT32: case ValueType::UINT64: a = v->u; break;
      case ValueType::INT8: case ValueType::INT16: case ValueType::INT32: case ValueType::INT64:
        if (v->i <= 0) return fail("general.alignment must be a nonzero power of two, got " + std::to_string(v->i));
        a = static_cast<uint64_t>(v->i);
        break;
      default:
        return fail("general.alignment has type " + std::string(value_type_name(v->type)) + ", expected uint32");
    }
    if (!fmt::is_power_of_two(a)) return fail("general.alignment must be a nonzero power of two, got " + std::to_string(a));
    f_->alignment_ = a;
    return Status::ok();
  }

  Status parse_tensor_info(TensorInfo* t, uint64_t index) {
    KESTREL_RETURN_IF_ERROR(read_string(&t->name, "tensor #" + std::to_string(index) + " name"));
    const std::string what = "tensor " + quoted(t->name);
    if (f_->tensor_index_.count(t->name)) return fail("duplicate " + what);
    uint32_t n_dims = 0;
    if (!c_.read(&n_dims)) return truncated(what + " n_dims");
    if (n_dims > fmt::kMaxDims)
      return fail(what + " has " + std::to_string(n_dims) + " dimensions (at most " + std::to_string(fmt::kMaxDims) + ")");
    t->ne.resize(n_dims);
    int64_t n = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      if (!c_.read(&t->ne[d])) return truncated(what + " dims");
      if (t->ne[d] < 0) return fail(what + " has negative dimension ne[" + std::to_string(d) + "] = " + std::to_string(t->ne[d]));
      if (__builtin_mul_overflow(n, t->ne[d], &n)) return fail(what + " dimensions overflow: the element count does not fit in int64");
    }
    uint32_t type_id = 0;
    if (!c_.read(&type_id)) return truncated(what + " type");
    const TypeLayout* layout = type_layout(type_id);
    if (!layout) return fail(what + " has unknown tensor type id " + std::to_string(type_id));
    t->type = layout->type;
    if (n_dims > 0 && t->ne[0] % layout->block_size != 0)
      return fail(what + " row length ne[0] = " + std::to_string(t->ne[0]) + " is not a multiple of the " +
                  std::string(layout->name) + " block size " + std::to_string(layout->block_size));
    if (n_dims == 0 && layout->block_size != 1)
      return fail(what + " is a scalar of block type " + std::string(layout->name));
    std::optional<uint64_t> bytes = bytes_for(t->type, static_cast<uint64_t>(n));
    if (!bytes) return fail(what + " size overflows (" + std::to_string(n) + " elements of " + std::string(layout->name) + ")");
    t->bytes = *bytes;
    if (!c_.read(&t->offset)) return truncated(what + " offset");
    return Status::ok();
  }

  Status parse_tensor_table() {
    f_->tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      TensorInfo t;
      KESTREL_RETURN_IF_ERROR(parse_tensor_info(&t, i));
      f_->tensor_index_.emplace(t.name, f_->tensors_.size());
      f_->tensors_.push_back(std::move(t));
    }
    return Status::ok();
  }

  // The data section starts at the first aligned offset after the tensor table; each tensor must be
  // aligned, lie inside the file and not overlap another.
  Status place_tensor_data() {
    std::optional<uint64_t> data = fmt::align_up(c_.pos(), f_->alignment_);
    if (!data) return fail("data section offset overflows with alignment " + std::to_string(f_->alignment_));
    f_->data_offset_ = *data;
    // Like ggml: without tensors there is no data section and it "starts" where the table ends (the
    // padding may be missing from such files).
    if (f_->tensors_.empty()) {
      f_->data_offset_ = c_.pos();
      return Status::ok();
    }
    if (*data > size_)
      return fail("data section starts at " + std::to_string(*data) + ", past the end of the file (size " + std::to_string(size_) + ")");
    const uint64_t data_size = size_ - *data;
    std::vector<const TensorInfo*> by_offset;
    by_offset.reserve(f_->tensors_.size());
    for (const TensorInfo& t : f_->tensors_) {
      const std::string what = "tensor " + quoted(t.name);
      if (t.offset % f_->alignment_ != 0)
        return fail(what + " data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                    std::to_string(f_->alignment_));
      uint64_t end = 0;
      if (__builtin_add_overflow(t.offset, t.bytes, &end) || end > data_size)
        return fail(what + " data [" + std::to_string(t.offset) + ", +" + std::to_string(t.bytes) +
                    ") extends past the end of the file (data section is " + std::to_string(data_size) + " bytes)");
      if (t.bytes > 0) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const TensorInfo* a = by_offset[i - 1];
      const TensorInfo* b = by_offset[i];
      if (a->offset + a->bytes > b->offset)
        return fail("tensors " + quoted(a->name) + " and " + quoted(b->name) + " overlap (data at " +
                    std::to_string(a->offset) + "+" + std::to_string(a->bytes) + " and " + std::to_string(b->offset) + ")");
    }
    return Status::ok();
  }

  GGUFFile* f_;
  Cursor c_;
  uint64_t size_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

Status parse_gguf(GGUFFile* f, const uint8_t* data, uint64_t size);  // used by gguf_file.cpp
Status parse_gguf(GGUFFile* f, const uint8_t* data, uint64_t size) { return GGUFParser(f, data, size).parse(); }

}  // namespace kestrel
