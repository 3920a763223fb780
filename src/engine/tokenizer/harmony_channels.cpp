#include "engine/tokenizer/harmony_channels.h"

#include <algorithm>
#include <array>

namespace chimera::engine {
namespace {

constexpr std::string_view kMessage = "<|message|>";
constexpr std::string_view kChannel = "<|channel|>";
// Markers that close a message body (<|start|> too: a model may open the next message directly).
constexpr std::array<std::string_view, 4> kBodyEnds = {"<|end|>", "<|return|>", "<|call|>",
                                                       "<|start|>"};
// Longest header worth waiting for (`<|start|>assistant to=functions.NAME<|channel|>commentary
// json`); beyond it the text is not harmony markup.
constexpr size_t kMaxHeader = 256;

// Where a marker that `text` ends inside of would begin (npos when the tail cannot start one).
size_t partial_marker_start(std::string_view text) {
  const size_t lt = text.rfind('<');
  if (lt == std::string_view::npos) return std::string_view::npos;
  const std::string_view tail = text.substr(lt);
  for (std::string_view marker : {std::string_view("<|message|>"), std::string_view("<|end|>"),
                                  std::string_view("<|return|>"), std::string_view("<|call|>"),
                                  std::string_view("<|start|>"), std::string_view("<|channel|>")}) {
    if (tail.size() < marker.size() && marker.starts_with(tail)) return lt;
  }
  return std::string_view::npos;
}

}  // namespace

void HarmonyChannels::route(std::string_view text, ChannelText& out) const {
  (analysis_ ? out.thinking : out.content) += text;
}

ChannelText HarmonyChannels::feed(std::string_view text) {
  held_ += text;
  ChannelText out;
  for (;;) {
    if (mode_ == Mode::kHeader) {
      // A header starts where the held text starts; decided before looking for its end, so a
      // <|message|> later in plain text is not taken for one (the answer would then depend on
      // where the stream's pieces were cut).
      const bool may_be_header =
          held_.starts_with("<|") || std::string_view("<|").starts_with(held_);
      const size_t message = may_be_header ? held_.find(kMessage) : std::string::npos;
      if (message == std::string::npos) {
        if (may_be_header && held_.size() <= kMaxHeader) return out;  // wait for the rest
        mode_ = Mode::kBody;  // not markup: the answer as it is
        analysis_ = false;
        continue;
      }
      const std::string_view header = std::string_view(held_).substr(0, message);
      const size_t channel = header.find(kChannel);
      analysis_ = channel != std::string_view::npos &&
                  header.substr(channel + kChannel.size()).starts_with("analysis");
      held_.erase(0, message + kMessage.size());
      mode_ = Mode::kBody;
      continue;
    }
    size_t end = std::string::npos, end_size = 0;
    for (std::string_view marker : kBodyEnds) {
      const size_t at = held_.find(marker);
      if (at < end) {
        end = at;
        end_size = marker == "<|start|>" ? 0 : marker.size();  // <|start|> opens the next header
      }
    }
    if (end == std::string::npos) {
      const size_t keep = partial_marker_start(held_);
      const size_t emit = keep == std::string::npos ? held_.size() : keep;
      route(std::string_view(held_).substr(0, emit), out);
      held_.erase(0, emit);
      return out;
    }
    route(std::string_view(held_).substr(0, end), out);
    held_.erase(0, end + end_size);
    mode_ = Mode::kHeader;
  }
}

ChannelText HarmonyChannels::flush() {
  ChannelText out;
  if (mode_ == Mode::kBody)
    route(held_, out);
  else if (!held_.starts_with("<|"))
    out.content += held_;  // never markup
  held_.clear();
  return out;
}

}  // namespace chimera::engine
