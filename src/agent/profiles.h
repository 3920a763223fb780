// Profiles: a named option set for one arm of a run, read from TOML (profiles/*.toml).
//
//   name = "chimera-gemma3"
//   model_family = "gemma3"          # optional: the family the configuration was tuned for
//   [options]                        # Ollama's option names; absent = backend default
//   num_ctx = 4096                   # or "auto": prompt tokens + num_predict, rounded up to 256
//   [expected]                       # someone else's figures, printed as "expected" with the
//   source source = "Technical Report 108, section 4.3" decode_tps = 102.31              # metric
//   names of ARCHITECTURE.md; the unit follows the suffix ttft_s = 0.128
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/units.h"
#include "llm/types.h"
#include "util/status.h"

namespace chimera::agent {

struct ExpectedFigure {
  std::string metric;  // "decode_tps", "ttft_s", "ttft_ms", "prefill_tps", "load_ms"
  double value = 0;
  int decimals = 0;  // as written in the profile
  Unit unit;
  // [expected.ci95] metric = [lower, upper]: the 95% CI of a measured figure (chimera tune writes it).
  std::optional<std::pair<double, double>> ci95;
};

struct Profile {
  std::string name;
  std::string description;
  std::string model_family;  // "" when the profile applies to any model
  std::string origin;        // the file it was read from, or "built-in"
  llm::Options options;      // what is sent; num_ctx unset when num_ctx_auto
  bool num_ctx_auto = false;
  std::vector<ExpectedFigure> expected;
  std::string expected_source;
  // The option set actually sent once the prompt size is known (resolves num_ctx = "auto").
  llm::Options resolved_options(int64_t prompt_tokens, int64_t num_predict) const;
};

// Parses profile TOML; errors name the origin, the key and the value.
Result<Profile> parse_profile(std::string_view toml_text, const std::string& origin);
Result<Profile> load_profile_file(const std::string& path);

// A profile by path (anything ending in .toml or containing '/') or by name: ./profiles/NAME.toml,
// then $CHIMERA_PROFILES_DIR/NAME.toml, then the copies built into the binary (baseline,
// chimera-gemma3), so the main job runs from any directory.
Result<Profile> find_profile(const std::string& name_or_path);
// The folders find_profile looks in for NAME.toml, in order, before its built-in copies.
std::vector<std::string> profile_folders();

// The TOML text of a built-in profile, or nullopt.
std::optional<std::string_view> builtin_profile_text(std::string_view name);

// num_ctx = "auto": prompt tokens + num_predict, rounded up to a multiple of 256.
int64_t auto_num_ctx(int64_t prompt_tokens, int64_t num_predict);

}  // namespace chimera::agent
