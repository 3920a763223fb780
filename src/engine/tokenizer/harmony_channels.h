// gpt-oss replies in harmony messages (engine-reference-models.md §6):
// `<|channel|>analysis<|message|>{reasoning}<|end|><|start|>assistant<|channel|>final<|message|>
// {answer}` (then <|return|>, which ends generation). serve's chat endpoints hand the final (and
// commentary) channel to clients as the answer and the analysis channel as the reasoning (Ollama
// message.thinking, OpenAI reasoning_content), as Ollama and llama.cpp's server do; generate
// prints the answer and the reasoning apart. Text that is not harmony markup passes through as
// the answer.
#pragma once

#include <string>
#include <string_view>

#include "engine/tokenizer/reply_splitter.h"

namespace chimera::engine {

// thinking: the analysis channel; content: the final / commentary channels, or text outside any
// markup.
class HarmonyChannels final : public ReplySplitter {
 public:
  ChannelText feed(std::string_view text) override;
  ChannelText flush() override;
  // A whole reply at once.
  static ChannelText split(std::string_view text) { return HarmonyChannels().finish(text); }

 private:
  void route(std::string_view text, ChannelText& out) const;
  enum class Mode { kHeader, kBody };
  Mode mode_ = Mode::kHeader;
  bool analysis_ = false;
  std::string held_;
};

}  // namespace chimera::engine
