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
// Every marker a piece may end inside of.
constexpr std::array<std::string_view, 6> kMarkers = {kMessage,     kChannel,     kBodyEnds[0],
                                                      kBodyEnds[1], kBodyEnds[2], kBodyEnds[3]};
// Longest header worth waiting for (`<|start|>assistant to=functions.NAME<|channel|>commentary
// json`); beyond it the text is not harmony markup.
constexpr size_t kMaxHeader = 256;

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
      const size_t emit = cut_marker_start(held_, kMarkers);
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
