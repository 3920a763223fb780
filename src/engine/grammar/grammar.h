// src/engine/grammar/: constrained decoding, a compiler pipeline of its own: a JSON Schema becomes
// a Grammar (json_schema_compiler.h, json_grammar_rules.h), GrammarState follows it byte by byte
// (grammar_state.h), and grammar_mask.h turns the state into the set of tokens allowed next, using
// per-vocabulary tables built once (grammar_vocab.h). runtime/ and the server's scheduler call it
// through grammar_mask.h only; it knows nothing of sessions or batches.
//
// A context-free grammar over bytes, in the form constrained decoding runs: rules made of
// alternatives, each alternative a sequence of elements. The JSON Schema compiler
// (json_schema_compiler.h) builds one; GrammarState (grammar_state.h) follows it byte by byte; the
// token masks (grammar_mask.h) ask it which tokens may come next.
//
// Besides single bytes and rule calls there are three counted terminals, so that the common
// shapes of JSON need no rule per repetition and their state fits in a stack frame:
//  - kByteRun: min..max bytes of one byte set (whitespace, digits);
//  - kString:  the body of a JSON string, min..max characters, escapes and UTF-8 checked;
//  - kInteger: an integer literal whose value lies in [lo, hi] (JSON Schema minimum / maximum).
// Repetition of a rule (array items) is kRepeat with a count in the caller's frame.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace chimera::engine {

inline constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

enum class GrammarOp : uint8_t {
  kEnd,      // end of an alternative: return to the caller
  kByte,     // one byte of byte_sets[arg]
  kByteRun,  // min..max bytes, each of byte_sets[arg]
  kString,   // JSON string body, min..max characters (code points; an escape is one)
  kInteger,  // integer literal in integer_ranges[arg]
  kRule,     // call rule arg
  kRepeat,   // call rule arg min..max times
};

struct GrammarElement {
  GrammarOp op = GrammarOp::kEnd;
  uint32_t arg = 0;
  uint32_t min = 0;
  uint32_t max = 0;
};

// 256 bits, one per byte value.
struct ByteSet {
  std::array<uint64_t, 4> bits{};
  bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1u; }
  void add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void add_range(uint8_t first, uint8_t last) {
    for (int b = first; b <= last; ++b) add(static_cast<uint8_t>(b));
  }
  bool operator==(const ByteSet&) const = default;
};

struct IntegerRange {
  int64_t lo = 0, hi = 0;
};

// Limits that keep a hostile schema's grammar bounded in memory and in the work one byte costs.
inline constexpr size_t kMaxGrammarElements = 1u << 20;
inline constexpr size_t kMaxGrammarRules = 1u << 18;
inline constexpr size_t kMaxRuleAlternatives = 4096;

struct Grammar {
  std::vector<GrammarElement> elements;  // alternatives, each ended by kEnd
  std::vector<uint32_t> alternatives;    // start element of each alternative, grouped by rule
  std::vector<uint32_t> rule_offsets;    // rule r owns alternatives[rule_offsets[r], [r+1])
  std::vector<std::string> rule_names;   // for messages and debugging
  std::vector<ByteSet> byte_sets;
  std::vector<IntegerRange> integer_ranges;
  uint32_t root = 0;
  // Analysis: fewest bytes that complete an element's alternative from that element on, and
  // fewest bytes a rule can match (no rule is left without a finite one).
  std::vector<uint64_t> rest_min;
  std::vector<uint64_t> rule_min;

  uint32_t rule_count() const { return static_cast<uint32_t>(rule_offsets.size()) - 1; }
  // Fewest bytes one occurrence of element e matches.
  uint64_t element_min(const GrammarElement& e) const;
  // A GBNF-like listing, for tests and for reading what a schema became.
  std::string to_text() const;
};

// Builds a Grammar: declare rules first (so they can refer to each other), define each once.
class GrammarBuilder {
 public:
  using Sequence = std::vector<GrammarElement>;

  uint32_t declare(std::string name);
  // Fails when the rule was already defined or the limits are passed.
  Status define(uint32_t rule, const std::vector<Sequence>& alternatives);
  uint32_t rule_count() const { return static_cast<uint32_t>(definitions_.size()); }
  bool defined(uint32_t rule) const { return defined_[rule]; }
  const std::string& rule_name(uint32_t rule) const { return names_[rule]; }

  GrammarElement byte_of(const ByteSet& set);
  GrammarElement byte_run(const ByteSet& set, uint32_t min, uint32_t max);
  GrammarElement integer(int64_t lo, int64_t hi);
  static GrammarElement string_body(uint32_t min_chars, uint32_t max_chars);
  static GrammarElement call(uint32_t rule);
  static GrammarElement repeat(uint32_t rule, uint32_t min, uint32_t max);
  // One kByte element per byte of `text`, appended to `out`.
  void append_literal(std::string_view text, Sequence& out);

  // Checks and analyses: every rule defined, every rule able to match something finite, no rule
  // reachable from itself without consuming a byte (left recursion), no repetition of a rule that
  // can match nothing. Errors name the rule.
  Result<Grammar> finish(uint32_t root);

 private:
  uint32_t intern(const ByteSet& set);

  std::vector<std::string> names_;
  std::vector<std::vector<Sequence>> definitions_;
  std::vector<bool> defined_;
  std::vector<ByteSet> byte_sets_;
  std::vector<IntegerRange> integer_ranges_;
  size_t element_count_ = 0;
};

// Integer literals: digits of |v| (1 for 0); bytes of the shortest literal in [lo, hi].
int decimal_digits(uint64_t magnitude);
uint64_t shortest_integer_literal(int64_t lo, int64_t hi);

}  // namespace chimera::engine
