// chimera bench: measure a backend (prompt set x repetitions, optionally A/B or under load) with
// statistics, hardware monitoring and every call stored in the results database. The flags are
// wiring only; the work is lab::run_bench_session. `chimera bench engine` (llama-bench style) is
// registered here but implemented in cmd_bench_engine.cpp, and `chimera bench prefix` (the prompt
// cache) in cmd_bench_prefix.cpp.

#include <atomic>
#include <cstdio>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/command.h"
#include "cli/configured.h"
#include "lab/bench_output.h"
#include "lab/bench_session.h"
#include "llm/backend.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/mapped_file.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct BenchArgs {
  std::string backend, model, system, prompt_file, vs, db, equivalence;
  std::vector<std::string> prompts, stop;
  std::string concurrency, rate;
  int runs = 5, warmup = 1, requests = 0;
  uint64_t seed_base = 42;
  bool no_ignore_eos = false, json = false, csv = false, no_store = false, no_hwmon = false;
  bool no_gpu = false;
  int hw_interval_ms = 100;
  int64_t timeout_s = 600;
  double retry_budget_s = 120;
  std::map<std::string, std::string> option_values;  // Ollama name -> flag text
  std::map<std::string, CLI::Option*> option_flags;
  CLI::Option* vs_flag = nullptr;
};

// Ollama's option names as kebab-case flags (ARCHITECTURE.md, "Command-line surface").
constexpr std::pair<const char*, const char*> kOptionFlags[] = {
    {"--num-ctx", "num_ctx"},         {"--num-predict", "num_predict"},
    {"--num-batch", "num_batch"},     {"--num-thread", "num_thread"},
    {"--num-gpu", "num_gpu"},         {"--temperature", "temperature"},
    {"--top-k", "top_k"},             {"--top-p", "top_p"},
    {"--min-p", "min_p"},             {"--repeat-penalty", "repeat_penalty"},
    {"--repeat-last-n", "repeat_last_n"}, {"--seed", "seed"},
};

std::atomic<bool> g_interrupted{false};

Status usage(std::string message) { return Status(ErrorCode::kInvalidArgument, std::move(message)); }

template <typename T, typename Parse>
Result<std::vector<T>> parse_list(const std::string& flag, const std::string& text, Parse parse) {
  std::vector<T> out;
  for (const std::string& part : split(text, ',')) {
    auto v = parse(trim(part));
    if (!v || !(*v > 0)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "{} '{}': '{}' is not a positive number; give a list like 1,2,4,8", flag,
                        text, part);
    }
    out.push_back(static_cast<T>(*v));
  }
  return out;
}

Result<lab::BenchPlan> build_plan(const BenchArgs& a, const llm::BackendSpec& spec) {
  lab::BenchPlan plan;
  if (a.runs < 1) return usage(fmt::format("--runs {}: need at least 1", a.runs));
  if (a.warmup < 0) return usage(fmt::format("--warmup {}: cannot be negative", a.warmup));
  plan.runs = a.runs;
  plan.warmup = a.warmup;
  plan.prompts = a.prompts;
  if (!a.prompt_file.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(std::vector<std::string> more, read_prompt_file(a.prompt_file));
    plan.prompts.insert(plan.prompts.end(), more.begin(), more.end());
  }
  if (plan.prompts.empty()) {
    plan.prompts = {"Explain in one paragraph what a transformer's KV cache is and why it speeds up "
                    "generation."};
  }
  for (const auto& [name, flag] : a.option_flags) {
    if (flag->count() == 0) continue;
    Status s = plan.arm_a.set(name, a.option_values.at(name));
    if (!s.is_ok()) return usage(fmt::format("{}: {}", flag->get_name(), s.message()));
  }
  if (!a.stop.empty()) plan.arm_a.stop = a.stop;
  if (a.vs_flag != nullptr && a.vs_flag->count() > 0) {  // --vs "" is an A/A run
    auto vs = a.vs.empty() ? Result<llm::Options>(llm::Options{}) : llm::Options::parse(a.vs);
    if (!vs.ok()) return usage(fmt::format("--vs \"{}\": {}", a.vs, vs.status().message()));
    plan.vs = *vs;
  }
  plan.base.model = !a.model.empty() ? a.model : configured_model_for(spec);
  plan.base.system = a.system;
  plan.base.read_timeout_ms = a.timeout_s * 1000;
  if (!(a.retry_budget_s >= 0) || a.retry_budget_s > 86'400) {
    return usage(fmt::format("--retry-budget {}: give seconds from 0 (never retry) to 86400",
                             a.retry_budget_s));
  }
  plan.base.retry_budget_ms = static_cast<int64_t>(a.retry_budget_s * 1000);
  plan.seed_base = a.seed_base;
  plan.ignore_eos = !a.no_ignore_eos;
  plan.requests_per_level = a.requests;
  if (!a.concurrency.empty() && !a.rate.empty()) {
    return usage("--concurrency and --rate are two load modes (closed and open loop): give one");
  }
  if (!a.concurrency.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(plan.concurrency,
                             parse_list<int>("--concurrency", a.concurrency,
                                             [](std::string_view t) { return parse_int(t); }));
  }
  if (!a.rate.empty()) {
    CHIMERA_ASSIGN_OR_RETURN(plan.rates_rps,
                             parse_list<double>("--rate", a.rate,
                                                [](std::string_view t) { return parse_double(t); }));
  }
  if ((!plan.concurrency.empty() || !plan.rates_rps.empty()) &&
      spec.kind == llm::BackendSpec::Kind::kEmbedded) {
    return usage("--concurrency/--rate measure a server under load; the embedded engine runs one "
                 "request at a time here. Serve it (`chimera serve`) and bench "
                 "ollama://127.0.0.1:PORT/MODEL instead");
  }
  return plan;
}

int run_bench(BenchArgs& a) {
  if (a.backend.empty()) {
    return report_error(usage("bench needs a backend: -b embedded:PATH.gguf, "
                              "-b ollama://host:port/MODEL, -b openai://host:port/MODEL or "
                              "-b ollama:NAME:TAG"));
  }
  if (a.json && a.csv) return report_error(usage("--json and --csv both print to stdout: pick one"));
  auto spec = llm::parse_backend_spec(a.backend);
  if (!spec.ok()) return report_error(spec.status());
  auto plan = build_plan(a, *spec);
  if (!plan.ok()) return report_error(plan.status());
  auto backend = llm::make_backend(a.backend);
  if (!backend.ok()) return report_error(backend.status());

  lab::BenchSessionOptions options;
  if (!a.equivalence.empty()) {
    auto margin = lab::parse_equivalence_margin(a.equivalence);
    if (!margin.ok()) return report_error(usage(margin.status().message()));
    options.equivalence_margin = *margin;
  }
  options.backend_spec = a.backend;
  options.command_line = command_line_of_this_process("chimera bench");
  options.plan = std::move(*plan);
  if (!a.no_store) options.db_path = a.db.empty() ? lab::ResultsStore::default_path() : a.db;
  options.monitor_hardware = !a.no_hwmon;
  options.monitor.period_ms = std::max(a.hw_interval_ms, 10);
  options.monitor.gpu = !a.no_gpu;
  options.monitor.server_port = llm::local_server_port(a.backend);
  options.should_stop = [] { return g_interrupted.load(); };

  std::optional<term::ProgressBar> progress;  // draws only on a terminal
  options.on_progress = [&](int64_t done, int64_t total, const lab::MeasuredCall& call) {
    if (!progress) progress.emplace("bench", total);
    std::string detail = fmt::format("arm {}{}", call.meta.arm, call.meta.warmup ? " warm-up" : "");
    if (!call.record.ok) {
      detail += " failed: " + call.record.error;
    } else if (call.record.t_first_token_ns > 0) {
      detail += fmt::format("  ttft {:.0f} ms  {} tok",
                            ns_to_ms(call.record.t_first_token_ns - call.record.t_request_ns),
                            call.record.token_count);
    }
    progress->update(done, detail);
  };

  std::optional<InterruptGuard> guard(std::in_place, g_interrupted);
  auto result = lab::run_bench_session(**backend, options);
  guard.reset();
  if (progress) progress->finish();
  if (!result.ok()) return report_error(result.status());

  for (const std::string& w : result->store_warnings) std::fprintf(stderr, "chimera: warning: %s\n", w.c_str());
  const lab::BenchReport& report = result->report;
  if (a.json) {
    std::string text = json_text(lab::render_json(report, result->calls, result->samples), 2);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  } else if (a.csv) {
    std::string text = lab::render_csv(report, result->calls);
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::string text = lab::render_console(report, lab::ConsoleStyle{term::use_color(stdout)});
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::fflush(stdout);

  int64_t measured_ok = 0, measured = 0;
  std::string first_error;
  for (const lab::MeasuredCall& c : result->calls) {
    if (c.meta.warmup) continue;
    ++measured;
    measured_ok += c.record.ok;
    if (!c.record.ok && first_error.empty()) first_error = c.record.error;
  }
  if (measured > 0 && measured_ok == 0) {
    return report_error(Status(ErrorCode::kUnavailable,
                               fmt::format("every measured call failed ({} of {}); the first: {}",
                                           measured, measured, first_error)));
  }
  if (report.cancelled) return 130;  // interrupted: what completed was printed and stored
  return kExitOk;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  auto* sub = app.add_subcommand(
      "bench", "Measure a backend: prompts x runs -> TTFT, tok/s, ITL with statistics (A/B: --vs)");
  register_bench_engine(*sub);
  register_bench_prefix(*sub);
  auto* backend = sub->add_option("-b,--backend", args->backend,
                                  "embedded:PATH.gguf | ollama://host:port/MODEL | "
                                  "openai://host:port/MODEL | ollama:NAME:TAG");
  if (auto configured = configured_backend()) {
    args->backend = *configured;
    backend->default_str(*configured);
  }
  sub->add_option("-m,--model", args->model, "model name for server backends (overrides the spec's)");
  sub->add_option("-p,--prompt", args->prompts, "a prompt (repeatable)");
  sub->add_option("--prompt-file", args->prompt_file, "prompts, one per line, or JSONL {\"prompt\": ...}");
  sub->add_option("--system", args->system, "system prompt for every call");
  sub->add_option("--runs", args->runs, "measured runs per prompt and arm (default 5)");
  sub->add_option("--warmup", args->warmup, "warm-up calls per arm, excluded (default 1)");
  for (const auto& [flag, name] : kOptionFlags) {
    args->option_values[name] = "";
    args->option_flags[name] =
        sub->add_option(flag, args->option_values[name], fmt::format("Ollama option {}", name));
  }
  sub->add_option("--stop", args->stop, "stop string (repeatable)");
  args->vs_flag = sub->add_option(
      "--vs", args->vs,
      "second arm for an A/B run: \"temperature=0.2,num_ctx=1024\" (Ollama names); --vs \"\" runs "
      "an A/A check of the noise floor");
  sub->add_option("--equivalence", args->equivalence,
                  "equivalence margin for the A/B comparison, relative to A (\"5%\" or 0.05): adds "
                  "a TOST verdict per metric");
  sub->add_option("--concurrency", args->concurrency,
                  "closed-loop load: workers in flight, or a list to sweep (1,2,4,8); servers only");
  sub->add_option("--rate", args->rate, "open-loop load: Poisson arrivals per second (list allowed)");
  sub->add_option("--requests", args->requests,
                  "requests per load level (default runs x prompts, at least 4 x concurrency)");
  sub->add_option("--seed-base", args->seed_base,
                  "derives per-pair seeds and arrival times (default 42)");
  sub->add_flag("--no-ignore-eos", args->no_ignore_eos,
                "let calls stop at end-of-sequence even where the backend can ignore it");
  sub->add_option("--timeout", args->timeout_s, "longest silence tolerated in a call, seconds (600)");
  sub->add_option("--retry-budget", args->retry_budget_s,
                  "longest a call waits, in all, for a server answering 429 or 503 (rate limited, "
                  "or still loading its model) before it counts as failed, seconds; the retries "
                  "are reported (0: never retry)")
      ->capture_default_str();
  sub->add_flag("--json", args->json, "print one JSON document (every call and the statistics)");
  sub->add_flag("--csv", args->csv, "print one CSV table (calls, statistics, comparisons)");
  default_from_config(
      sub->add_option("--db", args->db, "results database (default: data_dir()/results.db)"),
      args->db, "db");
  sub->add_flag("--no-store", args->no_store, "do not write the results database");
  sub->add_flag("--no-hwmon", args->no_hwmon, "do not sample CPU, memory and GPU");
  sub->add_flag("--no-gpu", args->no_gpu, "do not probe NVIDIA GPUs");
  sub->add_option("--hw-interval-ms", args->hw_interval_ms, "hardware sampling period (default 100)");
  sub->callback([sub, args] {
    if (sub->got_subcommand("engine") || sub->got_subcommand("prefix")) return;  // a subcommand ran: not ours
    set_exit_code(run_bench(*args));
  });
}

}  // namespace chimera::cli
