// See common_mixture.h.
#include "cli/common_mixture.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/common_quant_plan.h"

namespace kestrel::cli {

Mixture mixture_of(const GGUFFile& metadata, const std::vector<TensorStat>& tensors) {
  Mixture m;
  if (const Value* v = metadata.find("general.file_type");
      v && (v->type == ValueType::UINT32 || v->type == ValueType::INT32 || v->type == ValueType::UINT64 || v->type == ValueType::INT64)) {
    const uint64_t id = v->type == ValueType::INT32 || v->type == ValueType::INT64 ? static_cast<uint64_t>(v->i) : v->u;
    if (id <= 0xFFFFFFFFu) m.file_type = std::string(file_type_name(static_cast<uint32_t>(id)));
  }
  std::map<std::string, int> counts;
  for (const TensorStat& t : tensors) {
    counts[std::string(type_name(t.type))]++;
    m.elements += t.elements;
    m.bytes += t.bytes;
  }
  m.counts.assign(counts.begin(), counts.end());
  std::stable_sort(m.counts.begin(), m.counts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return m;
}

std::string Mixture::summary() const {
  std::string s = file_type.empty() ? "unknown file type" : file_type;
  s += ":";
  for (size_t i = 0; i < counts.size(); ++i)
    s += (i ? ", " : " ") + std::to_string(counts[i].second) + "\u00d7" + counts[i].first;
  char bpw_text[32];
  std::snprintf(bpw_text, sizeof bpw_text, ", %.2f bpw", bpw());
  return s + bpw_text;
}

}  // namespace kestrel::cli
