// llama.cpp's llama-bench as a second runner for `chimera bench engine --llama-bench PATH`: one
// repetition per call on the same file, the same test and thread count, so the two tools' samples
// can be interleaved in the same minutes (a shared machine's speed drifts between minutes; two
// tools benchmarked an hour apart compare the hours as much as the tools). Nothing of llama.cpp
// is linked or shipped: the user names a binary they built.
#pragma once

#include <cstdint>
#include <string>

#include "util/status.h"

namespace chimera::cli {

struct LlamaBenchTest {
  std::string model;  // the GGUF file
  int n_prompt = 0;   // a pp test when > 0
  int n_gen = 0;      // a tg test when > 0
  int threads = 1;
  int n_batch = 512;  // passed as both -b and -ub, as chimera's one batch size
};

struct LlamaBenchSample {
  int64_t ns = 0;            // the repetition's time, as llama-bench measured it
  double tokens_per_s = 0;   // its t/s
  std::string build_commit;  // llama-bench's own description of its build
  int64_t build_number = 0;
};

// Checks that `path` is an executable file before anything is measured.
Status check_llama_bench(const std::string& path);

// Runs `path -m MODEL -p N -n M -t T -b B -ub B -r 1 -o json` (llama-bench loads the model and runs
// its own warm-up each call) and reads its one sample. Errors name the command, its exit status
// and the end of what it printed to stderr.
Result<LlamaBenchSample> run_llama_bench(const std::string& path, const LlamaBenchTest& test);

// The JSON llama-bench printed (-o json: an array of one object per test) as a sample; public for
// tests.
Result<LlamaBenchSample> parse_llama_bench_json(const std::string& text);

}  // namespace chimera::cli
