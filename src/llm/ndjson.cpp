#include "llm/ndjson.h"

#include <fmt/format.h>

#include <cstring>

#include "util/strings.h"

namespace chimera::llm {
namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

bool NdjsonSplitter::emit(std::string_view line, int64_t start, const OnLine& on_line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (is_blank(line)) return true;
  ++lines_;
  line_offset_ = start;
  if (!on_line(line)) stopped_ = true;
  return !stopped_;
}

Status NdjsonSplitter::too_long() const {
  return make_error(ErrorCode::kParseError,
                    "NDJSON line {} (from body byte {}) is longer than {} bytes without a newline; "
                    "the stream is not newline-delimited JSON",
                    lines_ + 1, next_line_offset_, max_line_bytes_);
}

Status NdjsonSplitter::feed(std::string_view bytes, const OnLine& on_line) {
  if (stopped_) return Status::ok();
  while (!bytes.empty()) {
    const void* found = std::memchr(bytes.data(), '\n', bytes.size());
    if (found == nullptr) {
      if (partial_.size() + bytes.size() > max_line_bytes_) return too_long();
      partial_.append(bytes);
      fed_ += static_cast<int64_t>(bytes.size());
      return Status::ok();
    }
    size_t newline = static_cast<size_t>(static_cast<const char*>(found) - bytes.data());
    const int64_t start = next_line_offset_;
    fed_ += static_cast<int64_t>(newline + 1);
    next_line_offset_ = fed_;
    bool keep_going;
    if (partial_.empty()) {
      if (newline > max_line_bytes_) return too_long();
      keep_going = emit(bytes.substr(0, newline), start, on_line);
    } else {
      if (partial_.size() + newline > max_line_bytes_) return too_long();
      partial_.append(bytes.substr(0, newline));
      keep_going = emit(partial_, start, on_line);
      partial_.clear();
    }
    bytes.remove_prefix(newline + 1);
    if (!keep_going) return Status::ok();
  }
  return Status::ok();
}

Status NdjsonSplitter::finish(const OnLine& on_line) {
  if (stopped_ || partial_.empty()) return Status::ok();
  std::string last = std::move(partial_);
  partial_.clear();
  emit(last, next_line_offset_, on_line);
  return Status::ok();
}

std::string excerpt(std::string_view text, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else if (c >= 0x80) {
      // Messages are UTF-8 whatever the server sent: bytes that are not are shown as \xNN.
      int step = utf8_char_at(text, i);
      if (step > 0) {
        out.append(text.substr(i, static_cast<size_t>(step)));
        i += static_cast<size_t>(step);
      } else {
        for (int k = 0; k < -step; ++k) {
          out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i + k]));
        }
        i += static_cast<size_t>(-step);
      }
      continue;
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  if (i < text.size()) out += "...";
  return out;
}

Result<nlohmann::json> parse_json_line(std::string_view line, int64_t line_number) {
  try {
    return nlohmann::json::parse(line);
  } catch (
      const nlohmann::json::exception& e) {  // contained here: errors are values past this line
    return make_error(ErrorCode::kParseError, "line {} of the stream is not valid JSON ({}): {}",
                      line_number, e.what(), excerpt(line));
  }
}

}  // namespace chimera::llm
