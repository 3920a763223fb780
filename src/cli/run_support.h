// Helpers the commands that run agents share (chimera run, chimera agents).
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace chimera::cli {

// The command line as given (from /proc/self/cmdline), or `fallback`.
std::string command_line(std::string_view fallback);

// The gemma3-shaped dummy-weight model of `size` (270m, 1b, 4b), synthesized once into the cache
// directory. The real Gemma 3 vocabulary is used when it was fetched (scripts/fetch-vocab.sh), else
// a synthetic one.
Result<std::string> dummy_model(const std::string& size);

}  // namespace chimera::cli
