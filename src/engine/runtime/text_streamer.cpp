#include <algorithm>

#include "engine/engine.h"

namespace chimera::engine {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;  // a continuation byte or a lead that can never start a valid character
}

// Whether byte i (1-based within the sequence) may follow `lead`: excludes overlongs, surrogates
// and code points above U+10FFFF (RFC 3629 table).
bool valid_continuation(unsigned char lead, int i, unsigned char byte) {
  if ((byte & 0xC0) != 0x80) return false;
  if (i != 1) return true;
  if (lead == 0xE0) return byte >= 0xA0;
  if (lead == 0xED) return byte <= 0x9F;
  if (lead == 0xF0) return byte >= 0x90;
  if (lead == 0xF4) return byte <= 0x8F;
  return true;
}

// Moves every complete character (or invalid byte, as U+FFFD) from `raw` to `out`; what stays in
// `raw` is the valid start of a character still missing bytes.
void decode_available(std::string& raw, std::string& out) {
  size_t i = 0;
  while (i < raw.size()) {
    const auto lead = static_cast<unsigned char>(raw[i]);
    const int len = sequence_length(lead);
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    int have = 1;
    while (have < len && i + static_cast<size_t>(have) < raw.size() &&
           valid_continuation(lead, have,
                              static_cast<unsigned char>(raw[i + static_cast<size_t>(have)]))) {
      ++have;
    }
    if (have == len) {
      out.append(raw, i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else if (i + static_cast<size_t>(have) == raw.size()) {
      break;  // incomplete so far: wait for more bytes
    } else {
      out += kReplacement;  // broken sequence: replace the lead, resume at the next byte
      ++i;
    }
  }
  raw.erase(0, i);
}

}  // namespace

TextStreamer::TextStreamer(const Tokenizer& tokenizer, std::vector<std::string> stop)
    : tokenizer_(tokenizer), stop_(std::move(stop)) {
  std::erase_if(stop_, [](const std::string& s) { return s.empty(); });  // "" would match at once
}

std::string TextStreamer::push(int32_t token) {
  if (stopped_) return {};
  raw_ += tokenizer_.token_to_bytes(token);
  decode_available(raw_, pending_);

  size_t match = std::string::npos;
  for (const auto& s : stop_) match = std::min(match, pending_.find(s));
  if (match != std::string::npos) {
    std::string out = pending_.substr(0, match);
    emitted_ += out;
    pending_.clear();
    raw_.clear();
    stopped_ = true;
    return out;
  }
  // Hold back the longest tail that could still grow into a stop string.
  size_t hold = 0;
  const std::string_view text(pending_);
  for (const auto& s : stop_) {
    for (size_t len = std::min(s.size() - 1, text.size()); len > hold; --len) {
      if (text.substr(text.size() - len) == std::string_view(s).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, out.size());
  emitted_ += out;
  return out;
}

std::string TextStreamer::finish() {
  if (stopped_) return {};
  // Anything still held is not a stop string; a character cut off by the end becomes U+FFFD.
  std::string out = std::move(pending_);
  if (!raw_.empty()) out += kReplacement;
  pending_.clear();
  raw_.clear();
  emitted_ += out;
  return out;
}

}  // namespace chimera::engine
