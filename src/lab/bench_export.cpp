// JSON and CSV forms of a bench report (bench_output.h).
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "lab/bench_output.h"
#include "lab/record_json.h"
#include "util/clock.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

using nlohmann::json;

json interval_json(const std::optional<Interval>& ci) {
  if (!ci) return nullptr;
  return {{"lower", ci->lower}, {"upper", ci->upper}, {"level", ci->level}};
}

json finite(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json summary_json(const MetricSummary& s) {
  return {{"unit", s.unit}, {"n", s.summary.n}, {"mean", finite(s.summary.mean)},
          {"sd", finite(s.summary.sd)}, {"cv", finite(s.summary.cv)},
          {"min", finite(s.summary.min)}, {"max", finite(s.summary.max)},
          {"p50", finite(s.summary.p50)}, {"p90", finite(s.summary.p90)},
          {"p95", finite(s.summary.p95)}, {"p99", finite(s.summary.p99)},
          {"ci_of_mean", interval_json(s.ci)}, {"per_call", s.per_call},
          {"provenance", std::string(provenance_name(s.provenance))}, {"source", s.source},
          {"higher_is_better", s.higher_is_better}};
}

json peak_mean_json(const PeakMean& pm) {
  if (pm.n == 0) return nullptr;
  return {{"n", pm.n}, {"mean", pm.mean}, {"peak", pm.peak}};
}

json hardware_summary_json(const HwSummary& hw) {
  json gpus = json::array();
  for (const auto& g : hw.gpus) {
    gpus.push_back({{"index", g.index}, {"name", g.name}, {"util_percent", peak_mean_json(g.util_percent)},
                    {"memory_used_bytes", peak_mean_json(g.memory_used_bytes)},
                    {"memory_total_bytes", g.memory_total_bytes},
                    {"power_w", peak_mean_json(g.power_w)},
                    {"temperature_c", peak_mean_json(g.temperature_c)}});
  }
  return {{"samples", hw.samples}, {"duration_s", hw.duration_s},
          {"process_cpu_percent", peak_mean_json(hw.process_cpu_percent)},
          {"process_rss_bytes", peak_mean_json(hw.process_rss_bytes)},
          {"process_peak_rss_bytes", hw.process_peak_rss_bytes},
          {"system_cpu_percent", peak_mean_json(hw.system_cpu_percent)},
          {"system_memory_used_bytes", peak_mean_json(hw.system_memory_used_bytes)},
          {"system_memory_total_bytes", hw.system_memory_total_bytes},
          {"server_pid", hw.server_pid ? json(*hw.server_pid) : json(nullptr)},
          {"server_status", hw.server_status},
          {"server_cpu_percent", peak_mean_json(hw.server_cpu_percent)},
          {"server_rss_bytes", peak_mean_json(hw.server_rss_bytes)},
          {"server_peak_rss_bytes", hw.server_peak_rss_bytes},
          {"gpu_status", hw.gpu_status}, {"gpus", gpus}, {"provenance", "measured"}};
}

json call_metrics_json(const llm::CallRecord& r) {
  json out = json::object();
  if (!r.ok) return out;  // a failed call has no metrics, not zeros
  CallMetrics m = compute_call_metrics(r);
  for (const auto& [name, v] : m.values) {
    out[name] = {{"value", v.value}, {"provenance", std::string(provenance_name(v.provenance))},
                 {"source", v.source}};
  }
  if (!m.itl_ms.empty()) {
    out["itl_ms"] = {{"values", m.itl_ms}, {"mean", mean(m.itl_ms)},
                     {"provenance", std::string(provenance_name(m.itl_provenance))},
                     {"split_chunks", m.itl_split_chunks}, {"excluded_tokens", m.itl_excluded_tokens}};
  }
  // Metrics missing for cause (an invalid server value), never written as a zero.
  if (!m.unavailable.empty()) out["unavailable"] = m.unavailable;
  if (!m.client_fallbacks.empty()) out["client_clock_fallbacks"] = m.client_fallbacks;
  return out;
}

// The call row's note in the CSV: what a reader of the figures must know about this call.
std::string call_note(const llm::CallRecord& r, const CallMetrics* m) {
  std::vector<std::string> parts;
  if (r.transport.retries > 0) {
    parts.push_back(fmt::format("retried {} time{} after 429/503 ({:.2f} s waited)",
                                r.transport.retries, r.transport.retries == 1 ? "" : "s",
                                ns_to_s(r.transport.retry_wait_ns)));
  }
  if (m != nullptr) {
    for (const std::string& name : m->client_fallbacks)
      parts.push_back(name + " from client clocks");
    for (const auto& [name, why] : m->unavailable) parts.push_back(name + " unavailable: " + why);
  }
  return join(parts, "; ");
}

json meta_json(const CallMeta& m) {
  return {{"arm", m.arm}, {"seq", m.seq}, {"pair_index", m.pair_index},
          {"prompt_index", m.prompt_index}, {"repetition", m.repetition}, {"warmup", m.warmup},
          {"concurrency", m.concurrency},
          {"rate_rps", m.rate_rps ? json(*m.rate_rps) : json(nullptr)},
          {"scheduled_offset_ns", m.scheduled_offset_ns}};
}

}  // namespace

json report_summary_json(const BenchReport& r) {
  json arms = json::array();
  for (const ArmReport& arm : r.arms) {
    const ArmMetrics& m = arm.metrics;
    json metrics = json::object();
    for (const MetricSummary& s : m.metrics) metrics[s.name] = summary_json(s);
    arms.push_back({{"label", arm.label},
                    {"calls", m.calls},
                    {"ok", m.ok},
                    {"failed", m.failed},
                    {"warmup_calls", arm.warmup_calls},
                    {"failures_by_reason", m.failures_by_reason},
                    {"failure_examples", m.failure_examples},
                    {"generated_tokens", m.generated_tokens},
                    {"prompt_tokens", m.prompt_tokens},
                    {"model_load_calls", m.model_load_calls},
                    {"prompt_truncated_calls", m.prompt_truncated_calls},
                    {"itl_split_chunks", m.itl_split_chunks},
                    {"itl_excluded_tokens", m.itl_excluded_tokens},
                    {"invalid_server_timing_calls", m.invalid_server_timing_calls},
                    {"invalid_server_timing_example", m.invalid_server_timing_example},
                    {"unavailable_calls", m.unavailable_calls},
                    {"client_clock_fallback_calls", m.client_fallback_calls},
                    {"retried_calls", m.retried_calls},
                    {"retries", m.retries},
                    {"retry_wait_s", m.retry_wait_s},
                    {"metrics", metrics}});
  }
  json comparisons = json::array();
  for (const Comparison& c : r.comparisons) {
    json j = {{"metric", c.metric},
              {"unit", c.unit},
              {"n_a", c.n_a},
              {"n_b", c.n_b},
              {"mean_a", finite(c.mean_a)},
              {"mean_b", finite(c.mean_b)},
              {"relative_change_ci", interval_json(c.relative_ci)},
              {"relative_change_ci_method", "fieller"},
              {"relative_change_ci_note", c.relative_ci_note},
              {"detectable_difference",
               c.detectable_difference ? finite(*c.detectable_difference) : json(nullptr)},
              {"detectable_power", 0.8},
              {"detectable_alpha", c.detectable_alpha},
              {"median_difference_ci", interval_json(c.median_difference_ci)},
              {"hedges_g", c.hedges_g ? finite(*c.hedges_g) : json(nullptr)},
              {"p_holm", c.p_holm ? json(*c.p_holm) : json(nullptr)},
              {"family_size", c.family_size},
              {"significant", c.significant},
              {"verdict", c.verdict},
              {"provenance", std::string(provenance_name(c.provenance))}};
    if (c.mean_a != 0) j["relative_change"] = c.mean_b / c.mean_a - 1;
    if (c.welch) {
      j["welch"] = {{"difference", c.welch->difference}, {"t", finite(c.welch->t)},
                    {"df", c.welch->df}, {"p", c.welch->p}, {"ci", interval_json(c.welch->ci)}};
    }
    if (c.equivalence) {
      j["equivalence"] = {{"margin", c.equivalence->margin},
                          {"p", c.equivalence->p},
                          {"p_holm", c.p_equivalence_holm ? json(*c.p_equivalence_holm) : json()},
                          {"ci", interval_json(c.equivalence->ci)},
                          {"equivalent", c.equivalent}};
    }
    if (c.mann_whitney) {
      j["mann_whitney"] = {{"u", c.mann_whitney->u}, {"z", c.mann_whitney->z},
                           {"p", c.mann_whitney->p}, {"exact", c.mann_whitney->exact}};
    }
    if (c.paired) {
      j["paired"] = {{"n", c.paired->n}, {"mean_difference", c.paired->mean_difference},
                     {"t", finite(c.paired->t)}, {"p", c.paired->p},
                     {"ci", interval_json(c.paired->ci)}};
    }
    comparisons.push_back(std::move(j));
  }
  json load = json::array();
  for (const LoadRow& row : r.load) {
    auto o = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    load.push_back({{"arm", row.arm}, {"concurrency", row.concurrency}, {"rate_rps", o(row.rate_rps)},
                    {"requests", row.requests}, {"ok", row.ok}, {"failed", row.failed},
                    {"wall_s", row.wall_s}, {"request_throughput_rps", row.request_throughput_rps},
                    {"output_tps", row.output_tps}, {"ttft_p50_ms", o(row.ttft_p50_ms)},
                    {"ttft_p99_ms", o(row.ttft_p99_ms)}, {"e2e_p50_ms", o(row.e2e_p50_ms)},
                    {"e2e_p99_ms", o(row.e2e_p99_ms)}, {"decode_tps_mean", o(row.decode_tps_mean)},
                    {"provenance", std::string(provenance_name(row.provenance))}});
  }
  return {{"alpha", r.alpha}, {"arms", arms}, {"comparisons", comparisons}, {"load", load},
          {"hardware", hardware_summary_json(r.hardware)}, {"cancelled", r.cancelled}};
}

json render_json(const BenchReport& r, const std::vector<MeasuredCall>& calls,
                 const std::vector<HwSample>& samples) {
  json out = {{"schema", "chimera.bench/1"}};
  out["session_id"] = r.session_id ? json(*r.session_id) : json(nullptr);
  out["db"] = r.db_path;
  out["header"] = header_to_json(r.header);
  out["summary"] = report_summary_json(r);
  json call_list = json::array();
  for (const MeasuredCall& c : calls) {
    call_list.push_back({{"meta", meta_json(c.meta)}, {"record", call_record_to_json(c.record)},
                         {"metrics", call_metrics_json(c.record)}});
  }
  out["calls"] = std::move(call_list);
  json sample_list = json::array();
  for (const HwSample& s : samples) {
    auto o = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    json gpus = json::array();
    for (const GpuSample& g : s.gpus) {
      gpus.push_back({{"index", g.index}, {"util_percent", o(g.util_percent)},
                      {"memory_used_bytes", g.memory_used_bytes ? json(*g.memory_used_bytes) : json(nullptr)},
                      {"power_w", o(g.power_w)}, {"temperature_c", o(g.temperature_c)}});
    }
    json j = {{"t_ns", s.t_ns}, {"t_unix_ms", s.t_unix_ms},
              {"process", {{"cpu_percent", o(s.process.cpu_percent)}, {"rss_bytes", s.process.rss_bytes},
                           {"peak_rss_bytes", s.process.peak_rss_bytes}}},
              {"system", {{"cpu_percent", o(s.system_cpu_percent)},
                          {"memory_used_bytes", s.memory_used_bytes},
                          {"memory_total_bytes", s.memory_total_bytes}}},
              {"gpus", gpus}};
    if (s.server) {
      j["server"] = {{"pid", s.server->pid}, {"cpu_percent", o(s.server->cpu_percent)},
                     {"rss_bytes", s.server->rss_bytes}};
    }
    sample_list.push_back(std::move(j));
  }
  out["hardware_samples"] = std::move(sample_list);
  return out;
}

std::string render_csv(const BenchReport& r, const std::vector<MeasuredCall>& calls) {
  static const std::vector<std::string> kColumns = {
      "record", "session_id", "arm", "seq", "pair_index", "prompt_index", "repetition", "warmup",
      "concurrency", "rate_rps", "ok", "error_code", "error", "tokens", "token_count_source",
      "prompt_tokens", "ttft_ms", "prefill_ms", "prefill_tps", "decode_ms", "decode_tps",
      "itl_ms", "e2e_ms", "load_ms", "server_ttft_ms", "ttft_residual_ms", "metric", "n", "mean",
      "sd", "p50", "p90", "p95", "p99", "ci_lower", "ci_upper", "p_value", "hedges_g",
      "provenance", "note"};
  auto index = [&](std::string_view name) {
    return static_cast<size_t>(std::find(kColumns.begin(), kColumns.end(), name) - kColumns.begin());
  };
  std::string out = join(kColumns, ",") + "\n";
  std::string session = r.session_id ? std::to_string(*r.session_id) : "";
  auto emit = [&](std::map<std::string, std::string> cells) {
    std::vector<std::string> row(kColumns.size());
    for (auto& [key, value] : cells) row[index(key)] = csv_field(value);
    out += join(row, ",") + "\n";
  };
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{}", v) : std::string(); };
  for (const MeasuredCall& c : calls) {
    std::map<std::string, std::string> cells = {
        {"record", "call"}, {"session_id", session}, {"arm", c.meta.arm},
        {"seq", std::to_string(c.meta.seq)}, {"pair_index", std::to_string(c.meta.pair_index)},
        {"prompt_index", std::to_string(c.meta.prompt_index)},
        {"repetition", std::to_string(c.meta.repetition)}, {"warmup", c.meta.warmup ? "1" : "0"},
        {"concurrency", std::to_string(c.meta.concurrency)},
        {"rate_rps", c.meta.rate_rps ? num(*c.meta.rate_rps) : ""}, {"ok", c.record.ok ? "1" : "0"},
        {"error_code", c.record.ok ? "" : std::string(error_code_name(c.record.error_code))},
        {"error", c.record.error}, {"tokens", std::to_string(c.record.token_count)},
        {"token_count_source", std::string(llm::token_count_source_name(c.record.token_count_source))},
        {"prompt_tokens", c.record.prompt_tokens ? std::to_string(*c.record.prompt_tokens) : ""}};
    if (c.record.ok) {  // a failed call has no metrics, never zeros
      CallMetrics m = compute_call_metrics(c.record);
      for (const auto& [name, v] : m.values) cells[name] = num(v.value);
      if (!m.itl_ms.empty()) cells["itl_ms"] = num(mean(m.itl_ms));
      cells["provenance"] = c.record.synthetic_model ? "synthetic" : "measured";
      cells["note"] = call_note(c.record, &m);
    } else {
      cells["note"] = call_note(c.record, nullptr);
    }
    emit(std::move(cells));
  }
  for (const ArmReport& arm : r.arms) {
    for (const MetricSummary& s : arm.metrics.metrics) {
      emit({{"record", "stat"}, {"session_id", session}, {"arm", arm.label}, {"metric", s.name},
            {"n", std::to_string(s.summary.n)}, {"mean", num(s.summary.mean)},
            {"sd", num(s.summary.sd)}, {"p50", num(s.summary.p50)}, {"p90", num(s.summary.p90)},
            {"p95", num(s.summary.p95)}, {"p99", num(s.summary.p99)},
            {"ci_lower", s.ci ? num(s.ci->lower) : ""}, {"ci_upper", s.ci ? num(s.ci->upper) : ""},
            {"provenance", std::string(provenance_name(s.provenance))}, {"note", s.source}});
    }
    emit({{"record", "stat"}, {"session_id", session}, {"arm", arm.label}, {"metric", "failed_calls"},
          {"n", std::to_string(arm.metrics.calls)}, {"mean", std::to_string(arm.metrics.failed)},
          {"provenance", "measured"}});
  }
  for (const Comparison& c : r.comparisons) {
    emit({{"record", "comparison"}, {"session_id", session}, {"arm", "B-A"}, {"metric", c.metric},
          {"n", fmt::format("{}/{}", c.n_a, c.n_b)},
          {"mean", c.welch ? num(c.welch->difference) : ""},
          {"ci_lower", c.welch ? num(c.welch->ci.lower) : ""},
          {"ci_upper", c.welch ? num(c.welch->ci.upper) : ""},
          {"p_value", c.welch ? num(c.welch->p) : ""},
          {"hedges_g", c.hedges_g ? num(*c.hedges_g) : ""},
          {"provenance", std::string(provenance_name(c.provenance))}, {"note", c.verdict}});
  }
  for (const LoadRow& row : r.load) {
    auto load_row = [&](std::string metric, std::map<std::string, std::string> values) {
      values["record"] = "load";
      values["session_id"] = session;
      values["arm"] = row.arm;
      values["concurrency"] = std::to_string(row.concurrency);
      values["rate_rps"] = row.rate_rps ? num(*row.rate_rps) : "";
      values["metric"] = std::move(metric);
      values["n"] = std::to_string(row.ok);
      values["provenance"] = std::string(provenance_name(row.provenance));
      values["note"] = fmt::format("{}; {} requests, {} failed, wall {} s",
                                   load_level_text(row.concurrency, row.rate_rps), row.requests,
                                   row.failed, format_number(row.wall_s));
      emit(std::move(values));
    };
    auto opt = [&](const std::optional<double>& v) { return v ? num(*v) : std::string(); };
    load_row("request_throughput_rps", {{"mean", num(row.request_throughput_rps)}});
    load_row("output_tps", {{"mean", num(row.output_tps)}});
    load_row("ttft_ms", {{"p50", opt(row.ttft_p50_ms)}, {"p99", opt(row.ttft_p99_ms)}});
    load_row("e2e_ms", {{"p50", opt(row.e2e_p50_ms)}, {"p99", opt(row.e2e_p99_ms)}});
  }
  return out;
}

}  // namespace chimera::lab
