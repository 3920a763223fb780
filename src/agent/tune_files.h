// The files around `chimera tune`: study files (TOML) in, Chimera profiles out.
//
// A study file holds what the flags hold, so a study can be kept and rerun:
//   name = "threads-and-context"
//   backend = "ollama://127.0.0.1:11434/gemma3:4b"   # -b on the command line wins
//   strategy = "race"                                # grid | random | race
//   repeat = 6                                       # samples per configuration (race: at most)
//   budget = 200                                     # measured calls
//   objective = ["decode_tps", "ttft"]               # or one string
//   constraints = ["ttft_p95<500ms", "rss<8GB"]
//   num_predict = 64
//   prompts = ["Explain ...", "Summarise ..."]
//   space = "tr108"                                  # a named space, or:
//   [params]
//   num_ctx = [1024, 2048, 4096]                     # a list
//   num_thread = "1..4"                              # or a range, as --param writes it
//   temperature = "0.2..1.0+0.2"
//
// The profile written for the winner carries its options and, as [expected], its measured means with
// their 95% CIs and where they come from: "measured by chimera tune, study N, <machine>, <date>".
#pragma once

#include <string>
#include <string_view>

#include "lab/tune_session.h"
#include "util/status.h"

namespace chimera::agent {

// Fills `spec` from a study file's TOML (keys not in the file are left as they are); errors name
// the file, the key and the value.
Status apply_study_file(std::string_view toml_text, const std::string& origin, lab::StudySpec& spec);
Status load_study_file(const std::string& path, lab::StudySpec& spec);

// The profile TOML for the best configuration of a finished study; kFailedPrecondition-like
// kUnavailable when nothing could be ranked.
Result<std::string> tuned_profile_toml(const lab::TuneSessionResult& result, const std::string& name);

}  // namespace chimera::agent
