#include "engine/grammar/grammar_state.h"

#include <algorithm>
#include <limits>

namespace chimera::engine {
namespace {

constexpr uint64_t kInfinite = std::numeric_limits<uint64_t>::max();
// Expansions one closure may make. Compiled schemas need a few per byte; a grammar that needs more
// is ambiguous in a way that would make every byte cost seconds.
constexpr int kMaxClosureSteps = 1 << 16;

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > kInfinite - b ? kInfinite : a + b; }

uint64_t hash_stack(std::span<const GrammarFrame> frames, const TerminalState& terminal) {
  uint64_t h = 1469598103934665603ull ^ terminal.sub ^ (terminal.value * 0x9E3779B97F4A7C15ull);
  for (const GrammarFrame& f : frames) {
    h = (h ^ f.pos) * 1099511628211ull;
    h = (h ^ f.count) * 1099511628211ull;
  }
  return h;
}

}  // namespace

namespace json_string {

// Sub-states: 1 after '\'; 2..5 in \uXXXX with 4..1 hex digits to come; 6 after "\uD" (the next
// digit must be 0-7: surrogates are refused, so every escape decodes to a character strict parsers
// accept); 10..16 inside a UTF-8 sequence (continuations left and the range the next byte must be
// in, RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
enum : uint16_t {
  kEscape = 1,
  kHex4 = 2,
  kHex3 = 3,
  kHex2 = 4,
  kHex1 = 5,
  kHex3NoSurrogate = 6,
  kUtf1 = 10,         // one continuation, 80..BF
  kUtf2 = 11,         // two, 80..BF
  kUtf2AfterE0 = 12,  // two, next A0..BF
  kUtf2AfterED = 13,  // two, next 80..9F
  kUtf3 = 14,         // three, 80..BF
  kUtf3AfterF0 = 15,  // three, next 90..BF
  kUtf3AfterF4 = 16,  // three, next 80..8F
};

bool is_hex(uint8_t b) {
  return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

bool step(uint16_t sub, uint8_t b, uint16_t& next, bool& completed) {
  completed = false;
  switch (sub) {
    case kBoundary:
      if (b == '\\') {
        next = kEscape;
        return true;
      }
      if (b < 0x80) {
        if (!plain_ascii(b)) return false;
        next = kBoundary;
        completed = true;
        return true;
      }
      if (b >= 0xC2 && b <= 0xDF)
        next = kUtf1;
      else if (b == 0xE0)
        next = kUtf2AfterE0;
      else if (b == 0xED)
        next = kUtf2AfterED;
      else if (b >= 0xE1 && b <= 0xEF)
        next = kUtf2;
      else if (b == 0xF0)
        next = kUtf3AfterF0;
      else if (b >= 0xF1 && b <= 0xF3)
        next = kUtf3;
      else if (b == 0xF4)
        next = kUtf3AfterF4;
      else
        return false;
      return true;
    case kEscape:
      if (b == 'u') {
        next = kHex4;
        return true;
      }
      if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' ||
          b == 't') {
        next = kBoundary;
        completed = true;
        return true;
      }
      return false;
    case kHex4:
      if (!is_hex(b)) return false;
      next = (b == 'd' || b == 'D') ? kHex3NoSurrogate : kHex3;
      return true;
    case kHex3NoSurrogate:
      if (b < '0' || b > '7') return false;
      next = kHex2;
      return true;
    case kHex3:
    case kHex2:
      if (!is_hex(b)) return false;
      next = static_cast<uint16_t>(sub + 1);
      return true;
    case kHex1:
      if (!is_hex(b)) return false;
      next = kBoundary;
      completed = true;
      return true;
    default:
      break;
  }
  uint8_t lo = 0x80, hi = 0xBF;
  if (sub == kUtf2AfterE0) lo = 0xA0;
  if (sub == kUtf2AfterED) hi = 0x9F;
  if (sub == kUtf3AfterF0) lo = 0x90;
  if (sub == kUtf3AfterF4) hi = 0x8F;
  if (b < lo || b > hi) return false;
  if (sub == kUtf1) {
    next = kBoundary;
    completed = true;
  } else if (sub >= kUtf3) {
    next = kUtf2;
  } else {
    next = kUtf1;
  }
  return true;
}

uint32_t pending_bytes(uint16_t sub) {
  switch (sub) {
    case kBoundary:
      return 0;
    case kEscape:
      return 1;
    case kHex4:
      return 4;
    case kHex3:
    case kHex3NoSurrogate:
      return 3;
    case kHex2:
      return 2;
    case kHex1:
      return 1;
    case kUtf1:
      return 1;
    case kUtf2:
    case kUtf2AfterE0:
    case kUtf2AfterED:
      return 2;
    default:
      return 3;
  }
}

}  // namespace json_string

namespace json_integer {
namespace {

// TerminalState.sub: bit 0 a character was read, bit 1 negative, bits 2.. the number of digits.
constexpr uint16_t kStarted = 1, kNegative = 2;
int digits_of(const TerminalState& s) { return s.sub >> 2; }
constexpr int kMaxDigits = 19;

__extension__ typedef unsigned __int128 Wide;  // magnitudes times powers of ten

// The magnitudes the range allows for one sign: [lo, hi]; empty when lo > hi.
struct Magnitudes {
  Wide lo = 1, hi = 0;
};
Magnitudes magnitudes(const IntegerRange& r, bool negative) {
  Magnitudes m;
  if (!negative) {
    if (r.hi < 0) return m;
    m.lo = static_cast<Wide>(std::max<int64_t>(r.lo, 0));
    m.hi = static_cast<Wide>(r.hi);
  } else {
    if (r.lo > -1) return m;
    auto magnitude = [](int64_t v) {
      return static_cast<Wide>(static_cast<uint64_t>(-(v + 1)) + 1);
    };
    m.lo = magnitude(std::min<int64_t>(r.hi, -1));
    m.hi = magnitude(r.lo);
  }
  return m;
}

Wide pow10(int j) {
  Wide p = 1;
  while (j-- > 0) p *= 10;
  return p;
}

// Fewest more digits after `value` (with `digits` digits) that reach an allowed magnitude; -1 when
// none can. A lone 0 takes no more digits.
int digits_to_reach(const Magnitudes& m, uint64_t value, int digits) {
  if (m.lo > m.hi) return -1;
  const int most = (digits == 1 && value == 0) ? 0 : kMaxDigits - digits;
  for (int j = 0; j <= most; ++j) {
    const Wide p = pow10(j);
    const Wide first = static_cast<Wide>(value) * p;
    const Wide last = (static_cast<Wide>(value) + 1) * p - 1;
    if (first <= m.hi && last >= m.lo) return j;
  }
  return -1;
}

}  // namespace

bool step(const IntegerRange& range, TerminalState s, uint8_t b, TerminalState& next) {
  const bool negative = s.sub & kNegative;
  const int digits = digits_of(s);
  if (!(s.sub & kStarted) && b == '-') {
    if (magnitudes(range, true).lo > magnitudes(range, true).hi) return false;
    next = {static_cast<uint16_t>(kStarted | kNegative), 0};
    return true;
  }
  if (b < '0' || b > '9' || digits >= kMaxDigits) return false;
  if (digits == 1 && s.value == 0) return false;          // no leading zeros
  if (digits == 0 && negative && b == '0') return false;  // no "-0"
  const uint64_t value = s.value * 10 + static_cast<uint64_t>(b - '0');
  if (digits_to_reach(magnitudes(range, negative), value, digits + 1) < 0) return false;
  next = {static_cast<uint16_t>(kStarted | (negative ? kNegative : 0) | ((digits + 1) << 2)),
          value};
  return true;
}

bool can_end(const IntegerRange& range, TerminalState s) {
  return digits_of(s) > 0 &&
         digits_to_reach(magnitudes(range, s.sub & kNegative), s.value, digits_of(s)) == 0;
}

uint64_t pending_bytes(const IntegerRange& range, TerminalState s) {
  if (!(s.sub & kStarted)) return shortest_integer_literal(range.lo, range.hi);
  const Magnitudes m = magnitudes(range, s.sub & kNegative);
  if (digits_of(s) == 0)
    return m.lo > m.hi ? kInfinite
                       : static_cast<uint64_t>(decimal_digits(static_cast<uint64_t>(m.lo)));
  const int more = digits_to_reach(m, s.value, digits_of(s));
  return more < 0 ? kInfinite : static_cast<uint64_t>(more);
}

}  // namespace json_integer

namespace {

bool integer_can_continue(const IntegerRange& range, TerminalState s) {
  TerminalState next;
  if (json_integer::step(range, s, '-', next)) return true;
  for (uint8_t d = '0'; d <= '9'; ++d) {
    if (json_integer::step(range, s, d, next)) return true;
  }
  return false;
}

}  // namespace

Result<GrammarState> GrammarState::initial(const Grammar& grammar) {
  GrammarState state;
  std::vector<GrammarFrame> work;
  const uint32_t root = grammar.root;
  for (uint32_t a = grammar.rule_offsets[root]; a < grammar.rule_offsets[root + 1]; ++a) {
    work.assign(1, GrammarFrame{grammar.alternatives[a], 0});
    CHIMERA_RETURN_IF_ERROR(state.close(grammar, work, {}));
  }
  return state;
}

void GrammarState::clear() {
  frames_.clear();
  stacks_.clear();
  accepting_ = false;
  overflowed_ = false;
  closure_steps_ = 0;
}

std::span<const GrammarFrame> GrammarState::stack(size_t index) const {
  const StackRef& s = stacks_[index];
  return {frames_.data() + s.offset, s.size};
}

Status GrammarState::add(std::span<const GrammarFrame> frames, TerminalState terminal) {
  const uint64_t h = hash_stack(frames, terminal);
  for (const StackRef& s : stacks_) {
    if (s.hash == h && s.terminal == terminal && s.size == frames.size() &&
        std::equal(frames.begin(), frames.end(), frames_.begin() + s.offset)) {
      return Status::ok();
    }
  }
  if (stacks_.size() >= kMaxStacks) {
    overflowed_ = true;
    return make_error(ErrorCode::kResourceExhausted,
                      "the schema is too ambiguous to follow: more than {} parses are open at once "
                      "(anyOf branches "
                      "that begin alike); make the branches differ early",
                      kMaxStacks);
  }
  stacks_.push_back(
      {static_cast<uint32_t>(frames_.size()), static_cast<uint32_t>(frames.size()), terminal, h});
  frames_.insert(frames_.end(), frames.begin(), frames.end());
  return Status::ok();
}

Status GrammarState::close(const Grammar& g, std::vector<GrammarFrame>& work,
                           TerminalState terminal) {
  for (;;) {
    if (++closure_steps_ > kMaxClosureSteps) {
      overflowed_ = true;
      return make_error(
          ErrorCode::kResourceExhausted,
          "the schema is too ambiguous to follow: one byte opens more than {} expansions",
          kMaxClosureSteps);
    }
    if (work.size() > kMaxStackDepth)
      return Status::ok();  // nested too deep: this parse is dropped
    GrammarFrame& top = work.back();
    const GrammarElement& e = g.elements[top.pos];
    switch (e.op) {
      case GrammarOp::kEnd:
        work.pop_back();
        if (work.empty()) {
          accepting_ = true;
          return Status::ok();
        }
        terminal = {};
        continue;
      case GrammarOp::kByte:
        return add(work, {});
      case GrammarOp::kByteRun:
        if (top.count < e.max) CHIMERA_RETURN_IF_ERROR(add(work, {}));
        if (top.count < e.min) return Status::ok();
        top = {top.pos + 1, 0};
        continue;
      case GrammarOp::kString:
        if (terminal.sub != json_string::kBoundary || top.count < e.max)
          CHIMERA_RETURN_IF_ERROR(add(work, terminal));
        if (terminal.sub != json_string::kBoundary || top.count < e.min) return Status::ok();
        top = {top.pos + 1, 0};
        terminal = {};
        continue;
      case GrammarOp::kInteger: {
        const IntegerRange& range = g.integer_ranges[e.arg];
        if (integer_can_continue(range, terminal)) CHIMERA_RETURN_IF_ERROR(add(work, terminal));
        if (!json_integer::can_end(range, terminal)) return Status::ok();
        top = {top.pos + 1, 0};
        terminal = {};
        continue;
      }
      case GrammarOp::kRule: {
        top = {top.pos + 1, 0};
        const uint32_t first = g.rule_offsets[e.arg], last = g.rule_offsets[e.arg + 1] - 1;
        for (uint32_t a = first; a < last; ++a) {
          std::vector<GrammarFrame> branch = work;
          branch.push_back({g.alternatives[a], 0});
          CHIMERA_RETURN_IF_ERROR(close(g, branch, {}));
        }
        work.push_back({g.alternatives[last], 0});
        continue;
      }
      case GrammarOp::kRepeat: {
        const uint32_t done = top.count, pos = top.pos;
        if (done < e.max) {
          for (uint32_t a = g.rule_offsets[e.arg]; a < g.rule_offsets[e.arg + 1]; ++a) {
            std::vector<GrammarFrame> branch = work;
            branch.back() = {pos, done + 1};
            branch.push_back({g.alternatives[a], 0});
            CHIMERA_RETURN_IF_ERROR(close(g, branch, {}));
          }
        }
        if (done < e.min) return Status::ok();
        work.back() = {pos + 1, 0};
        continue;
      }
    }
  }
}

Status GrammarState::advance(const Grammar& g, uint8_t byte, GrammarState& out) const {
  out.clear();
  for (size_t i = 0; i < stacks_.size(); ++i) {
    const std::span<const GrammarFrame> frames = stack(i);
    const GrammarFrame& top = frames.back();
    const GrammarElement& e = g.elements[top.pos];
    TerminalState next;
    GrammarFrame moved = top;
    switch (e.op) {
      case GrammarOp::kByte:
        if (!g.byte_sets[e.arg].has(byte)) continue;
        moved = {top.pos + 1, 0};
        break;
      case GrammarOp::kByteRun:
        if (!g.byte_sets[e.arg].has(byte) || top.count >= e.max) continue;
        ++moved.count;
        break;
      case GrammarOp::kString: {
        const uint16_t sub = stacks_[i].terminal.sub;
        if (sub == json_string::kBoundary && top.count >= e.max) continue;
        bool completed = false;
        if (!json_string::step(sub, byte, next.sub, completed)) continue;
        moved.count += completed ? 1 : 0;
        break;
      }
      case GrammarOp::kInteger:
        if (!json_integer::step(g.integer_ranges[e.arg], stacks_[i].terminal, byte, next)) continue;
        break;
      default:
        return make_error(ErrorCode::kInternal, "grammar state: a stack has no terminal on top");
    }
    out.scratch_.assign(frames.begin(), frames.end());
    out.scratch_.back() = moved;
    CHIMERA_RETURN_IF_ERROR(out.close(g, out.scratch_, next));
  }
  return Status::ok();
}

void GrammarState::keep_only(std::span<const size_t> indices, GrammarState& out) const {
  out.clear();
  for (size_t index : indices) {
    const std::span<const GrammarFrame> frames = stack(index);
    out.stacks_.push_back({static_cast<uint32_t>(out.frames_.size()),
                           static_cast<uint32_t>(frames.size()), stacks_[index].terminal,
                           stacks_[index].hash});
    out.frames_.insert(out.frames_.end(), frames.begin(), frames.end());
  }
}

Status GrammarState::after_plain_chars(const Grammar& g, size_t index, uint32_t chars,
                                       GrammarState& out) const {
  out.clear();
  const std::span<const GrammarFrame> frames = stack(index);
  out.scratch_.assign(frames.begin(), frames.end());
  GrammarFrame& top = out.scratch_.back();
  top.count = top.count > kUnbounded - chars ? kUnbounded : top.count + chars;
  return out.close(g, out.scratch_, stacks_[index].terminal);
}

uint64_t GrammarState::stack_min_bytes(const Grammar& g, size_t index) const {
  const std::span<const GrammarFrame> frames = stack(index);
  const GrammarFrame& top = frames.back();
  const GrammarElement& e = g.elements[top.pos];
  const TerminalState& t = stacks_[index].terminal;
  uint64_t total = g.rest_min[top.pos + 1];
  switch (e.op) {
    case GrammarOp::kByte:
      total = saturating_add(total, 1);
      break;
    case GrammarOp::kByteRun:
      total = saturating_add(total, top.count < e.min ? e.min - top.count : 0);
      break;
    case GrammarOp::kString: {
      const uint32_t counted = top.count + (t.sub != json_string::kBoundary ? 1 : 0);
      total = saturating_add(total, json_string::pending_bytes(t.sub));
      total = saturating_add(total, counted < e.min ? e.min - counted : 0);
      break;
    }
    case GrammarOp::kInteger:
      total = saturating_add(total, json_integer::pending_bytes(g.integer_ranges[e.arg], t));
      break;
    default:
      break;
  }
  for (size_t f = 0; f + 1 < frames.size(); ++f) {
    const GrammarFrame& frame = frames[f];
    const GrammarElement& caller = g.elements[frame.pos];
    if (caller.op == GrammarOp::kRepeat) {
      const uint64_t left = frame.count < caller.min ? caller.min - frame.count : 0;
      const uint64_t rule = g.rule_min[caller.arg];
      total = saturating_add(total, left != 0 && rule > kInfinite / left ? kInfinite : left * rule);
      total = saturating_add(total, g.rest_min[frame.pos + 1]);
    } else {
      total = saturating_add(total, g.rest_min[frame.pos]);
    }
  }
  return total;
}

uint64_t GrammarState::min_bytes_to_complete(const Grammar& g) const {
  if (accepting_) return 0;
  uint64_t best = kInfinite;
  for (size_t i = 0; i < stacks_.size(); ++i) best = std::min(best, stack_min_bytes(g, i));
  return best;
}

}  // namespace chimera::engine
