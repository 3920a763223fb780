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

namespace chimera::engine {

struct ChannelText {
  std::string thinking;  // analysis channel
  std::string content;   // final / commentary channels, or text outside any markup
};

class HarmonyChannels {
 public:
  // Splits the next piece of generated text. A piece that ends inside a marker is held until the
  // marker is complete (or turns out not to be one).
  ChannelText feed(std::string_view text);
  // What is still held, at the end of generation.
  ChannelText flush();
  // A whole reply at once.
  static ChannelText split(std::string_view text);

 private:
  void route(std::string_view text, ChannelText& out) const;
  enum class Mode { kHeader, kBody };
  Mode mode_ = Mode::kHeader;
  bool analysis_ = false;
  std::string held_;
};

}  // namespace chimera::engine
