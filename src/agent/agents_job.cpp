#include "agent/agents_job.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>

#include "agent/agents_outputs.h"
#include "agent/spawned_servers.h"
#include "lab/bench_session.h"
#include "lab/store.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

namespace fs = std::filesystem;

void say(const AgentsJob& job, const std::string& line) {
  if (job.say) job.say(line);
}

bool cancelled(const AgentsJob& job) { return job.cancelled && job.cancelled(); }

// The model the spawned servers serve, and the name they serve it under.
struct ServeModel {
  std::string source;  // PATH.gguf or ollama:NAME:TAG
  std::string name;    // what requests name
};

Result<ServeModel> serve_model_from_spec(const std::string& spec_text) {
  CHIMERA_ASSIGN_OR_RETURN(llm::BackendSpec spec, llm::parse_backend_spec(spec_text));
  if (spec.kind != llm::BackendSpec::Kind::kEmbedded) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--spawn serves a model file, but --backend {} is a server; give "
                      "--backend embedded:PATH.gguf (or ollama:NAME:TAG) with --spawn, or drop "
                      "--spawn to use that server",
                      spec_text);
  }
  ServeModel m;
  m.source = spec.location;
  m.name = starts_with(spec.location, "ollama:") ? spec.location.substr(7)
                                                 : fs::path(spec.location).stem().string();
  return m;
}

std::string model_label_of(const BackendChoice& choice, const std::string& spec_text) {
  if (!choice.model.empty()) return choice.model;
  auto spec = llm::parse_backend_spec(spec_text);
  if (spec.ok() && !spec->model.empty()) return spec->model;
  if (spec.ok() && spec->kind == llm::BackendSpec::Kind::kEmbedded) {
    return starts_with(spec->location, "ollama:") ? spec->location.substr(7)
                                                  : fs::path(spec->location).filename().string();
  }
  return spec_text;
}

// The endpoint specs the agents call, starting spawned servers when asked.
struct Endpoints {
  std::vector<std::string> specs;
  std::unique_ptr<SpawnedServers> spawned;
};

Result<Endpoints> open_endpoints(const AgentsJob& job, AgentsRun& run) {
  Endpoints out;
  if (job.spawn <= 0 && !job.backends.empty()) {
    out.specs = job.backends;
    run.choice.spec = job.backends.front();
    run.choice.reason = job.backends.size() == 1
                            ? "given with --backend"
                            : fmt::format("{} endpoints given with --backend", job.backends.size());
    for (const auto& spec_text : job.backends) {
      CHIMERA_ASSIGN_OR_RETURN(llm::BackendSpec spec, llm::parse_backend_spec(spec_text));
      if (spec.kind != llm::BackendSpec::Kind::kEmbedded && spec.model.empty() &&
          job.model.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--backend {} names no model; write {}/MODEL or pass --model", spec_text,
                          spec_text);
      }
    }
    if (!job.model.empty()) {
      // --model fills in the endpoints that name none.
      for (auto& s : out.specs) {
        auto spec = llm::parse_backend_spec(s);
        if (spec.ok() && spec->kind != llm::BackendSpec::Kind::kEmbedded && spec->model.empty()) {
          while (!s.empty() && s.back() == '/') s.pop_back();
          s += "/" + job.model;
        }
      }
    }
    return out;
  }
  if (job.spawn <= 0) {
    CHIMERA_ASSIGN_OR_RETURN(run.choice, choose_backend("auto", job.model, job.probes));
    out.specs = {run.choice.spec};
    return out;
  }
  // --spawn: a model file for `chimera serve`, chosen as chimera run chooses one (a running Ollama
  // server cannot be spawned, so only the store and the dummy-weight model are candidates).
  ServeModel model;
  if (!job.backends.empty()) {
    if (job.backends.size() > 1) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--spawn {} starts its own servers; give at most one --backend (the model "
                        "file they serve), not {}",
                        job.spawn, job.backends.size());
    }
    CHIMERA_ASSIGN_OR_RETURN(model, serve_model_from_spec(job.backends.front()));
    run.choice.spec = job.backends.front();
    run.choice.reason = "given with --backend, served by the spawned servers";
  } else {
    BackendProbes probes = job.probes;
    probes.list_server_models = nullptr;
    CHIMERA_ASSIGN_OR_RETURN(run.choice, choose_backend("auto", job.model, probes));
    CHIMERA_ASSIGN_OR_RETURN(model, serve_model_from_spec(run.choice.spec));
    run.choice.reason += fmt::format("; served here by {} spawned chimera serve", job.spawn);
  }
  if (job.exe.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--spawn needs the chimera binary's path");
  }
  SpawnOptions so;
  so.exe = job.exe;
  so.model = model.name + "=" + model.source;
  so.count = job.spawn;
  int most_agents = 1;
  for (int n : job.agent_counts) most_agents = std::max(most_agents, n);
  so.parallel = job.spawn_parallel > 0 ? job.spawn_parallel
                                       : std::max(1, (most_agents + job.spawn - 1) / job.spawn);
  so.ctx = job.spawn_ctx;
  so.threads = job.spawn_threads;
  so.cancelled = job.cancelled;
  say(job, fmt::format("spawning {} chimera serve instance{} of {} (--parallel {} each)", job.spawn,
                       job.spawn == 1 ? "" : "s", model.name, so.parallel));
  CHIMERA_ASSIGN_OR_RETURN(out.spawned, SpawnedServers::start(so));
  for (const auto& s : out.spawned->servers()) {
    out.specs.push_back(fmt::format("ollama://127.0.0.1:{}/{}", s.port, model.name));
    say(job, fmt::format("spawned: pid {} serving on {}", s.pid, s.base_url));
  }
  return out;
}

// Homogeneous without --profile: the first role's profile (the built-in roles name chimera-gemma3).
std::string profile_name_for(const AgentsJob& job, const std::vector<Role>& roles, int i) {
  switch (job.scenario) {
    case Scenario::kHomogeneous:
      if (!job.profiles.empty()) return job.profiles.front();
      return roles.front().profile.empty() ? "chimera-gemma3" : roles.front().profile;
    case Scenario::kHeterogeneous:
      return job.profiles[static_cast<size_t>(i) % job.profiles.size()];
    case Scenario::kBaselineVsChimera:
      return i % 2 == 0 ? job.baseline_profile : job.chimera_profile;
  }
  return "";
}

// The roles and profiles of the largest agent count, loaded once: checked before any server starts,
// so a typo costs nothing.
struct Cast {
  std::vector<Role> roles;
  std::map<std::string, Profile> profiles;
};

Result<Cast> load_cast(const AgentsJob& job) {
  Cast cast;
  std::vector<std::string> names =
      job.roles.empty() ? std::vector<std::string>{"data-collector", "insight"} : job.roles;
  for (const auto& name : names) {
    CHIMERA_ASSIGN_OR_RETURN(Role r, find_role(name));
    cast.roles.push_back(std::move(r));
  }
  int most = *std::max_element(job.agent_counts.begin(), job.agent_counts.end());
  for (int i = 0; i < most; ++i) {
    std::string name = profile_name_for(job, cast.roles, i);
    if (cast.profiles.count(name)) continue;
    CHIMERA_ASSIGN_OR_RETURN(Profile p, find_profile(name));
    cast.profiles[name] = std::move(p);
  }
  return cast;
}

std::vector<AgentSpec> build_agents(const AgentsJob& job, const Cast& cast, int n,
                                    EndpointSet& endpoints,
                                    std::vector<std::unique_ptr<llm::Backend>>& routes) {
  std::vector<AgentSpec> agents;
  for (int i = 0; i < n; ++i) {
    AgentSpec a;
    a.role = cast.roles[static_cast<size_t>(i) % cast.roles.size()];
    a.profile = cast.profiles.at(profile_name_for(job, cast.roles, i));
    a.name = fmt::format("agent{}-{}", i + 1, a.role.name);
    routes.push_back(endpoints.agent_backend(static_cast<size_t>(i), job.assignment));
    a.backend = routes.back().get();
    agents.push_back(std::move(a));
  }
  return agents;
}

// The results store: one session per agent count (so a sweep's levels stay apart, each with its
// agents' calls, arm = the agent's name) and every call as it completes. Failures to store are
// warnings.
class Recorder {
 public:
  Recorder(const AgentsJob& job, AgentsRun& run) : run_(run) {
    if (job.no_store) return;
    auto opened =
        lab::ResultsStore::open(job.db.empty() ? lab::ResultsStore::default_path() : job.db);
    if (!opened.ok()) {
      run.warnings.push_back(opened.status().message());
      return;
    }
    store_ = std::move(*opened);
    run.database = store_->path();
  }

  void begin_level(int agents) {
    session_ = 0;
    if (!store_) return;
    lab::SessionInfo info = lab::session_info(run_.machine, "agents", run_.command_line,
                                              run_.choice.spec, run_.model_label, unix_time_ms());
    std::vector<std::string> endpoints;
    for (const auto& e : run_.endpoints) endpoints.push_back(e.spec);
    info.header_json = json_text(nlohmann::json{{"agents", agents},
                                                {"scenario", scenario_name(run_.scenario)},
                                                {"assignment", assignment_name(run_.assignment)},
                                                {"endpoints", endpoints},
                                                {"repetitions", run_.repetitions},
                                                {"seed", run_.seed},
                                                {"synthetic", run_.synthetic}});
    auto id = store_->begin_session(info);
    if (!id.ok()) {
      run_.warnings.push_back(id.status().message());
      return;
    }
    session_ = *id;
    run_.session_ids.push_back(session_);
  }

  void add(const std::vector<AgentSpec>& agents, const lab::MeasuredCall& call) {
    if (!store_ || session_ == 0) return;
    int64_t configuration = 0;
    for (const auto& a : agents) {
      if (a.name != call.meta.arm) continue;
      auto id = store_->configuration_id(call.record.backend, run_.model_label, a.profile.options);
      if (id.ok()) configuration = *id;
    }
    auto r = store_->add_call(session_, configuration, call.meta, call.record);
    if (!r.ok()) run_.warnings.push_back(r.status().message());
  }

  void end_level(const AgentsLevel& level) {
    if (!store_ || session_ == 0) return;
    Status s = store_->end_session(session_, level.result.cancelled ? "interrupted" : "completed",
                                   json_text(lab::concurrency_to_json(level.analysis)));
    if (!s.is_ok()) run_.warnings.push_back(s.message());
  }

 private:
  AgentsRun& run_;
  std::unique_ptr<lab::ResultsStore> store_;
  int64_t session_ = 0;
};

}  // namespace

std::string_view scenario_name(Scenario scenario) {
  switch (scenario) {
    case Scenario::kHomogeneous:
      return "homogeneous";
    case Scenario::kHeterogeneous:
      return "heterogeneous";
    case Scenario::kBaselineVsChimera:
      return "baseline_vs_chimera";
  }
  return "unknown";
}

Result<Scenario> parse_scenario(std::string_view text) {
  for (Scenario s :
       {Scenario::kHomogeneous, Scenario::kHeterogeneous, Scenario::kBaselineVsChimera}) {
    if (text == scenario_name(s)) return s;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "--scenario '{}' is not known; use homogeneous (one profile for all), "
                    "heterogeneous (a --profile per agent) or baseline_vs_chimera",
                    text);
}

Result<std::vector<int>> parse_agent_counts(std::string_view text) {
  std::vector<int> counts;
  for (const std::string& part : split(text, ',')) {
    auto n = parse_int(trim(part));
    if (!n || *n < 1 || *n > 64) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--agents '{}': '{}' is not a whole number from 1 to 64 (write one count, "
                        "or a sweep such as 1,2,4,8)",
                        text, trim(part));
    }
    if (std::find(counts.begin(), counts.end(), static_cast<int>(*n)) != counts.end()) {
      return make_error(ErrorCode::kInvalidArgument, "--agents '{}' names {} twice", text, *n);
    }
    counts.push_back(static_cast<int>(*n));
  }
  return counts;
}

Result<AgentsRun> run_agents_job(const AgentsJob& job) {
  if (job.agent_counts.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "--agents names no agent count");
  }
  if (job.repetitions < 2) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--repetitions {} is too few: a confidence interval of the speedup needs at "
                      "least 2 repetitions",
                      job.repetitions);
  }
  if (job.scenario == Scenario::kHeterogeneous && job.profiles.size() < 2) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--scenario heterogeneous gives each agent its own profile: name at least "
                      "two with --profile (for example --profile chimera-gemma3 --profile "
                      "baseline); they are used in turn");
  }
  if (job.spawn < 0 || job.spawn > 64) {
    return make_error(ErrorCode::kInvalidArgument, "--spawn {} must be from 0 to 64", job.spawn);
  }
  AgentsRun run;
  run.start_ns = monotonic_ns();
  run.start_unix_ms = unix_time_ms();
  run.started_utc = iso_timestamp_utc(run.start_unix_ms);
  run.today_iso = today_iso_date();
  run.command_line = job.command_line;
  run.output_dir = job.out + "/" + compact_local_timestamp();
  run.scenario = job.scenario;
  run.assignment = job.assignment;
  run.spawn = job.spawn;
  run.repetitions = job.repetitions;
  run.seed = job.seed;
  run.num_predict = job.num_predict;
  run.machine = lab::machine_header();

  CHIMERA_ASSIGN_OR_RETURN(Cast cast, load_cast(job));
  CHIMERA_ASSIGN_OR_RETURN(IngestResult ingest, ingest_folder(job.data));
  FactsTable facts = build_facts(ingest);
  run.data_dir = ingest.root;
  say(job, fmt::format("data: {}: {} of {} files ingested, {} facts", ingest.root,
                       ingest.parsed_files(), ingest.files.size(), facts.size()));

  CHIMERA_ASSIGN_OR_RETURN(Endpoints endpoints, open_endpoints(job, run));
  for (const auto& t : run.choice.tried) say(job, "backend: tried " + t);
  std::vector<std::unique_ptr<llm::Backend>> backends;
  for (const auto& spec : endpoints.specs) {
    CHIMERA_ASSIGN_OR_RETURN(auto backend, llm::make_backend(spec));
    backends.push_back(std::move(backend));
  }
  run.model_label = model_label_of(run.choice, endpoints.specs.front());
  if (auto d = backends.front()->describe(llm::parse_backend_spec(endpoints.specs.front())->model);
      d.ok() && d->entry.synthetic) {
    run.choice.synthetic = true;
  }
  run.synthetic = run.choice.synthetic;
  say(job, fmt::format("backend: {} ({}){}", join(endpoints.specs, ", "), run.choice.reason,
                       run.synthetic ? "; dummy weights" : ""));
  for (size_t i = 0; i < endpoints.specs.size(); ++i) {
    EndpointInfo info;
    info.spec = endpoints.specs[i];
    auto spec = llm::parse_backend_spec(info.spec);
    if (spec.ok() && spec->kind != llm::BackendSpec::Kind::kEmbedded)
      info.base_url = spec->location;
    if (endpoints.spawned) info.pid = endpoints.spawned->servers()[i].pid;
    run.endpoints.push_back(std::move(info));
  }
  EndpointSet set(std::move(backends), endpoints.specs);

  std::vector<std::unique_ptr<lab::MetricsScraper>> scrapers(run.endpoints.size());
  if (job.scrape) {
    for (size_t i = 0; i < run.endpoints.size(); ++i) {
      if (run.endpoints[i].base_url.empty()) continue;
      scrapers[i] =
          std::make_unique<lab::MetricsScraper>(run.endpoints[i].base_url, job.scrape_period_ms);
      scrapers[i]->start();
    }
  }

  Recorder recorder(job, run);
  for (int n : job.agent_counts) {
    if (cancelled(job)) break;
    std::vector<std::unique_ptr<llm::Backend>> routes;
    std::vector<AgentSpec> agents = build_agents(job, cast, n, set, routes);
    MultiAgentSettings settings;
    settings.synthetic_model = run.synthetic;
    settings.repetitions = job.repetitions;
    settings.seed = job.seed;
    settings.num_predict = job.num_predict;
    settings.fact_budget_chars = job.fact_budget_chars;
    settings.prime = job.prime;
    settings.today_iso = run.today_iso;
    settings.read_timeout_ms = job.read_timeout_ms;
    settings.retry_budget_ms = job.retry_budget_ms;
    MultiAgentRunner runner(agents, settings, ingest, facts);
    runner.on_call([&](const lab::MeasuredCall& call) { recorder.add(agents, call); });
    if (job.progress) runner.on_progress(job.progress);
    runner.should_stop([&] { return cancelled(job); });
    recorder.begin_level(n);
    say(job, fmt::format("{} agent{}: {} repetitions of {}solo then concurrent (alternating)", n,
                         n == 1 ? "" : "s", job.repetitions,
                         job.prime ? "an unmeasured priming pass, then " : ""));
    AgentsLevel level;
    level.agents = n;
    // A scrape at each edge of the level: a level shorter than the scrape period still gets the
    // server's state before and after it on the timeline.
    auto scrape_now = [&] {
      for (auto& s : scrapers) {
        if (s) s->scrape_once();
      }
    };
    scrape_now();
    level.result = runner.run();
    scrape_now();
    level.analysis =
        lab::analyze_concurrency(n, level.result.repetitions, level.result.phase_calls(false),
                                 level.result.phase_calls(true));
    run.cancelled |= level.result.cancelled;
    recorder.end_level(level);
    run.levels.push_back(std::move(level));
  }
  for (size_t i = 0; i < run.endpoints.size(); ++i) {
    EndpointInfo& e = run.endpoints[i];
    if (scrapers[i]) {
      scrapers[i]->stop();
      e.scrapes = scrapers[i]->result();
    } else {
      e.scrapes.endpoint = e.base_url;
      e.scrapes.status =
          e.base_url.empty() ? "in-process engine: no /metrics" : "not scraped (--no-scrape)";
    }
    e.stats = set.stats()[i];
    if (endpoints.spawned) {
      e.end_state = endpoints.spawned->running(i) ? "running" : endpoints.spawned->exit_status(i);
    }
  }
  if (endpoints.spawned) {
    endpoints.spawned->stop();
    say(job, "spawned servers stopped");
  }
  run.cancelled |= cancelled(job);

  auto outputs = write_agents_outputs(run, ingest);
  if (!outputs.ok()) return outputs.status();
  run.output_files = *outputs;
  return run;
}

}  // namespace chimera::agent
