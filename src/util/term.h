// Output for people: TTY detection, NO_COLOR, and a progress bar that draws only on a terminal.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace chimera::term {

bool is_tty(FILE* stream);
// Colors only on a TTY, and never when NO_COLOR is set (https://no-color.org).
bool use_color(FILE* stream);

enum class Color { kDefault, kRed, kGreen, kYellow, kBlue, kCyan, kBold, kDim };
std::string colored(std::string_view text, Color color, FILE* stream = stdout);

// A one-line progress bar on stderr: "label [=====>    ] 12/40  eta 31 s  detail".
// Silent when stderr is not a terminal (logs stay clean); finish() clears the line.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  void update(int64_t done, std::string_view detail = {});
  void finish();

 private:
  std::string label_;
  int64_t total_;
  int64_t start_ns_;
  int64_t last_draw_ns_ = 0;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace chimera::term
