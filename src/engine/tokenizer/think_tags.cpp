#include "engine/tokenizer/think_tags.h"

#include <algorithm>

namespace chimera::engine {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

// Go's unicode.IsSpace for the ASCII range, which is what Qwen's whitespace tokens hold.
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

}  // namespace

ChannelText ThinkTags::feed(std::string_view text) {
  held_ += text;
  ChannelText out;
  for (;;) {
    switch (state_) {
      case State::kBeforeOpen: {
        const std::string_view rest = trim_left(held_);
        if (rest.starts_with(kOpen)) {
          held_.erase(0, held_.size() - rest.size() + kOpen.size());
          state_ = State::kOpenedSpace;
          continue;
        }
        if (kOpen.starts_with(rest)) return out;  // whitespace, or <think> cut short: wait
        state_ = State::kAnswer;  // no reasoning block: the answer, whitespace and all
        continue;
      }
      case State::kOpenedSpace:
      case State::kClosedSpace: {
        const std::string_view rest = trim_left(held_);
        held_.erase(0, held_.size() - rest.size());
        if (held_.empty()) return out;
        state_ = state_ == State::kOpenedSpace ? State::kThinking : State::kAnswer;
        continue;
      }
      case State::kThinking: {
        const size_t close = held_.find(kClose);
        if (close == std::string::npos) {
          const size_t emit = cut_marker_start(held_, {&kClose, 1});
          out.thinking.append(held_, 0, emit);
          held_.erase(0, emit);
          return out;
        }
        out.thinking.append(held_, 0, close);
        held_.erase(0, close + kClose.size());
        state_ = State::kClosedSpace;
        continue;
      }
      case State::kAnswer:
        out.content += held_;
        held_.clear();
        return out;
    }
  }
}

ChannelText ThinkTags::flush() {
  ChannelText out;
  // Held text is whitespace or a cut tag: before the block it was the answer's, inside the block
  // the reasoning's (a reply cut before </think> keeps its reasoning as reasoning).
  if (state_ == State::kThinking || state_ == State::kOpenedSpace) {
    out.thinking = std::move(held_);
  } else if (state_ == State::kBeforeOpen) {
    out.content = std::move(held_);
  }
  held_.clear();
  return out;
}

}  // namespace chimera::engine
