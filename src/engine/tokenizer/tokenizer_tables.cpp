// Lookup tables behind the tokenizers: piece -> id, merge pair -> rank, the special-token trie and
// GPT-2's byte <-> code point mapping.
#include <algorithm>
#include <bit>
#include <map>

#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine::tokenizer_detail {

namespace {

size_t table_size_for(size_t n_keys) {
  // Load factor <= 2/3 keeps linear probe chains short and the tables small enough to stay in
  // cache.
  return std::bit_ceil(std::max<size_t>(16, n_keys + n_keys / 2));
}

uint64_t mix64(uint64_t key) {  // splitmix64 finalizer
  key ^= key >> 30;
  key *= 0xbf58476d1ce4e5b9ull;
  key ^= key >> 27;
  key *= 0x94d049bb133111ebull;
  return key ^ (key >> 31);
}

}  // namespace

void PieceIndex::build(const std::vector<std::string>& pieces) {
  size_t total = 0;
  for (const auto& p : pieces) total += p.size();
  arena_.clear();
  arena_.reserve(total);
  offsets_.assign(1, 0);
  offsets_.reserve(pieces.size() + 1);
  for (const auto& p : pieces) {
    arena_.append(p);
    offsets_.push_back(static_cast<uint32_t>(arena_.size()));
  }
  slots_.assign(table_size_for(pieces.size()), Slot{});
  mask_ = static_cast<uint32_t>(slots_.size() - 1);
  for (size_t id = 0; id < pieces.size(); ++id) {
    uint32_t h = hash_bytes(pieces[id]);
    for (uint32_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.id < 0) {
        slot = Slot{h, static_cast<int32_t>(id)};
        break;
      }
      if (slot.hash == h && piece(slot.id) == pieces[id]) {
        slot.id = static_cast<int32_t>(id);  // later duplicate wins
        break;
      }
    }
  }
}

int32_t PieceIndex::find(std::string_view left, std::string_view right, uint32_t h) const {
  if (slots_.empty()) return -1;
  for (uint32_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash != h) continue;
    std::string_view p = piece(slot.id);
    if (p.size() == left.size() + right.size() && p.substr(0, left.size()) == left &&
        p.substr(left.size()) == right) {
      return slot.id;
    }
  }
}

void MergeTable::reserve(size_t n_merges) {
  slots_.assign(table_size_for(n_merges), Entry{});
  mask_ = slots_.size() - 1;
  size_ = 0;
}

void MergeTable::insert(int32_t left, int32_t right, int32_t rank, int32_t result) {
  if (slots_.empty() || (size_ + 1) * 2 > slots_.size()) {
    std::vector<Entry> old = std::move(slots_);
    reserve(std::max<size_t>(size_ + 1, old.size()));
    for (const Entry& e : old) {
      if (e.rank >= 0) {
        insert(static_cast<int32_t>(e.key >> 32), static_cast<int32_t>(e.key & 0xffffffffu), e.rank,
               e.result);
      }
    }
  }
  uint64_t key = key_of(left, right);
  for (uint64_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
    Entry& e = slots_[i];
    if (e.rank < 0) {
      e = Entry{key, rank, result};
      ++size_;
      return;
    }
    if (e.key == key) return;  // the lower rank (inserted first) stays
  }
}

void MergeTable::prefetch(int32_t left, int32_t right) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[mix64(key_of(left, right)) & mask_]);
}

const MergeTable::Entry* MergeTable::find(int32_t left, int32_t right) const {
  if (size_ == 0) return nullptr;
  uint64_t key = key_of(left, right);
  for (uint64_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
    const Entry& e = slots_[i];
    if (e.rank < 0) return nullptr;
    if (e.key == key) return &e;
  }
}

void SpecialMatcher::build(const std::vector<int32_t>& ids, const std::vector<std::string>& texts) {
  // Build with ordered maps (a few thousand entries), then flatten to sorted edge arrays.
  struct BuildNode {
    std::map<uint8_t, uint32_t> children;
    int32_t token = -1;
  };
  std::vector<BuildNode> build(1);
  for (int32_t id : ids) {
    const std::string& text = texts[static_cast<size_t>(id)];
    if (text.empty()) continue;
    uint32_t node = 0;
    for (unsigned char c : text) {
      auto it = build[node].children.find(c);
      if (it == build[node].children.end()) {
        build.push_back({});
        it = build[node].children.emplace(c, static_cast<uint32_t>(build.size() - 1)).first;
      }
      node = it->second;
    }
    // Two specials with the same text: keep the first (the partition would only ever use one).
    if (build[node].token < 0) build[node].token = id;
  }
  nodes_.assign(build.size(), Node{});
  edges_.clear();
  for (size_t n = 0; n < build.size(); ++n) {
    nodes_[n].first_edge = static_cast<uint32_t>(edges_.size());
    nodes_[n].n_edges = static_cast<uint16_t>(build[n].children.size());
    nodes_[n].token = build[n].token;
    for (const auto& [byte, child_index] : build[n].children) edges_.push_back({byte, child_index});
  }
  root_child_.fill(-1);
  for (const auto& [byte, child_index] : build[0].children) {
    root_child_[byte] = static_cast<int32_t>(child_index);
  }
}

uint32_t SpecialMatcher::child(uint32_t node, uint8_t byte) const {
  const Node& n = nodes_[node];
  const Edge* begin = edges_.data() + n.first_edge;
  const Edge* end = begin + n.n_edges;
  const Edge* it =
      std::lower_bound(begin, end, byte, [](const Edge& e, uint8_t b) { return e.byte < b; });
  return (it != end && it->byte == byte) ? it->child : 0;  // node 0 (the root) is never a child
}

const std::array<uint32_t, 256>& byte_to_code_point() {
  // GPT-2: printable Latin-1 bytes stand for themselves; the other 68 bytes take U+0100 upward in
  // byte order (space -> U+0120 'Ġ', newline -> U+010A 'Ċ').
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

int byte_from_code_point(uint32_t code_point) {
  static const std::array<int16_t, 324> reverse = [] {
    std::array<int16_t, 324> r{};
    r.fill(-1);
    const auto& forward = byte_to_code_point();
    for (int b = 0; b < 256; ++b) r[forward[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    return r;
  }();
  return code_point < reverse.size() ? reverse[code_point] : -1;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace chimera::engine::tokenizer_detail
