#include "model/tokenizer_spm.h"

#include <algorithm>
#include <queue>

#include "model/unicode.h"

namespace kestrel {
namespace {

struct Symbol {
  int prev, next;   // neighbours in the current segmentation, -1 at the ends
  size_t off, len;  // bytes of the text; len 0 once merged into the left neighbour
};

struct Bigram {
  int left, right;
  float score;
  size_t len;  // left.len + right.len when queued: a later mismatch means it is stale
};

struct BigramOrder {  // priority_queue keeps the "largest": best score, then leftmost
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void spm_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> syms;
  syms.reserve(text.size());
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(text[off])), text.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  if (syms.empty()) return;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view joined = text.substr(syms[left].off, syms[left].len + syms[right].len);
    const int32_t id = vocab.find(joined);
    if (id < 0) return;
    queue.push({left, right, vocab.token(id).score, joined.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  // Every merged symbol is a token by construction; single characters that are not fall back to
  // their bytes. (llama.cpp throws when a byte has no token either; we use <unk> if there is one.)
  for (int i = 0; i != -1; i = syms[i].next) {
    const std::string_view piece = text.substr(syms[i].off, syms[i].len);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t b = vocab.byte_token(static_cast<uint8_t>(c));
      if (b >= 0) {
        out.push_back(b);
      } else if (vocab.unk() >= 0) {
        out.push_back(vocab.unk());
      }
    }
  }
}

}  // namespace kestrel
