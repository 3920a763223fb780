// The space a `chimera tune` study searches: one axis per option, each a list of values, and the
// configurations they make (the grid), with the ones that are the same in effect collapsed.
//
// Values on the command line (`--param NAME=VALUES`):
//   1024,2048,4096      a list
//   1..4                an integer range, step 1 (1,2,3,4)
//   256..4096*2         a geometric range: multiply by 2 (256,512,...,4096)
//   0.2..1.0+0.2        a range with a step: add 0.2 (0.2,0.4,...,1.0); integer or float
// Names are Ollama's option names (kebab case accepted); `threads` is the embedded engine's name for
// num_thread.
//
// Knob classes (why the tuner treats options differently):
//   load      changes what the server loads (num_ctx, num_batch, num_gpu, num_thread, main_gpu,
//             use_mmap, use_mlock, numa, low_vram): Ollama reloads the model for a new value, so
//             the study runs each distinct load as one block of calls after a warm-up.
//   sampling  changes which tokens are drawn, not how fast (temperature, top_k, top_p, ...): with a
//             fixed output length it can change speed only through the sampler's own cost.
//   length    changes how much work a call does (num_predict, stop).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llm/types.h"
#include "util/status.h"

namespace chimera::lab {

enum class KnobClass { kLoad, kSampling, kLength };
std::string_view knob_class_name(KnobClass k);  // "load", "sampling", "length"
KnobClass knob_class(std::string_view option_name);

struct ParamAxis {
  std::string name;                 // Ollama's name: "num_ctx"
  std::vector<std::string> values;  // as Options::set takes them, in the order given
  KnobClass knob = KnobClass::kSampling;
  std::string given;                // the text as the user wrote it, for messages
};

// "NAME=VALUES"; errors name the item: unknown option, empty list, a range with step 0, a value
// the option does not accept.
Result<ParamAxis> parse_param(std::string_view assignment);
// VALUES alone, for study files: `values` as written (a list, a range).
Result<ParamAxis> parse_param_values(std::string_view name, std::string_view values);

// A named space: "tr108" (the prior system's grid: num_gpu {999,80,60,40} x num_ctx
// {1024,2048,4096} x temperature {0.2,0.4,0.8}) or "tr109" (its agent sweep: num_gpu {60,80,120} x
// num_ctx {256,512,1024} x temperature {0.6,0.8}).
Result<std::vector<ParamAxis>> preset_space(std::string_view name);
std::vector<std::string> preset_space_names();

// What the study knows about the model and backend, to tell which configurations are one.
struct SpaceFacts {
  bool cpu_only = false;                 // num_gpu has no effect at all
  std::optional<int64_t> layer_count;    // transformer blocks (GGUF block_count)
  std::optional<int64_t> context_length; // trained context: a larger num_ctx is lowered to it
  std::string layer_source;              // "GGUF block_count" / "/api/show model_info"
};

struct Configuration {
  std::string label;             // "c01", "c02", ... in grid order
  llm::Options options;          // what every call of it sends (the first of its equivalents)
  std::vector<std::string> assignments;  // "num_ctx=1024" per axis, in axis order
  // Other grid points that are the same in effect, with why: "num_gpu=80 (same as num_gpu=999:
  // every one of the 27 layers is offloaded either way)".
  std::vector<std::string> equivalents;
  std::string load_key;          // the load-class assignments: calls with one key share a load
};

// The grid (every combination, first axis slowest) with equivalent points collapsed. An axis with a
// repeated value is an error; so is an empty space.
Result<std::vector<Configuration>> expand_space(const std::vector<ParamAxis>& axes,
                                                const SpaceFacts& facts);

// The number of grid points before collapsing.
int64_t grid_size(const std::vector<ParamAxis>& axes);

}  // namespace chimera::lab
