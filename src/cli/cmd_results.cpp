// chimera results list | show ID | export ID --csv|--json: what earlier `chimera bench` runs stored.
// show and export rebuild the report from the stored calls, so they print the same statistics the
// run printed (and work for runs that were interrupted).
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "lab/bench_output.h"
#include "lab/bench_session.h"
#include "lab/store.h"
#include "lab/tune_report.h"
#include "util/clock.h"
#include "util/json_text.h"
#include "util/mapped_file.h"
#include "util/strings.h"
#include "util/term.h"

namespace chimera::cli {
namespace {

struct ResultsArgs {
  std::string db;
  int64_t limit = 50;
  int64_t id = 0;
  bool json = false, csv = false;
  std::string output;
};

Result<std::unique_ptr<lab::ResultsStore>> open_existing(const ResultsArgs& a) {
  std::string path = a.db.empty() ? lab::ResultsStore::default_path() : a.db;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    return make_error(ErrorCode::kNotFound,
                      "no results database at {}; run `chimera bench` first, or pass --db PATH", path);
  }
  return lab::ResultsStore::open(path);
}

Status write_output(const ResultsArgs& a, const std::string& text) {
  if (a.output.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return Status::ok();
  }
  return write_file_atomic(a.output, text);
}

std::string status_text(const lab::SessionRow& row) {
  if (row.status == "running" && !row.ended_unix_ms) return "running/interrupted";
  return row.status;
}

int run_list(const ResultsArgs& a) {
  auto store = open_existing(a);
  if (!store.ok()) return report_error(store.status());
  auto sessions = (*store)->list_sessions(a.limit);
  if (!sessions.ok()) return report_error(sessions.status());
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const lab::SessionRow& s : *sessions) {
      out.push_back({{"id", s.id}, {"command", s.info.command}, {"args", s.info.args},
                     {"backend", s.info.backend}, {"model", s.info.model},
                     {"started", iso_timestamp_utc(s.info.started_unix_ms)},
                     {"ended", s.ended_unix_ms ? nlohmann::json(iso_timestamp_utc(*s.ended_unix_ms))
                                               : nlohmann::json(nullptr)},
                     {"status", status_text(s)}, {"calls", s.calls}, {"failed_calls", s.failed_calls},
                     {"host", s.info.host}, {"build", s.info.build}});
    }
    std::string text = json_text(out, 2) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  if (sessions->empty()) {
    std::printf("no sessions in %s yet; `chimera bench -b ...` stores one per run\n",
                (*store)->path().c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"id", "started (UTC)", "command", "backend", "model", "calls", "failed", "status"}};
  for (const lab::SessionRow& s : *sessions) {
    rows.push_back({std::to_string(s.id), iso_timestamp_utc(s.info.started_unix_ms), s.info.command,
                    s.info.backend, s.info.model, std::to_string(s.calls),
                    std::to_string(s.failed_calls), status_text(s)});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      bool number = i == 0 || i == 5 || i == 6;
      line += number ? fmt::format("{:>{}}", r[i], widths[i]) : fmt::format("{:<{}}", r[i], widths[i]);
      if (i + 1 < r.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
  std::printf("(%s; `chimera results show ID` for one session)\n", (*store)->path().c_str());
  return kExitOk;
}

// A tune study, rebuilt from the store: its table (console), tune.json (--json) or one row per
// configuration (--csv).
int show_tune(const ResultsArgs& a, lab::ResultsStore& store) {
  auto study = lab::load_tune_session(store, a.id);
  if (!study.ok()) return report_error(study.status());
  std::string text;
  if (a.json) {
    text = json_text(lab::render_tune_json(*study), 2) + "\n";
  } else if (a.csv) {
    text = "label,options,status,rank,samples_ok,metric,unit,mean,ci95_low,ci95_high,provenance\n";
    const std::string provenance(provenance_name(study->analysis.provenance));
    for (const lab::ConfigResult& r : study->analysis.configs) {
      const lab::MetricEstimate& e = r.objectives.front();
      auto number = [](double v) { return fmt::format("{}", v); };
      text += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", r.config.label,
                          lab::csv_field(lab::config_text(r.config)),
                          lab::csv_field(std::string(lab::config_status_name(r.status))),
                          r.rank > 0 ? std::to_string(r.rank) : "", r.samples_ok, e.metric, e.unit,
                          e.values.empty() ? "" : number(e.mean), e.ci ? number(e.ci->lower) : "",
                          e.ci ? number(e.ci->upper) : "", provenance);
    }
  } else {
    text = lab::render_tune_console(*study);
  }
  Status written = write_output(a, text);
  if (!written.is_ok()) return report_error(written);
  if (!a.output.empty()) std::fprintf(stderr, "wrote %s\n", a.output.c_str());
  return kExitOk;
}

int run_show(const ResultsArgs& a, bool export_mode) {
  if (export_mode && a.json == a.csv) {
    return report_error(Status(ErrorCode::kInvalidArgument,
                               "results export needs exactly one of --csv or --json"));
  }
  auto store = open_existing(a);
  if (!store.ok()) return report_error(store.status());
  if (auto row = (*store)->session(a.id); row.ok() && row->info.command == "tune") {
    return show_tune(a, **store);
  }
  auto session = lab::load_bench_session(**store, a.id);
  if (!session.ok()) return report_error(session.status());
  std::string text;
  if (a.json) {
    text = json_text(lab::render_json(session->report, session->calls, session->samples), 2) + "\n";
  } else if (a.csv) {
    text = lab::render_csv(session->report, session->calls);
  } else {
    text = lab::render_console(session->report, lab::ConsoleStyle{term::use_color(stdout)});
  }
  Status written = write_output(a, text);
  if (!written.is_ok()) return report_error(written);
  if (!a.output.empty()) std::fprintf(stderr, "wrote %s\n", a.output.c_str());
  return kExitOk;
}

}  // namespace

void register_results(CLI::App& app) {
  auto args = std::make_shared<ResultsArgs>();
  auto* sub = app.add_subcommand("results", "Stored bench sessions: list | show ID | export ID");
  sub->require_subcommand(1);
  sub->add_option("--db", args->db, "results database (default: data_dir()/results.db)");

  auto* list = sub->add_subcommand("list", "Sessions, newest first");
  list->add_option("--db", args->db, "results database");
  list->add_option("--limit", args->limit, "at most this many (default 50)");
  list->add_flag("--json", args->json, "as JSON");
  list->callback([args] { set_exit_code(run_list(*args)); });

  auto* show = sub->add_subcommand("show", "One session's report, rebuilt from its stored calls");
  show->add_option("id", args->id, "session id (from `chimera results list`)")->required();
  show->add_option("--db", args->db, "results database");
  show->add_flag("--json", args->json, "as JSON");
  show->add_flag("--csv", args->csv, "as CSV");
  show->callback([args] { set_exit_code(run_show(*args, false)); });

  auto* exp = sub->add_subcommand("export", "One session as CSV or JSON (every call + statistics)");
  exp->add_option("id", args->id, "session id")->required();
  exp->add_option("--db", args->db, "results database");
  exp->add_flag("--json", args->json, "JSON document");
  exp->add_flag("--csv", args->csv, "CSV table");
  exp->add_option("-o,--output", args->output, "write to this file instead of stdout");
  exp->callback([args] { set_exit_code(run_show(*args, true)); });
}

}  // namespace chimera::cli
