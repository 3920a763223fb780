// chimera tune: find the Chimera configuration on this machine and backend. A study of options
// (--param, --space, --study) measured with a fixed workload, searched by grid, random or race,
// ranked with ties, each option's effect estimated, every call stored so --resume continues it, and
// the winner written as a profile (--write-profile). --analyze reads an old sweep instead. The flags
// are wiring only; the work is lab::run_tune_session and agent::analyze_sweep_file.
#include <atomic>
#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "agent/sweep_analysis.h"
#include "agent/tune_files.h"
#include "agent/tune_workload.h"
#include "cli/cli_util.h"
#include "cli/command.h"
#include "lab/tune_report.h"
#include "lab/tune_session.h"
#include "llm/backend.h"
#include "util/json_text.h"
#include "util/clock.h"
#include "util/mapped_file.h"
#include "util/paths.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct TuneArgs {
  std::string backend, model, space, study_file, strategy = "grid", workload = "prompts", data;
  std::vector<std::string> params, objectives, constraints, prompts;
  std::string prompt_file, out = "tune", db, write_profile, profile_name = "chimera-tuned", analyze;
  int64_t budget = 0, num_predict = 64, timeout_s = 600;
  double retry_budget_s = 120;
  int repeat = 5, race_first = 2, warmup = 1;
  uint64_t seed = 42;
  double alpha = 0.05;
  int64_t resume = 0;
  bool json = false, no_store = false, no_hwmon = false, no_ignore_eos = false, dry_run = false;
  std::map<std::string, CLI::Option*> flags;
  bool given(const std::string& name) const { return flags.at(name)->count() > 0; }
};

std::atomic<bool> g_interrupted{false};

Status usage(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

// The study from the study file, then the flags (a flag given wins over the file).
Result<lab::StudySpec> build_spec(const TuneArgs& a) {
  lab::StudySpec spec;
  spec.name = "tune";
  if (!a.study_file.empty()) CHIMERA_RETURN_IF_ERROR(agent::load_study_file(a.study_file, spec));
  if (!a.backend.empty()) spec.backend = a.backend;
  if (!a.model.empty()) spec.model = a.model;
  if (spec.backend.empty()) {
    return usage("tune needs a backend: -b embedded:PATH.gguf, -b ollama://host:port/MODEL, -b "
                 "openai://host:port/MODEL (or backend = \"...\" in the study file)");
  }
  if (spec.model.empty()) {
    auto parsed = llm::parse_backend_spec(spec.backend);
    if (!parsed.ok()) return parsed.status();
    spec.model = parsed->model;
  }
  if (!a.space.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(spec.axes, lab::preset_space(a.space));
    spec.space = a.space;
  }
  for (const std::string& p : a.params) {
    CHIMERA_ASSIGN_OR_RETURN(lab::ParamAxis axis, lab::parse_param(p));
    spec.axes.push_back(std::move(axis));
  }
  if (a.given("--strategy") || a.study_file.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(spec.strategy, lab::parse_strategy(a.strategy));
  }
  if (a.given("--budget")) spec.budget = a.budget;
  if (a.given("--repeat")) spec.repeat = a.repeat;
  if (a.given("--race-first")) spec.race_first = a.race_first;
  if (a.given("--num-predict")) spec.num_predict = a.num_predict;
  if (a.given("--seed")) spec.seed = a.seed;
  if (a.given("--alpha")) spec.alpha = a.alpha;
  if (a.given("--warmup")) spec.warmup = a.warmup;
  if (a.given("--workload")) spec.workload = a.workload;
  if (a.given("--data")) spec.data_dir = a.data;
  if (a.given("--timeout")) spec.timeout_ms = a.timeout_s * 1000;
  if (a.given("--retry-budget")) spec.retry_budget_ms = static_cast<int64_t>(a.retry_budget_s * 1000);
  if (a.no_ignore_eos) spec.ignore_eos = false;
  if (!a.objectives.empty()) {
    spec.objectives.clear();
    for (const std::string& list : a.objectives) {
      for (const std::string& name : split(list, ',')) {
        CHIMERA_ASSIGN_OR_RETURN(lab::ObjectiveInfo o, lab::parse_objective(name));
        spec.objectives.push_back(o);
      }
    }
  }
  if (spec.objectives.empty()) spec.objectives = {*lab::parse_objective("decode_tps")};
  for (const std::string& text : a.constraints) {
    CHIMERA_ASSIGN_OR_RETURN(lab::Constraint c, lab::parse_constraint(text));
    spec.constraints.push_back(std::move(c));
  }
  if (!a.prompts.empty() || !a.prompt_file.empty()) spec.prompts = a.prompts;
  if (!a.prompt_file.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> more, read_prompt_file(a.prompt_file));
    spec.prompts.insert(spec.prompts.end(), more.begin(), more.end());
  }
  if (spec.prompts.empty()) spec.prompts = lab::default_tune_prompts();
  if (spec.workload == "agent" && spec.data_dir.empty()) spec.data_dir = "examples/data";
  if (spec.axes.empty()) {
    return usage("nothing to tune: give --param NAME=VALUES (repeatable, e.g. --param "
                 "num_thread=1,2 --param num_ctx=1024..4096*2) or --space tr108");
  }
  CHIMERA_RETURN_IF_ERROR(lab::validate_spec(spec));
  return spec;
}

Status write_outputs(const TuneArgs& a, const lab::TuneSessionResult& result, std::string* dir) {
  *dir = a.out + "/" +
         (result.study_id ? fmt::format("study-{}", *result.study_id) : compact_local_timestamp());
  CHIMERA_RETURN_IF_ERROR(ensure_directory(*dir));
  CHIMERA_RETURN_IF_ERROR(write_file_atomic(*dir + "/tune_report.md", lab::render_tune_markdown(result)));
  CHIMERA_RETURN_IF_ERROR(write_file_atomic(*dir + "/tune.html", lab::render_tune_html(result)));
  CHIMERA_RETURN_IF_ERROR(write_file_atomic(*dir + "/tune.json", json_text(lab::render_tune_json(result), 2) + "\n"));
  return Status::ok();
}

int run_analyze(const TuneArgs& a) {
  auto analysis = agent::analyze_sweep_file(a.analyze, a.alpha);
  if (!analysis.ok()) return report_error(analysis.status());
  std::string text = a.json ? json_text(agent::sweep_analysis_json(*analysis), 2) + "\n"
                            : agent::render_sweep_analysis(*analysis);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

void print_plan(const lab::StudySpec& spec, const std::vector<lab::Configuration>& configs,
                int64_t planned, std::optional<int64_t> study_id, FILE* out) {
  size_t collapsed = 0;
  for (const auto& c : configs) collapsed += c.equivalents.size();
  std::fprintf(out, "study %s: %zu configurations (%lld grid points, %zu the same in effect as another), "
               "strategy %s, objective %s, at most %lld measured calls\n",
               study_id ? std::to_string(*study_id).c_str() : "(not stored)", configs.size(),
               static_cast<long long>(configs.size() + collapsed), collapsed,
               std::string(lab::strategy_name(spec.strategy)).c_str(),
               std::string(spec.primary().name).c_str(), static_cast<long long>(planned));
  for (const auto& c : configs) {
    for (const auto& e : c.equivalents) std::fprintf(out, "  collapsed: %s\n", e.c_str());
  }
}

int run_tune(TuneArgs& a) {
  if (!a.analyze.empty()) return run_analyze(a);
  const std::string db_path = a.db.empty() ? lab::ResultsStore::default_path() : a.db;
  lab::TuneSessionOptions options;
  if (a.resume > 0) {
    if (a.no_store) return report_error(usage("--resume reads the study from the results database: drop --no-store"));
    auto store = lab::ResultsStore::open(db_path);
    if (!store.ok()) return report_error(store.status());
    auto stored = lab::load_study(**store, a.resume);
    if (!stored.ok()) return report_error(stored.status());
    if (stored->status == "completed") {
      std::fprintf(stderr, "chimera: study %lld is complete; its results are rebuilt from the store\n",
                   static_cast<long long>(a.resume));
    }
    if (!a.backend.empty() && a.backend != stored->spec.backend) {
      std::fprintf(stderr, "chimera: note: study %lld ran against %s; continuing with %s as asked\n",
                   static_cast<long long>(a.resume), stored->spec.backend.c_str(), a.backend.c_str());
      stored->spec.backend = a.backend;
    }
    int64_t measured = 0;
    for (const auto& c : stored->calls) measured += !c.meta.warmup;
    std::fprintf(stderr, "resuming study %lld: %lld measured calls already stored\n",
                 static_cast<long long>(a.resume), static_cast<long long>(measured));
    options.resume = std::move(*stored);
  } else {
    auto spec = build_spec(a);
    if (!spec.ok()) return report_error(spec.status());
    options.spec = std::move(*spec);
  }
  const lab::StudySpec& spec = options.resume ? options.resume->spec : options.spec;
  auto backend = llm::make_backend(spec.backend);
  if (!backend.ok()) return report_error(backend.status());

  // The agent workload: chimera run's analysis + report workflow on the data folder.
  std::optional<agent::AgentTuneWorkload> agent_workload;
  if (spec.workload == "agent") {
    auto ingest = agent::ingest_folder(spec.data_dir);
    if (!ingest.ok()) return report_error(ingest.status());
    agent::RunSettings settings;
    settings.model = spec.model;
    settings.seed = spec.seed;
    settings.analysis_num_predict = spec.num_predict;
    settings.report_num_predict = 2 * spec.num_predict;
    settings.today_iso = today_iso_date();
    settings.read_timeout_ms = spec.timeout_ms;
    settings.retry_budget_ms = spec.retry_budget_ms;
    options.workload = &agent_workload.emplace(std::move(*ingest), settings);
  }

  if (a.dry_run) {
    if (Status s = lab::check_backend_takes(**backend, spec.axes); !s.is_ok()) return report_error(s);
    bool synthetic = false;
    std::string label;
    lab::SpaceFacts facts = lab::space_facts(**backend, spec.model, &synthetic, &label);
    auto configs = lab::expand_space(spec.axes, facts);
    if (!configs.ok()) return report_error(configs.status());
    lab::PromptWorkload prompts(spec, spec.ignore_eos);
    lab::TuneWorkload& workload = options.workload ? *options.workload : prompts;
    lab::TuneStudy study(**backend, workload, spec, *configs);
    print_plan(spec, *configs, study.planned_calls(), std::nullopt, stdout);
    for (const auto& c : *configs) std::printf("  %s  %s\n", c.label.c_str(), lab::config_text(c).c_str());
    return kExitOk;
  }

  options.command_line = command_line_of_this_process("chimera tune");
  if (!a.no_store) options.db_path = db_path;
  options.monitor_hardware = !a.no_hwmon;
  options.monitor.server_port = local_server_port(spec.backend);
  options.should_stop = [] { return g_interrupted.load(); };
  FILE* info = a.json ? stderr : stdout;
  options.on_plan = [&](const lab::StudySpec& s, const std::vector<lab::Configuration>& configs,
                        int64_t planned, std::optional<int64_t> study_id) {
    print_plan(s, configs, planned, study_id, info);
  };
  std::optional<term::ProgressBar> progress;  // draws only on a terminal
  options.on_progress = [&](int64_t done, int64_t planned, const std::string& detail) {
    if (!progress) progress.emplace("tune", planned);
    progress->update(done, detail);
  };
  std::optional<lab::TuneSessionResult> result;
  {
    InterruptGuard guard(g_interrupted);
    auto r = lab::run_tune_session(**backend, options);
    if (progress) progress->finish();
    if (!r.ok()) return report_error(r.status());
    result = std::move(*r);
  }
  for (const std::string& w : result->warnings) std::fprintf(stderr, "chimera: warning: %s\n", w.c_str());
  if (a.json) {
    std::string text = json_text(lab::render_tune_json(*result), 2) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::string text = lab::render_tune_console(*result);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::string dir;
  if (Status s = write_outputs(a, *result, &dir); !s.is_ok()) return report_error(s);
  std::fprintf(info, "\nreports: %s/{tune_report.md,tune.html,tune.json}\n", dir.c_str());
  if (result->study_id) {
    std::fprintf(info, "results database: %s (study %lld%s)\n", result->db_path.c_str(),
                 static_cast<long long>(*result->study_id),
                 result->run.cancelled ? fmt::format("; continue it with chimera tune --resume {}", *result->study_id).c_str() : "");
  }
  if (!a.write_profile.empty() && !result->run.cancelled) {
    auto toml = agent::tuned_profile_toml(*result, a.profile_name);
    if (!toml.ok()) return report_error(toml.status());
    if (Status s = write_file_atomic(a.write_profile, *toml); !s.is_ok()) return report_error(s);
    std::fprintf(info, "profile: %s (use it with chimera run --chimera %s)\n", a.write_profile.c_str(),
                 a.write_profile.c_str());
  }
  std::fflush(stdout);
  if (result->run.cancelled) return 130;
  if (result->analysis.best.empty()) {
    return report_error(Status(ErrorCode::kUnavailable,
                               "no configuration could be ranked: every one failed, truncated the "
                               "prompt, broke a constraint or has fewer than 2 good samples (see "
                               "the table)"));
  }
  return kExitOk;
}

}  // namespace

void register_tune(CLI::App& app) {
  auto a = std::make_shared<TuneArgs>();
  auto* sub = app.add_subcommand(
      "tune", "Find the best configuration on this machine and backend: a study of options, "
              "ranked with ties, each option's effect measured, written as a profile");
  auto flag = [&](CLI::Option* o) { a->flags[o->get_name()] = o; };
  sub->add_option("-b,--backend", a->backend,
                  "embedded:PATH.gguf | ollama://host:port/MODEL | openai://host:port/MODEL | ollama:NAME:TAG");
  sub->add_option("-m,--model", a->model, "model name for server backends (overrides the spec's)");
  sub->add_option("--param", a->params,
                  "NAME=VALUES, repeatable: a list (1024,2048), a range (1..4), a geometric range "
                  "(256..4096*2) or a stepped one (0.2..1.0+0.2); Ollama option names");
  sub->add_option("--space", a->space, "a named space: tr108 (the prior system's grid) or tr109 (its agent sweep)");
  sub->add_option("--study", a->study_file, "a study file (TOML) holding the space and settings; flags win");
  flag(sub->add_option("--strategy", a->strategy, "grid | random | race")->capture_default_str());
  flag(sub->add_option("--budget", a->budget, "most measured calls to spend (random needs it)"));
  flag(sub->add_option("--repeat", a->repeat, "samples per configuration (race: at most)")->capture_default_str());
  flag(sub->add_option("--race-first", a->race_first, "race: samples per configuration in round 1")->capture_default_str());
  sub->add_option("--objective", a->objectives,
                  "decode_tps | prefill_tps | ttft | e2e | goodput (two give a Pareto front)");
  sub->add_option("--constraint", a->constraints, "e.g. \"ttft_p95<500ms\", \"rss<8GB\" (repeatable)");
  sub->add_option("-p,--prompt", a->prompts, "a prompt of the workload (repeatable)");
  sub->add_option("--prompt-file", a->prompt_file, "prompts, one per line, or JSONL {\"prompt\": ...}");
  flag(sub->add_option("--num-predict", a->num_predict, "tokens every call generates")->capture_default_str());
  sub->add_flag("--no-ignore-eos", a->no_ignore_eos, "let calls stop at end-of-sequence");
  flag(sub->add_option("--workload", a->workload,
                       "prompts | agent (chimera run's analysis + report calls on --data; caps "
                       "--num-predict and twice that)")
           ->capture_default_str());
  flag(sub->add_option("--data", a->data, "the data folder of --workload agent (default examples/data)"));
  flag(sub->add_option("--warmup", a->warmup, "warm-up calls before each block of one load")->capture_default_str());
  flag(sub->add_option("--seed", a->seed, "derives every call's seed")->capture_default_str());
  flag(sub->add_option("--alpha", a->alpha, "significance level of every test")->capture_default_str());
  flag(sub->add_option("--timeout", a->timeout_s, "seconds of silence before a call fails")->capture_default_str());
  flag(sub->add_option("--retry-budget", a->retry_budget_s,
                       "seconds a call may wait for a server answering 429/503 (loading) before it "
                       "fails; each wait is counted as a retry")
           ->capture_default_str());
  sub->add_option("--resume", a->resume, "continue study ID from the results database");
  sub->add_option("--analyze", a->analyze, "read an existing sweep (CSV or JSON) and say what it can support");
  sub->add_option("--out", a->out, "output folder; a study writes OUT/study-ID/")->capture_default_str();
  sub->add_option("--write-profile", a->write_profile, "write the best configuration as a profile (TOML)");
  sub->add_option("--profile-name", a->profile_name, "the written profile's name")->capture_default_str();
  sub->add_flag("--json", a->json, "print tune.json on stdout (the rest goes to stderr)");
  sub->add_flag("--dry-run", a->dry_run, "print the configurations and the plan, call nothing");
  sub->add_option("--db", a->db, "results database (default: data_dir()/results.db)");
  sub->add_flag("--no-store", a->no_store, "do not write the results database (the study cannot be resumed)");
  sub->add_flag("--no-hwmon", a->no_hwmon, "do not sample CPU and memory");
  sub->callback([a] { set_exit_code(run_tune(*a)); });
}

}  // namespace chimera::cli
