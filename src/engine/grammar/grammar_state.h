// Where a grammar stands after some bytes: every parse still possible, each a stack of frames
// (a nondeterministic pushdown automaton, as llama.cpp's grammar stacks). A stack's top frame is
// always a terminal (kByte, kByteRun, kString, kInteger) with its own small state; the frames
// below are where to return. `accepting` says the bytes so far are a complete match.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/grammar/grammar.h"
#include "util/status.h"

namespace chimera::engine {

struct GrammarFrame {
  uint32_t pos = 0;    // element index
  uint32_t count = 0;  // kByteRun / kString: bytes or characters so far; kRepeat: iterations
  bool operator==(const GrammarFrame&) const = default;
};

// The state of a terminal at the top of a stack that its frame cannot hold.
struct TerminalState {
  uint16_t sub = 0;    // kString: inside an escape or a UTF-8 character; kInteger: sign and digits
  uint64_t value = 0;  // kInteger: magnitude of the digits so far
  bool operator==(const TerminalState&) const = default;
};

// Bounds on a hostile schema's cost per byte: stacks deeper than kMaxStackDepth are dropped (the
// bytes that would need them are refused), more than kMaxStacks parses at once is an error.
inline constexpr size_t kMaxStackDepth = 1024;
inline constexpr size_t kMaxStacks = 4096;

class GrammarState {
 public:
  // The state before any byte: the root rule's alternatives, expanded down to terminals.
  static Result<GrammarState> initial(const Grammar& grammar);

  // Moves every parse over `byte` into `out` (cleared first). `out` has no stack and is not
  // accepting when no parse can take the byte. Fails only past kMaxStacks.
  Status advance(const Grammar& grammar, uint8_t byte, GrammarState& out) const;
  // A state holding only the listed stacks of this one (the token masks split stacks by kind).
  void keep_only(std::span<const size_t> indices, GrammarState& out) const;
  // Stack `index` (a kString top between characters) after `chars` more plain characters, with
  // every parse that opens: the string going on and, when long enough, the string ended. The masks
  // use it for the characters a token carries before its first special byte.
  Status after_plain_chars(const Grammar& grammar, size_t index, uint32_t chars,
                           GrammarState& out) const;

  size_t stack_count() const { return stacks_.size(); }
  bool accepting() const { return accepting_; }
  bool dead() const { return stacks_.empty() && !accepting_; }
  bool overflowed() const { return overflowed_; }
  std::span<const GrammarFrame> stack(size_t index) const;
  const GrammarFrame& top(size_t index) const { return stack(index).back(); }
  const TerminalState& terminal(size_t index) const { return stacks_[index].terminal; }
  // Fewest bytes that complete a match from here (0 when accepting); UINT64_MAX when dead.
  uint64_t min_bytes_to_complete(const Grammar& grammar) const;
  uint64_t stack_min_bytes(const Grammar& grammar, size_t index) const;
  void clear();

 private:
  struct StackRef {
    uint32_t offset = 0, size = 0;
    TerminalState terminal;
    uint64_t hash = 0;
  };
  // Expands `work` (a stack whose top may be a rule, a repetition or an end) until every parse has
  // a terminal on top, adding each to this state. Recursion is bounded by kMaxStackDepth (each
  // branch pushes a frame), total work by kMaxClosureSteps.
  Status close(const Grammar& grammar, std::vector<GrammarFrame>& work, TerminalState terminal);
  Status add(std::span<const GrammarFrame> frames, TerminalState terminal);

  std::vector<GrammarFrame> frames_;
  std::vector<StackRef> stacks_;
  bool accepting_ = false;
  bool overflowed_ = false;
  int closure_steps_ = 0;              // since clear(): bounds the work one byte may cost
  std::vector<GrammarFrame> scratch_;  // advance(): the stack being moved into this state
};

// The string-body terminal's byte steps, shared with the vocabulary index (grammar_vocab.h) so
// that a token's "plain" characters are judged exactly as GrammarState judges them.
namespace json_string {
inline constexpr uint16_t kBoundary = 0;  // between characters
// One byte of a JSON string body from `sub`: false when the byte cannot come here. Sets
// `completed` when the byte ends a character (one code point or one escape).
bool step(uint16_t sub, uint8_t byte, uint16_t& next, bool& completed);
// Bytes still needed to finish the character or escape begun in `sub`.
uint32_t pending_bytes(uint16_t sub);
// A byte that is a whole character by itself and needs no escape (printable ASCII but " and \).
inline bool plain_ascii(uint8_t b) { return b >= 0x20 && b < 0x80 && b != '"' && b != '\\'; }
}  // namespace json_string

namespace json_integer {
// kInteger steps over a range: sign, then digits; no leading zeros.
bool step(const IntegerRange& range, TerminalState state, uint8_t byte, TerminalState& next);
bool can_end(const IntegerRange& range, TerminalState state);
// Fewest more bytes that end a literal in range (0 when it may end now).
uint64_t pending_bytes(const IntegerRange& range, TerminalState state);
}  // namespace json_integer

}  // namespace chimera::engine
