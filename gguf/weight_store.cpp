// WeightStore: one model's tensors as views, from one GGUF file or a split set, either zero-copy
// into the read-only mappings or copied to 64-byte-aligned heap blocks.
#include "gguf/weight_store.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "gguf/split_path.h"

namespace kestrel {

namespace {

constexpr size_t kHeapAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;  // x86-64 and aarch64 (4 KiB base pages) huge page size

// Reads split.no / split.count of one part; absent keys mean "not split" (0 of 1).
struct SplitKeys {
  uint32_t no = 0;
  uint32_t count = 1;
  bool present = false;
};

Result<SplitKeys> split_keys(const GGUFFile& f) {
  SplitKeys k;
  if (!f.find(kSplitCountKey)) {
    if (f.find(kSplitNoKey)) return Status::error(f.path() + ": has split.no but no split.count");
    return k;
  }
  k.present = true;
  Result<uint32_t> count = f.get_u32(kSplitCountKey);
  if (!count) return count.status();
  Result<int64_t> no = f.get_int_or(kSplitNoKey, 0);
  if (!no) return no.status();
  if (*count == 0) return Status::error(f.path() + ": split.count is 0");
  if (*no < 0 || *no >= *count)
    return Status::error(f.path() + ": split.no " + std::to_string(*no) + " is out of range for split.count " +
                         std::to_string(*count));
  k.count = *count;
  k.no = static_cast<uint32_t>(*no);
  return k;
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

int64_t TensorView::n_rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < ne.size(); ++i) n *= ne[i];
  return n;
}

uint64_t TensorView::row_bytes() const {
  if (ne.empty()) return bytes;
  return bytes_for(type, static_cast<uint64_t>(ne[0])).value_or(0);
}

Result<std::unique_ptr<WeightStore>> WeightStore::open(const std::string& path, LoadMode mode, bool defer_heap_copy) {
  std::unique_ptr<WeightStore> ws(new WeightStore());
  ws->mode_ = mode;
  Result<std::unique_ptr<GGUFFile>> first = GGUFFile::open(path);
  if (!first) return first.status();
  Result<SplitKeys> keys = split_keys(**first);
  if (!keys) return keys.status();
  ws->files_.push_back(std::move(*first));

  if (keys->count > 1) {
    if (keys->no != 0)
      return Status::error(path + ": this is split part " + std::to_string(keys->no + 1) + " of " +
                           std::to_string(keys->count) + "; open the first part (-00001-of-...)");
    std::optional<SplitName> name = parse_split_path(path);
    if (!name)
      return Status::error(path + ": split.count is " + std::to_string(keys->count) +
                           " but the file name does not follow <prefix>-00001-of-" +
                           split_path("", keys->count, keys->count).substr(10));
    if (name->count != keys->count || name->part != 1)
      return Status::error(path + ": file name says part " + std::to_string(name->part) + " of " +
                           std::to_string(name->count) + " but its metadata says part 1 of " + std::to_string(keys->count));
    for (uint32_t part = 2; part <= keys->count; ++part) {
      std::string p = split_path(name->prefix, part, keys->count);
      if (!file_exists(p))
        return Status::error(path + ": split part " + std::to_string(part) + " of " + std::to_string(keys->count) +
                             " is missing: " + p);
      Result<std::unique_ptr<GGUFFile>> f = GGUFFile::open(p);
      if (!f) return f.status();
      Result<SplitKeys> k = split_keys(**f);
      if (!k) return k.status();
      if (k->no != part - 1 || k->count != keys->count)
        return Status::error(p + ": metadata says split part " + std::to_string(k->no + 1) + " of " +
                             std::to_string(k->count) + ", expected part " + std::to_string(part) + " of " +
                             std::to_string(keys->count));
      ws->files_.push_back(std::move(*f));
    }
  }

  // Merge the tensor tables: names are unique across all parts.
  for (const std::unique_ptr<GGUFFile>& f : ws->files_) {
    for (const TensorInfo& t : f->tensors()) {
      if (ws->index_.count(t.name))
        return Status::error(f->path() + ": tensor '" + t.name + "' also appears in an earlier split part");
      ws->index_.emplace(t.name, ws->views_.size());
      ws->views_.push_back(TensorView{t.name, t.type, t.ne, f->tensor_data(t), t.bytes});
    }
  }
  if (keys->present && ws->files_.front()->find(kSplitTensorsCountKey)) {
    Result<int64_t> expected = ws->files_.front()->get_int(kSplitTensorsCountKey);
    if (!expected) return expected.status();
    if (*expected != static_cast<int64_t>(ws->views_.size()))
      return Status::error(path + ": split.tensors.count is " + std::to_string(*expected) + " but the parts hold " +
                           std::to_string(ws->views_.size()) + " tensors");
  }

  if (mode == LoadMode::Heap && !defer_heap_copy) {
    if (Status st = ws->finish_heap_copy(); !st) return Status::error(path + ": " + st.message());
  }
  return ws;
}

Status WeightStore::finish_heap_copy() {
  if (mode_ != LoadMode::Heap) return Status::ok();
  heap_blocks_.reserve(heap_blocks_.size() + views_.size());
  for (TensorView& v : views_) {
    if (v.data == nullptr || !is_mapped(v.data)) continue;  // dropped by a load-time pass, or a heap copy already
    Result<void*> p = alloc_block(static_cast<size_t>(v.bytes));
    if (!p) return Status::error("out of memory copying tensor '" + v.name + "' (" + std::to_string(v.bytes) + " bytes)");
    // In slices, each slice's file pages given back once copied: the page cache keeps the file, and
    // this process holds one copy of a large tensor (a tied embedding), not two, even for a moment.
    constexpr uint64_t kSlice = uint64_t{8} << 20;
    for (uint64_t b = 0; b < v.bytes; b += kSlice) {
      const uint64_t n = std::min(kSlice, v.bytes - b);
      std::memcpy(static_cast<char*>(*p) + b, static_cast<const char*>(v.data) + b, n);
      release_mapped(static_cast<const char*>(v.data) + b, n);
    }
    release_mapped(v.data, v.bytes);  // the pages the slices shared
    v.data = *p;
  }
  for (std::unique_ptr<GGUFFile>& f : files_) f->drop_mapping();
  return Status::ok();
}

WeightStore::~WeightStore() {
  for (void* p : heap_blocks_) std::free(p);
}

Result<void*> WeightStore::alloc_block(size_t bytes) {
  // aligned_alloc needs a size that is a multiple of the alignment; empty tensors still get a block
  // so every view has a valid, aligned pointer.
  size_t size = (bytes + kHeapAlignment - 1) / kHeapAlignment * kHeapAlignment;
  if (size == 0) size = kHeapAlignment;
  // Blocks of 2 MiB or more get 2 MiB alignment and ask for transparent huge pages (THP is often in
  // "madvise" mode): decode streams every weight once per token, and 4 KiB pages cost it TLB misses
  // (measured: 1B Q8_0 tg, --no-mmap, see README).
  const bool huge = size >= kHugePage;
  if (huge) size = (size + kHugePage - 1) / kHugePage * kHugePage;
  void* p = std::aligned_alloc(huge ? kHugePage : kHeapAlignment, size);
  if (!p) return Status::error("out of memory for a weight block of " + std::to_string(bytes) + " bytes");
  if (huge) ::madvise(p, size, MADV_HUGEPAGE);  // advice only: failure leaves normal pages
  heap_blocks_.push_back(p);
  return p;
}

void WeightStore::free_block(const void* p) {
  for (void*& b : heap_blocks_)
    if (b == p) {
      std::free(b);
      b = heap_blocks_.back();
      heap_blocks_.pop_back();
      return;
    }
}

void WeightStore::release_mapped(const void* p, uint64_t bytes) const {
  if (p == nullptr || bytes == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(p), e = b + bytes;
  for (const std::unique_ptr<GGUFFile>& f : files_) {
    const uintptr_t fb = reinterpret_cast<uintptr_t>(f->mapped());
    if (!f->owns_mapping() || b < fb || e > fb + f->file_size()) continue;  // not this part's mapping
    const uintptr_t lo = (b + page - 1) / page * page, hi = e / page * page;
    if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);  // advice: failure keeps pages
    return;
  }
}

bool WeightStore::is_mapped(const void* p) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (const std::unique_ptr<GGUFFile>& f : files_) {
    const uintptr_t fb = reinterpret_cast<uintptr_t>(f->mapped());
    if (f->mapped() != nullptr && a >= fb && a < fb + f->file_size()) return true;
  }
  return false;
}

const TensorView* WeightStore::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &views_[it->second];
}

uint64_t WeightStore::total_bytes() const {
  uint64_t n = 0;
  for (const TensorView& v : views_) n += v.bytes;
  return n;
}

}  // namespace kestrel
