// Qwen 3 writes its reasoning first, between <think> and </think>, then the answer
// (engine-reference-models.md §6). ThinkTags splits them as Ollama's thinking parser does:
//  - whitespace before <think>, right after it and right after </think> is dropped;
//  - a reply that does not begin with <think> (after whitespace) is all answer, with its
//    whitespace as it is;
//  - a reply that never closes </think> (num_predict or the context cut it) is all reasoning:
//    nothing is lost, and streamed and collected replies split the same (flush gives what a cut
//    tag held back).
// Tags cut across pieces anywhere (`<thi` + `nk>`) are held until they resolve.
#pragma once

#include <string>
#include <string_view>

#include "engine/tokenizer/reply_splitter.h"

namespace chimera::engine {

class ThinkTags final : public ReplySplitter {
 public:
  ChannelText feed(std::string_view text) override;
  ChannelText flush() override;
  static ChannelText split(std::string_view text) { return ThinkTags().finish(text); }

 private:
  enum class State {
    kBeforeOpen,   // nothing but whitespace (or part of <think>) so far
    kOpenedSpace,  // after <think>: its leading whitespace is dropped
    kThinking,     // inside the block
    kClosedSpace,  // after </think>: the answer's leading whitespace is dropped
    kAnswer,       // the rest passes through
  };
  State state_ = State::kBeforeOpen;
  std::string held_;
};

}  // namespace chimera::engine
