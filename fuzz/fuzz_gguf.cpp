// libFuzzer target for the GGUF parser: bytes go through GGUFFile::open_memory (the same parser the
// mmap path uses). On a successful parse, every accessor and every tensor's bytes are touched so
// ASan sees any view that points outside the input.
#include <cstddef>
#include <cstdint>

#include "gguf/gguf_file.h"
#include "gguf/value_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = kestrel::GGUFFile::open_memory(data, size, "fuzz.gguf");
  if (!r) return 0;
  const kestrel::GGUFFile& f = **r;
  size_t sink = 0;
  for (const kestrel::KeyValue& kv : f.metadata()) {
    sink += kestrel::format_value(kv.value, 4).size();
    // Exercise the typed accessors on every key, whatever its type: they must fail cleanly.
    sink += f.get_int(kv.key).is_ok() + f.get_u32(kv.key).is_ok() + f.get_float(kv.key).is_ok();
    sink += f.get_string_array(kv.key).is_ok() + f.get_i32_array(kv.key).is_ok();
    sink += f.get_float_array(kv.key).is_ok() + f.get_string(kv.key).is_ok() + f.get_bool(kv.key).is_ok();
  }
  for (const kestrel::TensorInfo& t : f.tensors()) {
    const uint8_t* p = f.tensor_data(t);
    if (t.bytes > 0) sink += p[0] + p[t.bytes - 1];
    sink += f.find_tensor(t.name) == &t;
  }
  volatile size_t keep = sink;
  (void)keep;
  return 0;
}
