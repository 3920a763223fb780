#include "engine/grammar/grammar.h"

#include <fmt/format.h>

#include <algorithm>
#include <queue>

namespace chimera::engine {
namespace {

constexpr uint64_t kInfinite = std::numeric_limits<uint64_t>::max();

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > kInfinite - b ? kInfinite : a + b; }
uint64_t saturating_mul(uint64_t a, uint64_t b) {
  if (a == 0 || b == 0) return 0;
  return a > kInfinite / b ? kInfinite : a * b;
}

std::string byte_text(uint8_t b) {
  if (b >= 0x20 && b < 0x7F && b != '\\' && b != ']' && b != '"' && b != '-') {
    return std::string(1, static_cast<char>(b));
  }
  return fmt::format("\\x{:02X}", b);
}

std::string set_text(const ByteSet& set) {
  int count = 0;
  for (int b = 0; b < 256; ++b) count += set.has(static_cast<uint8_t>(b));
  if (count == 1) {
    for (int b = 0; b < 256; ++b) {
      if (set.has(static_cast<uint8_t>(b))) return "\"" + byte_text(static_cast<uint8_t>(b)) + "\"";
    }
  }
  std::string out = "[";
  for (int b = 0; b < 256;) {
    if (!set.has(static_cast<uint8_t>(b))) {
      ++b;
      continue;
    }
    int end = b;
    while (end + 1 < 256 && set.has(static_cast<uint8_t>(end + 1))) ++end;
    out += byte_text(static_cast<uint8_t>(b));
    if (end > b) out += "-" + byte_text(static_cast<uint8_t>(end));
    b = end + 1;
  }
  return out + "]";
}

std::string count_text(uint32_t min, uint32_t max) {
  return max == kUnbounded ? fmt::format("{{{},}}", min) : fmt::format("{{{},{}}}", min, max);
}

}  // namespace

int decimal_digits(uint64_t magnitude) {
  int digits = 1;
  while (magnitude >= 10) {
    magnitude /= 10;
    ++digits;
  }
  return digits;
}

uint64_t shortest_integer_literal(int64_t lo, int64_t hi) {
  uint64_t best = kInfinite;
  if (hi >= 0)
    best = static_cast<uint64_t>(decimal_digits(static_cast<uint64_t>(std::max<int64_t>(lo, 0))));
  if (lo < 0) {  // the negative value nearest zero
    const int64_t nearest = std::min<int64_t>(hi, -1);
    const uint64_t magnitude = static_cast<uint64_t>(-(nearest + 1)) + 1;
    best = std::min<uint64_t>(best, 1 + static_cast<uint64_t>(decimal_digits(magnitude)));
  }
  return best;
}

uint64_t Grammar::element_min(const GrammarElement& e) const {
  switch (e.op) {
    case GrammarOp::kEnd:
      return 0;
    case GrammarOp::kByte:
      return 1;
    case GrammarOp::kByteRun:
    case GrammarOp::kString:
      return e.min;
    case GrammarOp::kInteger: {
      const IntegerRange& r = integer_ranges[e.arg];
      return shortest_integer_literal(r.lo, r.hi);
    }
    case GrammarOp::kRule:
      return rule_min[e.arg];
    case GrammarOp::kRepeat:
      return saturating_mul(e.min, rule_min[e.arg]);
  }
  return 0;
}

std::string Grammar::to_text() const {
  std::string out;
  for (uint32_t r = 0; r < rule_count(); ++r) {
    out += rule_names[r] + " ::=";
    for (uint32_t a = rule_offsets[r]; a < rule_offsets[r + 1]; ++a) {
      if (a > rule_offsets[r]) out += " |";
      bool empty = true;
      for (uint32_t i = alternatives[a]; elements[i].op != GrammarOp::kEnd; ++i) {
        const GrammarElement& e = elements[i];
        empty = false;
        out += ' ';
        switch (e.op) {
          case GrammarOp::kByte:
            out += set_text(byte_sets[e.arg]);
            break;
          case GrammarOp::kByteRun:
            out += set_text(byte_sets[e.arg]) + count_text(e.min, e.max);
            break;
          case GrammarOp::kString:
            out += "STRING" + count_text(e.min, e.max);
            break;
          case GrammarOp::kInteger:
            out +=
                fmt::format("INTEGER[{},{}]", integer_ranges[e.arg].lo, integer_ranges[e.arg].hi);
            break;
          case GrammarOp::kRule:
            out += rule_names[e.arg];
            break;
          case GrammarOp::kRepeat:
            out += "(" + rule_names[e.arg] + ")" + count_text(e.min, e.max);
            break;
          case GrammarOp::kEnd:
            break;
        }
      }
      if (empty) out += " \"\"";
    }
    out += '\n';
  }
  return out;
}

uint32_t GrammarBuilder::declare(std::string name) {
  names_.push_back(std::move(name));
  definitions_.emplace_back();
  defined_.push_back(false);
  return static_cast<uint32_t>(names_.size() - 1);
}

Status GrammarBuilder::define(uint32_t rule, const std::vector<Sequence>& alternatives) {
  if (rule >= definitions_.size()) {
    return make_error(ErrorCode::kInternal, "grammar: rule {} was never declared", rule);
  }
  if (defined_[rule])
    return make_error(ErrorCode::kInternal, "grammar: rule {} defined twice", names_[rule]);
  if (alternatives.size() > kMaxRuleAlternatives) {
    return make_error(ErrorCode::kOutOfRange, "{} has {} alternatives; at most {} are supported",
                      names_[rule], alternatives.size(), kMaxRuleAlternatives);
  }
  for (const Sequence& s : alternatives) element_count_ += s.size() + 1;
  if (element_count_ > kMaxGrammarElements || names_.size() > kMaxGrammarRules) {
    return make_error(
        ErrorCode::kOutOfRange,
        "the schema makes a grammar of more than {} elements or {} rules; simplify it (fewer or "
        "shorter enum values, fewer properties)",
        kMaxGrammarElements, kMaxGrammarRules);
  }
  definitions_[rule] = alternatives;
  defined_[rule] = true;
  return Status::ok();
}

uint32_t GrammarBuilder::intern(const ByteSet& set) {
  for (size_t i = 0; i < byte_sets_.size(); ++i) {
    if (byte_sets_[i] == set) return static_cast<uint32_t>(i);
  }
  byte_sets_.push_back(set);
  return static_cast<uint32_t>(byte_sets_.size() - 1);
}

GrammarElement GrammarBuilder::byte_of(const ByteSet& set) {
  return {GrammarOp::kByte, intern(set), 1, 1};
}

GrammarElement GrammarBuilder::byte_run(const ByteSet& set, uint32_t min, uint32_t max) {
  return {GrammarOp::kByteRun, intern(set), min, max};
}

GrammarElement GrammarBuilder::integer(int64_t lo, int64_t hi) {
  integer_ranges_.push_back({lo, hi});
  return {GrammarOp::kInteger, static_cast<uint32_t>(integer_ranges_.size() - 1), 0, 0};
}

GrammarElement GrammarBuilder::string_body(uint32_t min_chars, uint32_t max_chars) {
  return {GrammarOp::kString, 0, min_chars, max_chars};
}

GrammarElement GrammarBuilder::call(uint32_t rule) { return {GrammarOp::kRule, rule, 1, 1}; }

GrammarElement GrammarBuilder::repeat(uint32_t rule, uint32_t min, uint32_t max) {
  return {GrammarOp::kRepeat, rule, min, max};
}

void GrammarBuilder::append_literal(std::string_view text, Sequence& out) {
  for (char c : text) {
    ByteSet set;
    set.add(static_cast<uint8_t>(c));
    out.push_back(byte_of(set));
  }
}

Result<Grammar> GrammarBuilder::finish(uint32_t root) {
  Grammar g;
  const uint32_t n_rules = rule_count();
  if (root >= n_rules)
    return make_error(ErrorCode::kInternal, "grammar: root rule {} does not exist", root);
  for (uint32_t r = 0; r < n_rules; ++r) {
    if (!defined_[r])
      return make_error(ErrorCode::kInternal, "grammar: rule {} was declared but not defined",
                        names_[r]);
  }
  g.root = root;
  g.rule_names = names_;
  g.byte_sets = byte_sets_;
  g.integer_ranges = integer_ranges_;
  g.rule_offsets.push_back(0);
  for (uint32_t r = 0; r < n_rules; ++r) {
    for (const Sequence& s : definitions_[r]) {
      g.alternatives.push_back(static_cast<uint32_t>(g.elements.size()));
      for (const GrammarElement& e : s) {
        if ((e.op == GrammarOp::kRule || e.op == GrammarOp::kRepeat) && e.arg >= n_rules) {
          return make_error(ErrorCode::kInternal, "grammar: {} calls rule {}, which does not exist",
                            names_[r], e.arg);
        }
        if (e.op != GrammarOp::kRule && e.min > e.max) {
          return make_error(ErrorCode::kInvalidArgument,
                            "{}: a count range {}..{} has its minimum above its maximum", names_[r],
                            e.min, e.max);
        }
        g.elements.push_back(e);
      }
      g.elements.push_back({});
    }
    g.rule_offsets.push_back(static_cast<uint32_t>(g.alternatives.size()));
  }
  for (const IntegerRange& range : g.integer_ranges) {
    if (range.lo > range.hi) {
      return make_error(ErrorCode::kInvalidArgument, "an integer range [{}, {}] is empty", range.lo,
                        range.hi);
    }
  }
  definitions_.clear();  // the builder is spent

  // Fewest bytes per rule: Knuth's generalization of Dijkstra's algorithm to grammars. An
  // alternative's cost is known once every rule it needs is final; the cheapest known cost is
  // final.
  const size_t n_alts = g.alternatives.size();
  std::vector<uint32_t> owner(n_alts), pending(n_alts, 0);
  std::vector<std::vector<uint32_t>> users(n_rules);  // rule -> alternatives that need it
  for (uint32_t r = 0; r < n_rules; ++r) {
    for (uint32_t a = g.rule_offsets[r]; a < g.rule_offsets[r + 1]; ++a) {
      owner[a] = r;
      for (uint32_t i = g.alternatives[a]; g.elements[i].op != GrammarOp::kEnd; ++i) {
        const GrammarElement& e = g.elements[i];
        const bool needs = e.op == GrammarOp::kRule || (e.op == GrammarOp::kRepeat && e.min > 0);
        if (needs) {
          ++pending[a];
          users[e.arg].push_back(a);
        }
      }
    }
  }
  g.rule_min.assign(n_rules, kInfinite);
  std::vector<bool> final_rule(n_rules, false);
  using Candidate = std::pair<uint64_t, uint32_t>;  // cost, rule
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto alternative_cost = [&](uint32_t a) {
    uint64_t cost = 0;
    for (uint32_t i = g.alternatives[a]; g.elements[i].op != GrammarOp::kEnd; ++i) {
      cost = saturating_add(cost, g.element_min(g.elements[i]));
    }
    return cost;
  };
  for (uint32_t a = 0; a < n_alts; ++a) {
    if (pending[a] == 0) queue.push({alternative_cost(a), owner[a]});
  }
  while (!queue.empty()) {
    auto [cost, r] = queue.top();
    queue.pop();
    if (final_rule[r] || cost == kInfinite) continue;
    final_rule[r] = true;
    g.rule_min[r] = cost;
    for (uint32_t a : users[r]) {
      if (--pending[a] == 0) queue.push({alternative_cost(a), owner[a]});
    }
  }
  for (uint32_t r = 0; r < n_rules; ++r) {
    if (!final_rule[r]) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "{} can never be completed (every alternative needs itself, or needs more than can be "
          "written); no JSON value satisfies this part of the schema",
          names_[r]);
    }
  }
  g.rest_min.assign(g.elements.size(), 0);
  for (uint32_t a = 0; a < n_alts; ++a) {
    uint32_t end = g.alternatives[a];
    while (g.elements[end].op != GrammarOp::kEnd) ++end;
    uint64_t rest = 0;
    for (uint32_t i = end; i + 1 > g.alternatives[a]; --i) {
      rest = saturating_add(rest, g.element_min(g.elements[i]));
      g.rest_min[i] = rest;
      if (i == 0) break;
    }
  }

  // Left recursion (a rule reachable from itself before any byte) and repetitions of rules that
  // can match nothing would make GrammarState's closure loop forever.
  std::vector<std::vector<uint32_t>> first_calls(n_rules);
  for (uint32_t r = 0; r < n_rules; ++r) {
    for (uint32_t a = g.rule_offsets[r]; a < g.rule_offsets[r + 1]; ++a) {
      for (uint32_t i = g.alternatives[a]; g.elements[i].op != GrammarOp::kEnd; ++i) {
        const GrammarElement& e = g.elements[i];
        if (e.op == GrammarOp::kRepeat && g.rule_min[e.arg] == 0) {
          return make_error(ErrorCode::kInvalidArgument, "{} repeats {}, which can match nothing",
                            names_[r], names_[e.arg]);
        }
        if (e.op == GrammarOp::kRule || e.op == GrammarOp::kRepeat) first_calls[r].push_back(e.arg);
        if (g.element_min(e) > 0) break;
      }
    }
  }
  std::vector<uint8_t> color(n_rules, 0);  // 0 new, 1 on the path, 2 done
  std::vector<std::pair<uint32_t, size_t>> path;
  for (uint32_t start = 0; start < n_rules; ++start) {
    if (color[start] != 0) continue;
    path.push_back({start, 0});
    color[start] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == first_calls[r].size()) {
        color[r] = 2;
        path.pop_back();
        continue;
      }
      const uint32_t callee = first_calls[r][next++];
      if (color[callee] == 1) {
        return make_error(ErrorCode::kInvalidArgument,
                          "{} refers to itself before any text is written (left recursion, e.g. a "
                          "$ref cycle with "
                          "no object or array between)",
                          names_[callee]);
      }
      if (color[callee] == 0) {
        color[callee] = 1;
        path.push_back({callee, 0});
      }
    }
  }
  return g;
}

}  // namespace chimera::engine
