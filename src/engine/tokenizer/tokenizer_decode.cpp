// Decoding (engine-reference.md §4.1, §4.2): pieces back to bytes. SentencePiece pieces turn U+2581
// into spaces and <0xNN> into the raw byte; byte-level BPE pieces reverse bytes_to_unicode. Control
// and unknown tokens are rendered only when asked; user-defined tokens always render as their text.
#include "engine/tokenizer/tokenizer_impl.h"

namespace chimera::engine {

namespace {

using tokenizer_detail::TokenizerState;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "<0x0A>" -> 0x0A; -1 when the text is not a byte piece.
int parse_byte_piece(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int hi = hex_digit(text[3]);
  int lo = hex_digit(text[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

void append_spm_text(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
}

void append_byte_level_text(std::string_view text, std::string& out) {
  // Each code point of the piece stands for one byte; anything else is copied as it is.
  for (size_t i = 0; i < text.size();) {
    auto lead = static_cast<uint8_t>(text[i]);
    size_t len = std::min(tokenizer_detail::utf8_sequence_length(lead), text.size() - i);
    uint32_t cp = lead;
    if (len == 2) cp = ((lead & 0x1Fu) << 6) | (static_cast<uint8_t>(text[i + 1]) & 0x3Fu);
    int byte = len <= 2 ? tokenizer_detail::byte_from_code_point(cp) : -1;
    if (byte >= 0) {
      out.push_back(static_cast<char>(byte));
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
}

}  // namespace

void Tokenizer::append_token_bytes(int32_t token, bool render_special, std::string& out) const {
  const Impl& s = *impl_;
  if (token < 0 || token >= static_cast<int32_t>(s.vocab.tokens.size())) return;
  const std::string& text = s.vocab.tokens[static_cast<size_t>(token)];
  switch (s.types[static_cast<size_t>(token)]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      if (render_special) out.append(text);
      return;
    case TokenType::kUserDefined:
      out.append(text);
      return;
    case TokenType::kUnused:
      return;
    case TokenType::kByte:
      if (s.is_spm) {
        int byte = parse_byte_piece(text);
        if (byte >= 0) {
          out.push_back(static_cast<char>(byte));
          return;
        }
      }
      break;
    case TokenType::kNormal:
    case TokenType::kUndefined:
      break;
  }
  if (s.is_spm) {
    append_spm_text(text, out);
  } else {
    append_byte_level_text(text, out);
  }
}

std::string Tokenizer::token_to_bytes(int32_t token, bool render_special) const {
  std::string out;
  append_token_bytes(token, render_special, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> tokens, bool render_special) const {
  const Impl& s = *impl_;
  std::string out;
  out.reserve(tokens.size() * 4);
  // SentencePiece with add_space_prefix: the space the encoder put before the text is dropped from
  // the first piece (after a leading BOS), as SentencePiece's decoder does.
  bool strip_space = s.is_spm && s.vocab.add_space_prefix;
  for (size_t i = 0; i < tokens.size(); ++i) {
    size_t before = out.size();
    append_token_bytes(tokens[i], render_special, out);
    if (strip_space && !(i == 0 && tokens[i] == s.vocab.bos_id)) {
      if (out.size() > before && out[before] == ' ' &&
          token_type(tokens[i]) == TokenType::kNormal) {
        out.erase(before, 1);
      }
      strip_space = false;
    }
  }
  return out;
}

}  // namespace chimera::engine
