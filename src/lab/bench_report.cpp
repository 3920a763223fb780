#include "lab/bench_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "lab/bench_output.h"
#include "lab/record_json.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using nlohmann::json;

// A fraction as a percentage number without the sign's magnitude rules: 0.31 -> "31", 0.042 -> "4.2".
std::string percent_number(double fraction) {
  double pct = fraction * 100;
  bool whole = std::fabs(std::round(pct * 10) / 10) >= 10;  // 9.9999 prints as "10", not "10.0"
  return whole ? fmt::format("{:.0f}", pct) : fmt::format("{:.1f}", pct);
}

std::vector<const llm::CallRecord*> measured_records(const std::vector<MeasuredCall>& calls,
                                                     const std::string& arm) {
  std::vector<const llm::CallRecord*> out;
  for (const MeasuredCall& c : calls) {
    if (c.meta.arm == arm && !c.meta.warmup) out.push_back(&c.record);
  }
  return out;
}

// An A/B pair: the pair index, and the prompt and repetition within it (a pair may hold several
// calls of an arm, such as one call per report section).
using PairKey = std::tuple<int64_t, int64_t, int64_t>;

// Per-pair values of a metric for the paired analysis: pair -> value, successful calls only.
std::map<PairKey, double> by_pair(const std::vector<MeasuredCall>& calls, const std::string& arm,
                                  std::string_view metric) {
  std::map<PairKey, double> out;
  for (const MeasuredCall& c : calls) {
    if (c.meta.arm != arm || c.meta.warmup || c.meta.pair_index < 0 || !c.record.ok) continue;
    CallMetrics m = compute_call_metrics(c.record);
    PairKey key{c.meta.pair_index, c.meta.prompt_index, c.meta.repetition};
    if (metric == kItlMs) {
      if (!m.itl_ms.empty()) out[key] = mean(m.itl_ms);
    } else if (const MetricValue* v = m.find(metric)) {
      out[key] = v->value;
    }
  }
  return out;
}

Comparison compare(const MetricSummary& a, const MetricSummary& b,
                   const std::vector<MeasuredCall>& calls, const AnalysisOptions& options) {
  Comparison c;
  c.metric = a.name;
  c.unit = a.unit;
  c.higher_is_better = a.higher_is_better;
  c.n_a = a.per_call.size();
  c.n_b = b.per_call.size();
  c.mean_a = mean(a.per_call);
  c.mean_b = mean(b.per_call);
  c.provenance = weakest(a.provenance, b.provenance);
  if (c.provenance == Provenance::kMeasured) c.provenance = Provenance::kDerived;  // a test result
  c.welch = welch_t_test(b.per_call, a.per_call, options.level);
  c.hedges_g = hedges_g(b.per_call, a.per_call);
  c.mann_whitney = mann_whitney_u(b.per_call, a.per_call);
  BootstrapOptions boot{options.bootstrap_iterations, options.bootstrap_seed, options.level};
  RelativeInterval relative = fieller_relative_ci(b.per_call, a.per_call, options.level);
  c.relative_ci = relative.ci;
  c.relative_ci_note = relative.why_none;
  c.median_difference_ci = bootstrap_median_difference_ci(b.per_call, a.per_call, boot);
  std::map<PairKey, double> pa = by_pair(calls, "A", a.name), pb = by_pair(calls, "B", a.name);
  std::vector<double> xs, ys;
  for (const auto& [pair, value] : pb) {
    if (auto it = pa.find(pair); it != pa.end()) {
      xs.push_back(value);
      ys.push_back(it->second);
    }
  }
  c.paired = paired_difference(xs, ys, options.level);
  return c;
}

std::vector<LoadRow> load_rows(const std::vector<MeasuredCall>& calls) {
  struct Key {
    std::string arm;
    int concurrency;
    double rate;
    bool operator<(const Key& o) const {
      return std::tie(rate, concurrency, arm) < std::tie(o.rate, o.concurrency, o.arm);
    }
  };
  std::map<Key, std::vector<const MeasuredCall*>> groups;
  for (const MeasuredCall& c : calls) {
    if (c.meta.warmup) continue;
    groups[Key{c.meta.arm, static_cast<int>(c.meta.concurrency), c.meta.rate_rps.value_or(0)}]
        .push_back(&c);
  }
  std::vector<LoadRow> rows;
  for (const auto& [key, group] : groups) {
    LoadRow row;
    row.arm = key.arm;
    row.concurrency = key.concurrency;
    if (key.rate > 0) row.rate_rps = key.rate;
    int64_t first = INT64_MAX, last = 0, tokens = 0;
    std::vector<double> ttft, e2e, decode;
    bool synthetic = false;
    for (const MeasuredCall* c : group) {
      ++row.requests;
      const llm::CallRecord& r = c->record;
      if (r.t_request_ns > 0) first = std::min(first, r.t_request_ns);
      last = std::max(last, r.t_done_ns);
      if (!r.ok) {
        ++row.failed;
        continue;
      }
      ++row.ok;
      synthetic = synthetic || r.synthetic_model;
      tokens += r.token_count;
      CallMetrics m = compute_call_metrics(r);
      if (auto* v = m.find(kTtftMs)) ttft.push_back(v->value);
      if (auto* v = m.find(kE2eMs)) e2e.push_back(v->value);
      if (auto* v = m.find(kDecodeTps)) decode.push_back(v->value);
    }
    if (last > first && first != INT64_MAX) row.wall_s = ns_to_s(last - first);
    if (row.wall_s > 0) {
      row.request_throughput_rps = static_cast<double>(row.ok) / row.wall_s;
      row.output_tps = static_cast<double>(tokens) / row.wall_s;
    }
    if (!ttft.empty()) {
      row.ttft_p50_ms = percentile(ttft, 0.5);
      row.ttft_p99_ms = percentile(ttft, 0.99);
    }
    if (!e2e.empty()) {
      row.e2e_p50_ms = percentile(e2e, 0.5);
      row.e2e_p99_ms = percentile(e2e, 0.99);
    }
    if (!decode.empty()) row.decode_tps_mean = mean(decode);
    row.provenance = synthetic ? Provenance::kSynthetic : Provenance::kDerived;
    rows.push_back(std::move(row));
  }
  return rows;
}

json option_lines_to_json(const std::vector<OptionLine>& lines) {
  json out = json::array();
  for (const OptionLine& l : lines) {
    out.push_back({{"name", l.name}, {"value", l.value}, {"source", l.source}});
  }
  return out;
}

// Options the run did not send are "backend default"; where a call reported what was in force (the
// model's own parameters, say), the header shows that value and where it came from.
void fill_applied_defaults(BenchHeader& header, const std::vector<MeasuredCall>& calls) {
  for (ArmSpec& arm : header.arms) {
    const llm::CallRecord* first_ok = nullptr;
    for (const MeasuredCall& c : calls) {
      if (c.meta.arm == arm.label && c.record.ok) {
        first_ok = &c.record;
        break;
      }
    }
    if (first_ok == nullptr) continue;
    std::map<std::string, std::string> applied;
    for (auto& [name, value] : first_ok->options_applied.items()) applied[name] = value;
    for (OptionLine& line : arm.lines) {
      if (line.source != "backend default") continue;
      auto value = applied.find(line.name);
      auto source = first_ok->option_sources.find(line.name);
      if (value == applied.end() || source == first_ok->option_sources.end()) continue;
      if (source->second == llm::kOptionSent) continue;  // not sent by us: a backend's echo
      // Floats the engine keeps in single precision read back as 0.800000011920929: show 0.8.
      auto number = parse_double(value->second);
      line.value = number ? fmt::format("{:.6g}", *number) : value->second;
      line.source = source->second;  // "model default", "backend default"
    }
  }
}

}  // namespace

std::string format_p_value(double p) {
  if (p < 0.001) return "< 0.001";
  if (p < 0.1) return fmt::format("{:.3f}", p);
  return fmt::format("{:.2f}", p);
}

std::string format_p(double p) {
  std::string v = format_p_value(p);
  return v[0] == '<' ? "p " + v : "p = " + v;
}

std::string detectable_text(const Comparison& c) {
  if (!c.detectable_difference || !std::isfinite(*c.detectable_difference)) return "";
  std::string relative =
      c.mean_a > 0 ? fmt::format(" ({}% of A)", percent_number(*c.detectable_difference / c.mean_a))
                   : "";
  return fmt::format("smallest difference detectable at 80% power: {} {}{}",
                     format_number(*c.detectable_difference), c.unit, relative);
}

std::string equivalence_text(const Comparison& c, double alpha) {
  if (!c.equivalence) return "";
  const EquivalenceResult& e = *c.equivalence;
  std::string ci = e.ci ? fmt::format(", {:.0f}% CI {:+.1f}% to {:+.1f}%", (1 - 2 * alpha) * 100,
                                      e.ci->lower * 100, e.ci->upper * 100)
                        : "";
  double p = c.p_equivalence_holm.value_or(e.p);
  std::string holm = c.p_equivalence_holm && c.family_size > 1 ? ", Holm-adjusted" : "";
  return fmt::format("{} within \u00b1{}% (TOST {}{}{})",
                     c.equivalent ? "equivalent" : "not shown equivalent",
                     fmt::format("{:g}", e.margin * 100), format_p(p), holm, ci);
}

Result<double> parse_equivalence_margin(std::string_view text) {
  std::string_view t = trim(text);
  bool percent = !t.empty() && t.back() == '%';
  if (percent) t.remove_suffix(1);
  auto value = parse_double(trim(t));
  if (!value || !std::isfinite(*value)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--equivalence {}: not a number; give a relative margin such as 5% or 0.05",
                      text);
  }
  double margin = percent ? *value / 100 : *value;
  if (!(margin > 0 && margin < 1)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--equivalence {}: the margin must be above 0 and below 100% (for example 5%)", text);
  }
  return margin;
}

std::string verdict_sentence(const Comparison& c, double alpha, double level,
                             const std::string& b_name, const std::string& a_name) {
  bool named = !(b_name == "B" && a_name == "A");
  if (!c.welch) {
    return fmt::format("too few successful calls to compare {} ({} n = {}, {} n = {}; need 2 each)",
                       c.metric, a_name, c.n_a, b_name, c.n_b);
  }
  double p = c.p_holm.value_or(c.welch->p);
  std::string family =
      c.family_size > 1 ? fmt::format(", Holm-adjusted over {} metrics", c.family_size) : "";
  if (!(p < alpha)) {
    std::string between = named ? fmt::format(" between {} and {}", b_name, a_name) : "";
    // An unadjusted p below alpha is said, so a relative CI that excludes 0 beside it is explained.
    std::string raw =
        c.p_holm && c.welch->p < alpha ? fmt::format("; unadjusted {}", format_p(c.welch->p)) : "";
    std::string out = fmt::format("no significant difference in {}{} ({}{}{})", c.metric, between,
                                  format_p(p), family, raw);
    if (std::string d = detectable_text(c); !d.empty()) out += "; " + d;
    if (std::string e = equivalence_text(c, alpha); !e.empty()) out += "; " + e;
    return out;
  }
  bool lower = c.mean_b < c.mean_a;
  bool better = lower != c.higher_is_better;
  std::string than = named ? fmt::format(" than {}'s", a_name) : "";
  std::string change;
  if (c.mean_a != 0) {
    change = fmt::format(" by {}%", percent_number(std::fabs(c.mean_b / c.mean_a - 1)));
    std::string detail;
    if (c.relative_ci) {
      // Magnitudes in the direction of the change: "lower by 31% (95% CI 22-40%)".
      double lo = c.relative_ci->lower, hi = c.relative_ci->upper;
      if (lower) std::tie(lo, hi) = std::make_pair(-hi, -lo);
      detail = lo >= 0 ? fmt::format("{:.0f}% CI {}\u2013{}%; ", level * 100, percent_number(lo),
                                     percent_number(hi))
                       : fmt::format("{:.0f}% CI {}% to {}%; ", level * 100, percent_number(lo),
                                     percent_number(hi));
    }
    change += fmt::format(" ({}{}{})", detail, format_p(p), family);
  } else {
    change = fmt::format(" ({}{})", format_p(p), family);
  }
  std::string out =
      fmt::format("{}'s {} is {}{}{}: {}", b_name, c.metric, lower ? "lower" : "higher", than,
                  change, better ? "better" : "worse");
  if (std::string e = equivalence_text(c, alpha); !e.empty()) out += "; " + e;
  return out;
}

BenchReport analyze(const BenchHeader& header, const std::vector<MeasuredCall>& calls,
                    const HwSummary& hardware, const AnalysisOptions& options) {
  BenchReport report;
  report.header = header;
  report.hardware = hardware;
  if (report.hardware.gpu_status.empty()) report.hardware.gpu_status = header.gpu_status;
  if (report.hardware.server_status.empty()) report.hardware.server_status = header.server_status;
  report.alpha = 1.0 - options.level;
  for (const MeasuredCall& c : calls) {
    if (c.record.synthetic_model) report.header.synthetic = true;
  }
  fill_applied_defaults(report.header, calls);
  if (report.header.model.empty()) {  // a backend with one model (embedded): name it from a call
    for (const MeasuredCall& c : calls) {
      if (!c.record.model.empty()) {
        report.header.model = c.record.model;
        break;
      }
    }
  }
  std::vector<std::string> labels;
  for (const ArmSpec& arm : header.arms) labels.push_back(arm.label);
  for (const MeasuredCall& c : calls) {
    if (std::find(labels.begin(), labels.end(), c.meta.arm) == labels.end()) {
      labels.push_back(c.meta.arm);
    }
  }
  for (const std::string& label : labels) {
    ArmReport arm;
    arm.label = label;
    arm.metrics = summarize_calls(measured_records(calls, label), options.level);
    for (const MeasuredCall& c : calls) arm.warmup_calls += (c.meta.arm == label && c.meta.warmup);
    report.arms.push_back(std::move(arm));
  }
  if (report.arms.size() == 2) {
    const ArmMetrics& a = report.arms[0].metrics;
    const ArmMetrics& b = report.arms[1].metrics;
    for (const MetricSummary& ma : a.metrics) {
      if (const MetricSummary* mb = b.find(ma.name)) {
        report.comparisons.push_back(compare(ma, *mb, calls, options));
      }
    }
    std::vector<double> raw;
    std::vector<Comparison*> tested;
    for (Comparison& c : report.comparisons) {
      if (c.welch) {
        raw.push_back(c.welch->p);
        tested.push_back(&c);
      }
    }
    std::vector<double> adjusted = holm_adjust(raw);
    std::vector<double> equivalence_raw;
    for (size_t i = 0; i < tested.size(); ++i) {
      Comparison& c = *tested[i];
      c.p_holm = adjusted[i];
      c.family_size = tested.size();
      c.detectable_alpha = report.alpha / static_cast<double>(tested.size());
      const MetricSummary* ma = report.arms[0].metrics.find(c.metric);
      const MetricSummary* mb = report.arms[1].metrics.find(c.metric);
      double se = std::sqrt(std::pow(sample_sd(ma->per_call), 2) / static_cast<double>(c.n_a) +
                            std::pow(sample_sd(mb->per_call), 2) / static_cast<double>(c.n_b));
      double mdd = minimum_detectable_difference(se, c.welch->df, c.detectable_alpha, 0.8);
      if (std::isfinite(mdd)) c.detectable_difference = mdd;
      if (header.equivalence_margin) {
        c.equivalence =
            tost_relative(mb->per_call, ma->per_call, *header.equivalence_margin, report.alpha);
        if (c.equivalence) equivalence_raw.push_back(c.equivalence->p);
      }
    }
    std::vector<double> equivalence_holm = holm_adjust(equivalence_raw);
    size_t next = 0;
    for (Comparison* c : tested) {
      if (!c->equivalence) continue;
      c->p_equivalence_holm = equivalence_holm[next++];
      c->equivalent = *c->p_equivalence_holm < report.alpha;
    }
    for (Comparison& c : report.comparisons) {
      c.significant = c.p_holm && *c.p_holm < report.alpha;
      c.verdict = verdict_sentence(c, report.alpha, options.level);
    }
  }
  if (!header.concurrency.empty() || !header.rates_rps.empty()) report.load = load_rows(calls);
  return report;
}

json header_to_json(const BenchHeader& h) {
  json arms = json::array();
  for (const ArmSpec& arm : h.arms) {
    arms.push_back({{"label", arm.label},
                    {"options", options_to_json(arm.options)},
                    {"option_lines", option_lines_to_json(arm.lines)}});
  }
  return {{"command_line", h.command_line},
          {"backend", h.backend},
          {"backend_name", h.backend_name},
          {"backend_version", h.backend_version},
          {"model", h.model},
          {"synthetic", h.synthetic},
          {"equivalence_margin", h.equivalence_margin ? json(*h.equivalence_margin) : json()},
          {"arms", arms},
          {"prompts", h.prompts},
          {"runs", h.runs},
          {"warmup", h.warmup},
          {"mode", h.mode},
          {"concurrency", h.concurrency},
          {"rates_rps", h.rates_rps},
          {"seed_base", h.seed_base},
          {"ignore_eos", h.ignore_eos},
          {"host", h.host},
          {"cpu", h.cpu},
          {"cpu_features", h.cpu_features},
          {"logical_cpus", h.logical_cpus},
          {"physical_cores", h.physical_cores},
          {"build", h.build},
          {"threads", h.threads},
          {"gpu_status", h.gpu_status},
          {"server_status", h.server_status},
          {"started_unix_ms", h.started_unix_ms},
          {"started", iso_timestamp_utc(h.started_unix_ms)},
          {"warnings", h.warnings}};
}

Result<BenchHeader> header_from_json(const json& j) {
  if (!j.is_object()) return make_error(ErrorCode::kParseError, "bench header is not a JSON object");
  BenchHeader h;
  try {
    h.command_line = j.value("command_line", "");
    h.backend = j.value("backend", "");
    h.backend_name = j.value("backend_name", "");
    h.backend_version = j.value("backend_version", "");
    h.model = j.value("model", "");
    h.synthetic = j.value("synthetic", false);
    if (j.contains("equivalence_margin") && j["equivalence_margin"].is_number()) {
      h.equivalence_margin = j["equivalence_margin"].get<double>();
    }
    for (const json& a : j.value("arms", json::array())) {
      ArmSpec arm;
      arm.label = a.value("label", "");
      CHIMERA_ASSIGN_OR_RETURN(arm.options, options_from_json(a.value("options", json::object())));
      for (const json& l : a.value("option_lines", json::array())) {
        arm.lines.push_back({l.value("name", ""), l.value("value", ""), l.value("source", "")});
      }
      h.arms.push_back(std::move(arm));
    }
    h.prompts = j.value("prompts", std::vector<std::string>{});
    h.runs = j.value("runs", 0);
    h.warmup = j.value("warmup", 0);
    h.mode = j.value("mode", "");
    h.concurrency = j.value("concurrency", std::vector<int>{});
    h.rates_rps = j.value("rates_rps", std::vector<double>{});
    h.seed_base = j.value("seed_base", uint64_t{0});
    h.ignore_eos = j.value("ignore_eos", false);
    h.host = j.value("host", "");
    h.cpu = j.value("cpu", "");
    h.cpu_features = j.value("cpu_features", "");
    h.logical_cpus = j.value("logical_cpus", 0);
    h.physical_cores = j.value("physical_cores", 0);
    h.build = j.value("build", "");
    h.threads = j.value("threads", "");
    h.gpu_status = j.value("gpu_status", "");
    h.server_status = j.value("server_status", "");
    h.started_unix_ms = j.value("started_unix_ms", int64_t{0});
    h.warnings = j.value("warnings", std::vector<std::string>{});
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kParseError, "bench header: {}", e.what());
  }
  return h;
}

}  // namespace chimera::lab
