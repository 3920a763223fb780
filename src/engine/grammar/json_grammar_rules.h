// The rules every JSON grammar shares (whitespace, any value, strings, numbers, the string formats,
// literal sets), declared on first use in one GrammarBuilder. Internal to the JSON Schema compiler.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/grammar/grammar.h"

namespace chimera::engine {

// Integers a schema leaves unbounded stay within +-(2^53 - 1): every JSON reader (JavaScript's
// included) reads them exactly (RFC 7493, I-JSON).
inline constexpr int64_t kSafeIntegerMax = 9007199254740991;

class JsonRules {
 public:
  explicit JsonRules(GrammarBuilder& builder) : b_(builder) {}

  // Whitespace between tokens: nothing, one space, or a newline and up to 20 spaces or tabs, so
  // that pretty-printed output is possible and a model cannot pad forever.
  Result<GrammarElement> ws();
  Result<GrammarElement> any_value();
  Result<GrammarElement> any_object();
  Result<GrammarElement> any_array();
  Result<GrammarElement> any_string();
  Result<GrammarElement> number();
  Result<GrammarElement> boolean();
  Result<GrammarElement> null();
  // "\"" body "\"" with min..max characters.
  Result<GrammarElement> string(uint32_t min_chars, uint32_t max_chars);
  // A string in one of the formats supported (date, time, date-time, uuid); nullopt for others.
  Result<std::optional<GrammarElement>> formatted_string(std::string_view format);
  static const std::vector<std::string_view>& supported_formats();
  // open ws (item ("," ws item)*)? close, defining the declared `rule`; items end with their
  // whitespace.
  Status define_list(uint32_t rule, std::string_view open, std::string_view close,
                     const GrammarBuilder::Sequence& item);
  // An object member with any key: string ws ":" ws value ws.
  Result<GrammarBuilder::Sequence> member(GrammarElement value);
  // Exactly one of the given byte strings (enum / const: canonical JSON texts), as rules that
  // share prefixes, so a large enum costs one rule per branching point, not one stack per value.
  Result<GrammarElement> one_of_literals(std::vector<std::string> literals,
                                         const std::string& name);

 private:
  Result<uint32_t> define_new(std::string name,
                              const std::vector<GrammarBuilder::Sequence>& alternatives);
  void digits(uint32_t min, uint32_t max, GrammarBuilder::Sequence& out);
  void byte_range(uint8_t lo, uint8_t hi, GrammarBuilder::Sequence& out);
  void literal(std::string_view text, GrammarBuilder::Sequence& out) {
    b_.append_literal(text, out);
  }
  Result<uint32_t> two_digit_rule(std::string name, const std::vector<std::string_view>& choices);

  GrammarBuilder& b_;
  std::optional<uint32_t> ws_, value_, object_, array_, string_, number_, boolean_, null_;
  std::optional<uint32_t> date_, time_, date_time_, uuid_, date_rule_, time_rule_;
};

}  // namespace chimera::engine
