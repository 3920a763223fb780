#include "engine/grammar/json_grammar_rules.h"

#include <fmt/format.h>

#include <algorithm>

namespace chimera::engine {
namespace {

using Sequence = GrammarBuilder::Sequence;

ByteSet set_of(std::string_view bytes) {
  ByteSet set;
  for (char c : bytes) set.add(static_cast<uint8_t>(c));
  return set;
}

ByteSet range_of(uint8_t lo, uint8_t hi) {
  ByteSet set;
  set.add_range(lo, hi);
  return set;
}

const ByteSet& hex_digits() {
  static const ByteSet set = [] {
    ByteSet s = range_of('0', '9');
    s.add_range('a', 'f');
    s.add_range('A', 'F');
    return s;
  }();
  return set;
}

size_t common_prefix(std::string_view a, std::string_view b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

}  // namespace

Result<uint32_t> JsonRules::define_new(std::string name,
                                       const std::vector<Sequence>& alternatives) {
  const uint32_t rule = b_.declare(std::move(name));
  CHIMERA_RETURN_IF_ERROR(b_.define(rule, alternatives));
  return rule;
}

void JsonRules::digits(uint32_t min, uint32_t max, Sequence& out) {
  out.push_back(b_.byte_run(range_of('0', '9'), min, max));
}

void JsonRules::byte_range(uint8_t lo, uint8_t hi, Sequence& out) {
  out.push_back(b_.byte_of(range_of(lo, hi)));
}

Result<GrammarElement> JsonRules::ws() {
  if (!ws_) {
    Sequence newline;
    literal("\n", newline);
    newline.push_back(b_.byte_run(set_of(" \t"), 0, 20));
    Sequence space;
    literal(" ", space);
    CHIMERA_ASSIGN_OR_RETURN(ws_, define_new("ws", {{}, space, newline}));
  }
  return GrammarBuilder::call(*ws_);
}

Result<GrammarElement> JsonRules::any_value() {
  if (!value_) {
    value_ = b_.declare("value");
    std::vector<Sequence> alternatives;
    CHIMERA_ASSIGN_OR_RETURN(auto object, any_object());
    CHIMERA_ASSIGN_OR_RETURN(auto array, any_array());
    CHIMERA_ASSIGN_OR_RETURN(auto string, any_string());
    CHIMERA_ASSIGN_OR_RETURN(auto num, number());
    CHIMERA_ASSIGN_OR_RETURN(auto boolean_value, boolean());
    CHIMERA_ASSIGN_OR_RETURN(auto null_value, null());
    CHIMERA_RETURN_IF_ERROR(
        b_.define(*value_, {{object}, {array}, {string}, {num}, {boolean_value}, {null_value}}));
  }
  return GrammarBuilder::call(*value_);
}

Status JsonRules::define_list(uint32_t rule, std::string_view open, std::string_view close,
                              const Sequence& item) {
  CHIMERA_ASSIGN_OR_RETURN(auto space, ws());
  Sequence next;
  literal(",", next);
  next.push_back(space);
  next.insert(next.end(), item.begin(), item.end());
  CHIMERA_ASSIGN_OR_RETURN(uint32_t next_rule, define_new(b_.rule_name(rule) + "-next", {next}));
  Sequence empty, full;
  literal(open, empty);
  empty.push_back(space);
  full = empty;
  literal(close, empty);
  full.insert(full.end(), item.begin(), item.end());
  full.push_back(GrammarBuilder::repeat(next_rule, 0, kUnbounded));
  literal(close, full);
  return b_.define(rule, {empty, full});
}

Result<GrammarBuilder::Sequence> JsonRules::member(GrammarElement value) {
  CHIMERA_ASSIGN_OR_RETURN(auto space, ws());
  CHIMERA_ASSIGN_OR_RETURN(auto key, any_string());
  Sequence m = {key, space};
  literal(":", m);
  m.insert(m.end(), {space, value, space});
  return m;
}

Result<GrammarElement> JsonRules::any_object() {
  if (!object_) {
    object_ = b_.declare("object");
    CHIMERA_ASSIGN_OR_RETURN(auto value, any_value());
    CHIMERA_ASSIGN_OR_RETURN(Sequence item, member(value));
    CHIMERA_RETURN_IF_ERROR(define_list(*object_, "{", "}", item));
  }
  return GrammarBuilder::call(*object_);
}

Result<GrammarElement> JsonRules::any_array() {
  if (!array_) {
    array_ = b_.declare("array");
    CHIMERA_ASSIGN_OR_RETURN(auto value, any_value());
    CHIMERA_ASSIGN_OR_RETURN(auto space, ws());
    CHIMERA_RETURN_IF_ERROR(define_list(*array_, "[", "]", {value, space}));
  }
  return GrammarBuilder::call(*array_);
}

Result<GrammarElement> JsonRules::any_string() {
  if (!string_) {
    Sequence s;
    literal("\"", s);
    s.push_back(GrammarBuilder::string_body(0, kUnbounded));
    literal("\"", s);
    CHIMERA_ASSIGN_OR_RETURN(string_, define_new("string", {s}));
  }
  return GrammarBuilder::call(*string_);
}

Result<GrammarElement> JsonRules::string(uint32_t min_chars, uint32_t max_chars) {
  Sequence s;
  literal("\"", s);
  s.push_back(GrammarBuilder::string_body(min_chars, max_chars));
  literal("\"", s);
  const std::string name = max_chars == kUnbounded
                               ? fmt::format("string{{{},}}", min_chars)
                               : fmt::format("string{{{},{}}}", min_chars, max_chars);
  CHIMERA_ASSIGN_OR_RETURN(uint32_t rule, define_new(name, {s}));
  return GrammarBuilder::call(rule);
}

Result<GrammarElement> JsonRules::number() {
  if (!number_) {
    Sequence nonzero;
    byte_range('1', '9', nonzero);
    digits(0, 15, nonzero);
    Sequence zero;
    literal("0", zero);
    CHIMERA_ASSIGN_OR_RETURN(uint32_t integral, define_new("number-integral", {zero, nonzero}));
    Sequence fraction;
    literal(".", fraction);
    digits(1, 15, fraction);
    CHIMERA_ASSIGN_OR_RETURN(uint32_t fraction_rule, define_new("number-fraction", {{}, fraction}));
    // Exponents of two digits at most: 1e999 overflows a double, and strict readers refuse it.
    Sequence exponent = {b_.byte_of(set_of("eE")), b_.byte_run(set_of("+-"), 0, 1)};
    digits(1, 2, exponent);
    CHIMERA_ASSIGN_OR_RETURN(uint32_t exponent_rule, define_new("number-exponent", {{}, exponent}));
    Sequence n = {b_.byte_run(set_of("-"), 0, 1), GrammarBuilder::call(integral),
                  GrammarBuilder::call(fraction_rule), GrammarBuilder::call(exponent_rule)};
    CHIMERA_ASSIGN_OR_RETURN(number_, define_new("number", {n}));
  }
  return GrammarBuilder::call(*number_);
}

Result<GrammarElement> JsonRules::boolean() {
  if (!boolean_) {
    Sequence t, f;
    literal("true", t);
    literal("false", f);
    CHIMERA_ASSIGN_OR_RETURN(boolean_, define_new("boolean", {t, f}));
  }
  return GrammarBuilder::call(*boolean_);
}

Result<GrammarElement> JsonRules::null() {
  if (!null_) {
    Sequence n;
    literal("null", n);
    CHIMERA_ASSIGN_OR_RETURN(null_, define_new("null", {n}));
  }
  return GrammarBuilder::call(*null_);
}

const std::vector<std::string_view>& JsonRules::supported_formats() {
  static const std::vector<std::string_view> kFormats = {"date", "time", "date-time", "uuid"};
  return kFormats;
}

Result<uint32_t> JsonRules::two_digit_rule(std::string name,
                                           const std::vector<std::string_view>& choices) {
  // Each choice is two bytes: a first digit and a range "a-b" of second digits, e.g. "0:1-9".
  std::vector<Sequence> alternatives;
  for (std::string_view choice : choices) {
    Sequence s;
    literal(choice.substr(0, 1), s);
    byte_range(static_cast<uint8_t>(choice[2]), static_cast<uint8_t>(choice[4]), s);
    alternatives.push_back(std::move(s));
  }
  return define_new(std::move(name), alternatives);
}

Result<std::optional<GrammarElement>> JsonRules::formatted_string(std::string_view format) {
  // RFC 3339 full-date (only real dates: no Feb 29, so no leap-year arithmetic), full-time
  // (a zone required) and date-time; RFC 4122 UUIDs.
  std::optional<uint32_t>* slot = format == "date"        ? &date_
                                  : format == "time"      ? &time_
                                  : format == "date-time" ? &date_time_
                                  : format == "uuid"      ? &uuid_
                                                          : nullptr;
  if (slot == nullptr) return std::optional<GrammarElement>();
  if (*slot) return std::optional<GrammarElement>(GrammarBuilder::call(**slot));
  Sequence body;
  literal("\"", body);
  if (format == "uuid") {
    for (int group : {8, 4, 4, 4, 12}) {
      if (group != 8) literal("-", body);
      body.push_back(
          b_.byte_run(hex_digits(), static_cast<uint32_t>(group), static_cast<uint32_t>(group)));
    }
  }
  if (format == "date" || format == "date-time") {
    if (!date_rule_) {
      CHIMERA_ASSIGN_OR_RETURN(uint32_t any_month, two_digit_rule("month", {"0:1-9", "1:0-2"}));
      CHIMERA_ASSIGN_OR_RETURN(uint32_t long_month,
                               two_digit_rule("month-not-february", {"0:1-1", "0:3-9", "1:0-2"}));
      Sequence month31_a, month31_b, month31_c;
      literal("0", month31_a);
      month31_a.push_back(b_.byte_of(set_of("13578")));
      literal("1", month31_b);
      month31_b.push_back(b_.byte_of(set_of("02")));
      CHIMERA_ASSIGN_OR_RETURN(uint32_t month31,
                               define_new("month-of-31-days", {month31_a, month31_b}));
      CHIMERA_ASSIGN_OR_RETURN(uint32_t day28,
                               two_digit_rule("day-1-28", {"0:1-9", "1:0-9", "2:0-8"}));
      Sequence common = {GrammarBuilder::call(any_month)},
               thirty = {GrammarBuilder::call(long_month)}, last = {GrammarBuilder::call(month31)};
      literal("-", common);
      common.push_back(GrammarBuilder::call(day28));
      CHIMERA_ASSIGN_OR_RETURN(uint32_t day29_30, two_digit_rule("day-29-30", {"2:9-9", "3:0-0"}));
      literal("-", thirty);
      thirty.push_back(GrammarBuilder::call(day29_30));
      literal("-31", last);
      CHIMERA_ASSIGN_OR_RETURN(uint32_t month_day, define_new("month-day", {common, thirty, last}));
      Sequence date;
      byte_range('1', '9', date);
      digits(3, 3, date);
      literal("-", date);
      date.push_back(GrammarBuilder::call(month_day));
      CHIMERA_ASSIGN_OR_RETURN(date_rule_, define_new("full-date", {date}));
    }
    body.push_back(GrammarBuilder::call(*date_rule_));
    if (format == "date-time") literal("T", body);
  }
  if (format == "time" || format == "date-time") {
    if (!time_rule_) {
      CHIMERA_ASSIGN_OR_RETURN(uint32_t hour, two_digit_rule("hour", {"0:0-9", "1:0-9", "2:0-3"}));
      CHIMERA_ASSIGN_OR_RETURN(
          uint32_t minute,
          two_digit_rule("minute", {"0:0-9", "1:0-9", "2:0-9", "3:0-9", "4:0-9", "5:0-9"}));
      Sequence fraction;
      literal(".", fraction);
      digits(1, 9, fraction);
      CHIMERA_ASSIGN_OR_RETURN(uint32_t fraction_rule, define_new("time-fraction", {{}, fraction}));
      Sequence offset = {b_.byte_of(set_of("+-")), GrammarBuilder::call(hour)};
      literal(":", offset);
      offset.push_back(GrammarBuilder::call(minute));
      Sequence zulu;
      literal("Z", zulu);
      CHIMERA_ASSIGN_OR_RETURN(uint32_t zone, define_new("time-zone", {zulu, offset}));
      Sequence time = {GrammarBuilder::call(hour)};
      literal(":", time);
      time.push_back(GrammarBuilder::call(minute));
      literal(":", time);
      time.insert(time.end(), {GrammarBuilder::call(minute), GrammarBuilder::call(fraction_rule),
                               GrammarBuilder::call(zone)});
      CHIMERA_ASSIGN_OR_RETURN(time_rule_, define_new("full-time", {time}));
    }
    body.push_back(GrammarBuilder::call(*time_rule_));
  }
  literal("\"", body);
  CHIMERA_ASSIGN_OR_RETURN(uint32_t rule, define_new("string-" + std::string(format), {body}));
  *slot = rule;
  return std::optional<GrammarElement>(GrammarBuilder::call(rule));
}

Result<GrammarElement> JsonRules::one_of_literals(std::vector<std::string> literals,
                                                  const std::string& name) {
  std::sort(literals.begin(), literals.end());
  literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
  if (literals.empty())
    return make_error(ErrorCode::kInvalidArgument, "{}: no value is allowed", name);
  // A byte trie walked without recursion: each node that branches (or where a literal ends)
  // becomes a rule; single-child runs become literal bytes in the parent's alternative.
  struct Node {
    uint32_t rule;
    size_t lo, hi, depth;  // literals[lo, hi) share their first `depth` bytes
  };
  std::vector<Node> work = {{b_.declare(name), 0, literals.size(), 0}};
  const uint32_t top = work.front().rule;
  int counter = 0;
  while (!work.empty()) {
    Node node = work.back();
    work.pop_back();
    std::vector<Sequence> alternatives;
    size_t i = node.lo;
    if (literals[i].size() == node.depth) {  // sorted: a literal ending here comes first
      alternatives.emplace_back();
      ++i;
    }
    while (i < node.hi) {
      size_t j = i + 1;
      while (j < node.hi && literals[j][node.depth] == literals[i][node.depth]) ++j;
      const size_t shared = common_prefix(literals[i], literals[j - 1]);
      Sequence s;
      literal(std::string_view(literals[i]).substr(node.depth, shared - node.depth), s);
      if (!(j - i == 1 && literals[i].size() == shared)) {
        const uint32_t child = b_.declare(fmt::format("{}/{}", name, ++counter));
        s.push_back(GrammarBuilder::call(child));
        work.push_back({child, i, j, shared});
      }
      alternatives.push_back(std::move(s));
      i = j;
    }
    CHIMERA_RETURN_IF_ERROR(b_.define(node.rule, alternatives));
  }
  return GrammarBuilder::call(top);
}

}  // namespace chimera::engine
