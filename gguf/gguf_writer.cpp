// GGUF v3 writer. Layout matches what ggml's loader expects: tensor offsets are consecutive, each
// tensor's data padded with zeros to the alignment (the last one too), the data section aligned.
#include "gguf/gguf_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "gguf/gguf_format.h"

namespace kestrel {
namespace fmt = gguf_format;

namespace {

// Buffered little-endian output to a FILE*; remembers the first I/O error.
class Out {
 public:
  explicit Out(std::FILE* f) : f_(f) {}
  void bytes(const void* p, size_t n) {
    if (ok_ && n > 0 && std::fwrite(p, 1, n, f_) != n) ok_ = false;
    pos_ += n;
  }
  template <class T>
  void put(T v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void zeros(uint64_t n) {
    static const uint8_t kZero[256] = {};
    while (n > 0) {
      size_t k = n < sizeof kZero ? static_cast<size_t>(n) : sizeof kZero;
      bytes(kZero, k);
      n -= k;
    }
  }
  void pad_to(uint64_t alignment) { zeros((alignment - pos_ % alignment) % alignment); }
  uint64_t pos() const { return pos_; }
  bool ok() const { return ok_; }

 private:
  std::FILE* f_;
  uint64_t pos_ = 0;
  bool ok_ = true;
};

// Checks that a value is writable: known types, array items all of the element type.
Status check_value(const std::string& key, const Value& v, int depth) {
  if (static_cast<uint32_t>(v.type) > fmt::kMaxValueType)
    return Status::error("key '" + key + "': unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
  if (v.type != ValueType::ARRAY) return Status::ok();
  if (depth >= fmt::kMaxArrayDepth) return Status::error("key '" + key + "': arrays nested too deep");
  if (static_cast<uint32_t>(v.elem_type) > fmt::kMaxValueType)
    return Status::error("key '" + key + "': unknown array element type");
  for (const Value& item : v.items) {
    if (item.type != v.elem_type)
      return Status::error("key '" + key + "': array of " + std::string(value_type_name(v.elem_type)) +
                           " holds an item of type " + std::string(value_type_name(item.type)));
    KESTREL_RETURN_IF_ERROR(check_value(key, item, depth + 1));
  }
  return Status::ok();
}

void write_payload(Out& out, const Value& v) {
  switch (v.type) {
    case ValueType::UINT8: out.put<uint8_t>(static_cast<uint8_t>(v.u)); break;
    case ValueType::INT8: out.put<int8_t>(static_cast<int8_t>(v.i)); break;
    case ValueType::UINT16: out.put<uint16_t>(static_cast<uint16_t>(v.u)); break;
    case ValueType::INT16: out.put<int16_t>(static_cast<int16_t>(v.i)); break;
    case ValueType::UINT32: out.put<uint32_t>(static_cast<uint32_t>(v.u)); break;
    case ValueType::INT32: out.put<int32_t>(static_cast<int32_t>(v.i)); break;
    case ValueType::UINT64: out.put<uint64_t>(v.u); break;
    case ValueType::INT64: out.put<int64_t>(v.i); break;
    case ValueType::FLOAT32: out.put<float>(static_cast<float>(v.f)); break;
    case ValueType::FLOAT64: out.put<double>(v.f); break;
    case ValueType::BOOL: out.put<uint8_t>(v.b ? 1 : 0); break;
    case ValueType::STRING: out.str(v.str); break;
    case ValueType::ARRAY:
      out.put<uint32_t>(static_cast<uint32_t>(v.elem_type));
      out.put<uint64_t>(v.items.size());
      for (const Value& item : v.items) write_payload(out, item);
      break;
  }
}

// general.alignment as the writer will honour it: absent -> 32; otherwise a nonzero power of two.
Result<uint64_t> alignment_of(const std::vector<KeyValue>& kv) {
  for (const KeyValue& e : kv) {
    if (e.key != fmt::kAlignmentKey) continue;
    const Value& v = e.value;
    uint64_t a = 0;
    if (v.type == ValueType::UINT8 || v.type == ValueType::UINT16 || v.type == ValueType::UINT32 ||
        v.type == ValueType::UINT64)
      a = v.u;
    else
      return Status::error("general.alignment must be an unsigned integer (uint32), got " +
                           std::string(value_type_name(v.type)));
    if (!fmt::is_power_of_two(a)) return Status::error("general.alignment must be a nonzero power of two, got " + std::to_string(a));
    return a;
  }
  return fmt::kDefaultAlignment;
}

}  // namespace

void GGUFWriter::set(const std::string& key, Value v) {
  for (KeyValue& e : kv_)
    if (e.key == key) {
      e.value = std::move(v);
      return;
    }
  kv_.push_back(KeyValue{key, std::move(v)});
}

Status GGUFWriter::add_tensor(const std::string& name, TensorType type, std::vector<int64_t> ne, const void* data,
                              uint64_t bytes) {
  const std::string what = "tensor '" + name + "'";
  if (name.empty()) return Status::error("tensor name is empty");
  for (const PendingTensor& t : tensors_)
    if (t.name == name) return Status::error("duplicate " + what);
  const TypeLayout* layout = type_layout(type);
  if (!layout) return Status::error(what + ": unknown tensor type id " + std::to_string(static_cast<uint32_t>(type)));
  if (ne.empty() || ne.size() > fmt::kMaxDims)
    return Status::error(what + ": needs 1 to " + std::to_string(fmt::kMaxDims) + " dimensions, got " + std::to_string(ne.size()));
  int64_t n = 1;
  for (int64_t d : ne) {
    if (d < 0) return Status::error(what + ": negative dimension " + std::to_string(d));
    if (__builtin_mul_overflow(n, d, &n)) return Status::error(what + ": dimensions overflow");
  }
  if (ne[0] % layout->block_size != 0)
    return Status::error(what + ": ne[0] = " + std::to_string(ne[0]) + " is not a multiple of the " +
                         std::string(layout->name) + " block size " + std::to_string(layout->block_size));
  std::optional<uint64_t> expect = bytes_for(type, static_cast<uint64_t>(n));
  if (!expect) return Status::error(what + ": size overflows");
  if (bytes != *expect)
    return Status::error(what + ": got " + std::to_string(bytes) + " bytes of data, its shape and type need " +
                         std::to_string(*expect));
  if (bytes > 0 && !data) return Status::error(what + ": data is null");
  PendingTensor t{name, type, std::move(ne), {}};
  if (bytes > 0) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    t.data.assign(p, p + bytes);
  }
  tensors_.push_back(std::move(t));
  return Status::ok();
}

Status GGUFWriter::write(const std::string& path) const {
  for (const KeyValue& e : kv_) KESTREL_RETURN_IF_ERROR(check_value(e.key, e.value, 0));
  Result<uint64_t> align = alignment_of(kv_);
  if (!align) return Status::error(path + ": " + align.error());
  const uint64_t alignment = *align;

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return Status::error(path + ": cannot create: " + std::strerror(errno));
  std::setvbuf(f.get(), nullptr, _IOFBF, 1 << 20);
  Out out(f.get());

  out.bytes(fmt::kMagic, 4);
  out.put<uint32_t>(fmt::kVersion);
  out.put<uint64_t>(tensors_.size());
  out.put<uint64_t>(kv_.size());
  for (const KeyValue& e : kv_) {
    out.str(e.key);
    out.put<uint32_t>(static_cast<uint32_t>(e.value.type));
    write_payload(out, e.value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    out.str(t.name);
    out.put<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) out.put<int64_t>(d);
    out.put<uint32_t>(static_cast<uint32_t>(t.type));
    out.put<uint64_t>(offset);
    offset += *fmt::align_up(t.data.size(), alignment);
  }
  out.pad_to(alignment);
  for (const PendingTensor& t : tensors_) {
    out.bytes(t.data.data(), t.data.size());
    out.pad_to(alignment);
  }
  std::FILE* raw = f.release();
  bool closed = std::fclose(raw) == 0;
  if (!out.ok() || !closed) {
    int e = errno;
    std::remove(path.c_str());
    return Status::error(path + ": write failed: " + std::strerror(e));
  }
  return Status::ok();
}

}  // namespace kestrel
