#include "model/tokenizer_bpe.h"

#include <algorithm>
#include <queue>
#include <string>

#include "model/tokenizer_pretokenize.h"
#include "model/unicode.h"

namespace kestrel {
namespace {

struct Symbol {
  int prev, next;
  size_t off, len;  // bytes of the encoded word; len 0 once merged into the left neighbour
};

struct Bigram {
  int left, right;
  int rank;
  size_t left_len, right_len;  // lengths when queued: any change means the pair is stale
};

struct BigramOrder {  // priority_queue keeps the "largest": lowest rank, then leftmost
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

// Merges inside one byte-level-encoded word and appends the resulting ids.
void merge_word(const Vocab& vocab, const std::string& word, std::vector<Symbol>& syms, std::vector<int32_t>& out) {
  syms.clear();
  for (size_t off = 0; off < word.size();) {
    const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(word[off])), word.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + len == word.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  const std::string_view w(word);
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int rank = vocab.merge_rank(w.substr(syms[left].off, syms[left].len), w.substr(syms[right].off, syms[right].len));
    if (rank >= 0) queue.push({left, right, rank, syms[left].len, syms[right].len});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = syms[b.left];
    Symbol& r = syms[b.right];
    if (l.len != b.left_len || r.len != b.right_len || r.len == 0) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = 0; i != -1 && !syms.empty(); i = syms[i].next) {
    const std::string_view piece = w.substr(syms[i].off, syms[i].len);
    const int32_t id = vocab.find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not a token (the merges made something the vocab lacks): llama.cpp looks up each byte of the
    // encoded text on its own and drops the ones that are not tokens either.
    for (char c : piece)
      if (const int32_t b = vocab.find(std::string_view(&c, 1)); b >= 0) out.push_back(b);
  }
}

}  // namespace

void bpe_encode(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  const std::vector<uint32_t> cps = unicode::decode_utf8(text);
  const std::vector<Span> spans = pretokenize(vocab.pre().kind, cps);
  std::string utf8, word;
  std::vector<Symbol> syms;
  for (const Span& s : spans) {
    utf8.clear();
    for (size_t i = s.begin; i < s.end; ++i) unicode::append_utf8(cps[i], utf8);
    word.clear();
    for (char c : utf8) unicode::append_utf8(unicode::byte_to_codepoint(static_cast<uint8_t>(c)), word);
    if (vocab.pre().ignore_merges) {
      if (const int32_t id = vocab.find(word); id >= 0) {
        out.push_back(id);
        continue;
      }
    }
    merge_word(vocab, word, syms, out);
  }
}

}  // namespace kestrel
