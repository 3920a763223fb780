// Where a call sat in a measurement run: which arm, which pair, which prompt, warm-up or not, under
// what load. Stored beside every CallRecord so a run can be re-analysed from the results store alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "llm/types.h"

namespace chimera::lab {

struct CallMeta {
  std::string arm = "A";       // "A" (baseline) or "B" (the --vs arm)
  int64_t seq = 0;             // issue order within the session, from 0
  int64_t pair_index = -1;     // A/B pair (same seed, same prompt); -1 in single-arm runs
  int64_t prompt_index = 0;
  int64_t repetition = 0;      // 0-based repetition of this prompt within the arm
  bool warmup = false;         // excluded from statistics
  int64_t concurrency = 1;     // closed-loop workers in flight (1 = sequential)
  std::optional<double> rate_rps;  // open-loop Poisson arrival rate, when that mode was used
  int64_t scheduled_offset_ns = 0; // open loop: planned send time after the level started
};

struct MeasuredCall {
  CallMeta meta;
  llm::CallRecord record;
};

}  // namespace chimera::lab
