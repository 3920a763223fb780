#include <algorithm>

#include "engine/engine.h"
#include "util/strings.h"

namespace chimera::engine {

TextStreamer::TextStreamer(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });  // "" would match at once
}

std::string TextStreamer::push(int32_t token) {
  if (stopped_) return {};
  pending_ += tokenizer_.token_to_bytes(token);
  const size_t complete = utf8_complete_prefix(pending_);
  std::string_view ready(pending_.data(), complete);

  size_t match = std::string_view::npos;
  for (const auto& s : stop_) match = std::min(match, ready.find(s));
  if (match != std::string_view::npos) {
    std::string out(ready.substr(0, match));
    emitted_ += out;
    pending_.clear();
    stopped_ = true;
    return out;
  }
  // Hold back the longest tail that could still grow into a stop string.
  size_t hold = 0;
  for (const auto& s : stop_) {
    for (size_t len = std::min(s.size() - 1, ready.size()); len > hold; --len) {
      if (ready.substr(ready.size() - len) == std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  std::string out(ready.substr(0, complete - hold));
  pending_.erase(0, out.size());
  emitted_ += out;
  return out;
}

std::string TextStreamer::finish() {
  if (stopped_) return {};
  // Anything still held is not a stop string; a character cut off by the end becomes U+FFFD.
  size_t complete = utf8_complete_prefix(pending_);
  std::string out = pending_.substr(0, complete);
  if (complete < pending_.size()) out += "\xEF\xBF\xBD";
  pending_.clear();
  emitted_ += out;
  return out;
}

}  // namespace chimera::engine
