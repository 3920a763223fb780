// Clocks. Durations are int64 nanoseconds from the monotonic clock (`_ns` suffix); wall-clock time is
// only for labels (dates in reports, timestamps in the results store).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace chimera {

inline int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline int64_t unix_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double ns_to_ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }
inline double ns_to_s(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// "2026-11-26" in local time.
std::string today_iso_date();
// "2026-11-26T22:31:05Z" (UTC) for a unix time in ms.
std::string iso_timestamp_utc(int64_t unix_ms);
// "20261126-223105" (local time), for output directory names.
std::string compact_local_timestamp();

class Stopwatch {
 public:
  Stopwatch() : start_ns_(monotonic_ns()) {}
  void restart() { start_ns_ = monotonic_ns(); }
  int64_t elapsed_ns() const { return monotonic_ns() - start_ns_; }
  double elapsed_ms() const { return ns_to_ms(elapsed_ns()); }

 private:
  int64_t start_ns_;
};

}  // namespace chimera
