#include "util/term.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "util/clock.h"

namespace chimera::term {

bool is_tty(FILE* stream) { return isatty(fileno(stream)) != 0; }

bool use_color(FILE* stream) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && no_color[0] != '\0') return false;
  return is_tty(stream);
}

std::string colored(std::string_view text, Color color, FILE* stream) {
  if (!use_color(stream) || color == Color::kDefault) return std::string(text);
  const char* code = "";
  switch (color) {
    case Color::kRed: code = "31"; break;
    case Color::kGreen: code = "32"; break;
    case Color::kYellow: code = "33"; break;
    case Color::kBlue: code = "34"; break;
    case Color::kCyan: code = "36"; break;
    case Color::kBold: code = "1"; break;
    case Color::kDim: code = "2"; break;
    case Color::kDefault: break;
  }
  return fmt::format("\x1b[{}m{}\x1b[0m", code, text);
}

ProgressBar::ProgressBar(std::string label, int64_t total)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), start_ns_(monotonic_ns()),
      enabled_(is_tty(stderr)) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, std::string_view detail) {
  if (!enabled_ || finished_) return;
  int64_t now = monotonic_ns();
  if (done < total_ && now - last_draw_ns_ < 100'000'000) return;  // at most 10 redraws per second
  last_draw_ns_ = now;
  constexpr int kWidth = 28;
  double frac = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::string eta;
  if (done > 0 && done < total_) {
    double elapsed_s = ns_to_s(now - start_ns_);
    eta = fmt::format("  eta {:.0f} s", elapsed_s / static_cast<double>(done) *
                                            static_cast<double>(total_ - done));
  }
  std::string line = fmt::format("{} [{}] {}/{}{}  {}", label_, bar, done, total_, eta, detail);
  if (line.size() > 118) line.resize(118);
  std::fprintf(stderr, "\r\x1b[2K%s", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\r\x1b[2K");
  std::fflush(stderr);
}

}  // namespace chimera::term
