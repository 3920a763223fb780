// A reply split into the model's reasoning and its answer, piece by piece as it streams. Two
// formats write reasoning: gpt-oss's harmony channels (harmony_channels.h) and Qwen 3's
// `<think>...</think>` block (think_tags.h); reasoning.h picks one for a model and a think
// setting. serve hands the reasoning to clients as Ollama `thinking` / OpenAI
// `reasoning_content`, generate prints it apart from the answer.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>

namespace chimera::engine {

struct ChannelText {
  std::string thinking;  // the reasoning
  std::string content;   // the answer
};

// Where a marker that `text` ends inside of would begin: the start of the longest suffix of `text`
// that is a proper prefix of one of `markers` (text.size() when there is none). A splitter holds
// that tail back until the next piece shows whether it is the marker.
inline size_t cut_marker_start(std::string_view text, std::span<const std::string_view> markers) {
  size_t longest = 0;
  for (std::string_view marker : markers) longest = std::max(longest, marker.size());
  for (size_t n = std::min(text.size(), longest - 1); n > 0; --n) {
    const std::string_view tail = text.substr(text.size() - n);
    for (std::string_view marker : markers) {
      if (marker.size() > n && marker.starts_with(tail)) return text.size() - n;
    }
  }
  return text.size();
}

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
