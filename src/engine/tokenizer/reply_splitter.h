// A reply split into the model's reasoning and its answer, piece by piece as it streams. Two
// formats write reasoning: gpt-oss's harmony channels (harmony_channels.h) and Qwen 3's
// `<think>...</think>` block (think_tags.h); reasoning.h picks one for a model and a think
// setting. serve hands the reasoning to clients as Ollama `thinking` / OpenAI
// `reasoning_content`, generate prints it apart from the answer.
#pragma once

#include <string>
#include <string_view>

namespace chimera::engine {

struct ChannelText {
  std::string thinking;  // the reasoning
  std::string content;   // the answer
};

class ReplySplitter {
 public:
  virtual ~ReplySplitter() = default;
  // Splits the next piece of generated text. A piece that ends inside a marker is held until the
  // marker is complete (or turns out not to be one).
  virtual ChannelText feed(std::string_view text) = 0;
  // What is still held, at the end of generation.
  virtual ChannelText flush() = 0;
  // A whole reply at once (on a splitter that has been fed nothing): feed then flush, so a
  // collected reply splits exactly as the same reply streamed.
  ChannelText finish(std::string_view text) {
    ChannelText out = feed(text);
    ChannelText rest = flush();
    out.thinking += rest.thinking;
    out.content += rest.content;
    return out;
  }
};

}  // namespace chimera::engine
