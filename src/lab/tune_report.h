// A study's results for people and programs: the terminal table, tune_report.md, tune.json and the
// self-contained tune.html (per-option effect charts with CIs, configurations with CIs, the Pareto
// plot). Every figure says its provenance; ties are printed as ties, never as ranks decided by noise.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "lab/tune_session.h"

namespace chimera::lab {

// "num_thread=2 temperature=0.8"
std::string config_text(const Configuration& c);

// One line per option effect: "num_thread 2 vs 1: +15.2 tok/s (95% CI 14.6 to 15.8), p < 0.001:
// measurable" or "... : no measurable effect at this sample size (smallest detectable: 0.9 tok/s)".
std::vector<std::string> effect_lines(const OptionEffects& effects, double alpha);

std::string render_tune_console(const TuneSessionResult& result);
std::string render_tune_markdown(const TuneSessionResult& result);
nlohmann::json render_tune_json(const TuneSessionResult& result);
std::string render_tune_html(const TuneSessionResult& result);

}  // namespace chimera::lab
