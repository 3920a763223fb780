#include "lab/bench_output.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "util/clock.h"
#include "util/strings.h"

namespace chimera::lab {
namespace {

// Columns of text, aligned: numbers right, text left, two spaces apart.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header, std::string right_aligned)
      : right_(std::move(right_aligned)) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render(std::string_view indent) const {
    std::vector<size_t> widths;
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        if (widths.size() <= i) widths.push_back(0);
        widths[i] = std::max(widths[i], display_width(row[i]));
      }
    }
    std::string out;
    for (const auto& row : rows_) {
      std::string line(indent);
      for (size_t i = 0; i < row.size(); ++i) {
        size_t pad = widths[i] - display_width(row[i]);
        bool right = i < right_.size() && right_[i] == 'r';
        bool last = i + 1 == row.size();
        if (right) line.append(pad, ' ');
        line += row[i];
        if (!right && !last) line.append(pad, ' ');
        if (!last) line += "  ";
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      out += line + "\n";
    }
    return out;
  }

 private:
  // Code points, not bytes, so "±" and "–" do not skew the columns.
  static size_t display_width(std::string_view s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }
  std::vector<std::vector<std::string>> rows_;
  std::string right_;
};

std::string opt_number(const std::optional<double>& v) { return v ? format_number(*v) : "-"; }

std::string ci_text(const std::optional<Interval>& ci) {
  if (!ci) return "-";
  return fmt::format("[{}, {}]", format_number(ci->lower), format_number(ci->upper));
}

std::string quote_preview(const std::string& text, size_t max_chars) {
  std::string one_line = replace_all(text, "\n", " ");
  if (one_line.size() <= max_chars) return "\"" + one_line + "\"";
  size_t cut = utf8_complete_prefix(std::string_view(one_line).substr(0, max_chars));
  return "\"" + one_line.substr(0, cut) + "...\"";
}

std::string header_block(const BenchHeader& h, const ConsoleStyle& style) {
  std::string out;
  auto bold = [&](std::string_view s) {
    return style.color ? fmt::format("\x1b[1m{}\x1b[0m", s) : std::string(s);
  };
  out += bold(fmt::format("chimera bench: {}", h.backend)) + "\n";
  auto row = [&](std::string_view key, const std::string& value) {
    out += fmt::format("  {:<9} {}\n", key, value);
  };
  row("model", (h.model.empty() ? "(the backend's own)" : h.model) +
                   (h.synthetic ? "  [dummy weights: timings real, text meaningless]" : ""));
  row("backend", h.backend_name + (h.backend_version.empty() ? "" : " (server " + h.backend_version + ")"));
  std::string prompts = fmt::format("{} prompt{}", h.prompts.size(), h.prompts.size() == 1 ? "" : "s");
  if (!h.prompts.empty()) prompts += fmt::format(" (first: {})", quote_preview(h.prompts[0], 48));
  row("prompts", prompts);
  std::string mode = h.mode;
  if (h.concurrency.empty() && h.rates_rps.empty()) {
    mode += fmt::format(", {} run{} per prompt and arm", h.runs, h.runs == 1 ? "" : "s");
  } else if (!h.concurrency.empty()) {
    mode += fmt::format(" at concurrency {}", fmt::join(h.concurrency, ","));
  } else {
    std::vector<std::string> rates;
    for (double r : h.rates_rps) rates.push_back(format_number(r));
    mode += fmt::format(" at {} req/s", join(rates, ","));
  }
  mode += fmt::format(", {} warm-up call{} per arm (excluded)", h.warmup, h.warmup == 1 ? "" : "s");
  if (h.arms.size() == 2) mode += fmt::format("; A/B pairs interleaved AB BA AB ..., seed base {}", h.seed_base);
  row("mode", mode);
  row("cpu", fmt::format("{} ({} logical CPUs, {} physical cores; {})", h.cpu, h.logical_cpus,
                         h.physical_cores, h.cpu_features));
  row("build", h.build);
  row("threads", h.threads);
  row("ignore_eos", h.ignore_eos ? "yes (every call generates num_predict tokens)"
                                 : "no (a call may stop early at end-of-sequence)");
  if (h.started_unix_ms > 0) row("started", iso_timestamp_utc(h.started_unix_ms));
  // Options: the ones any arm sends, and defaults a backend reported, with where each came from.
  std::vector<std::string> header = {"option"};
  for (const ArmSpec& arm : h.arms) header.push_back(arm.label);
  TextTable options(header, "");
  bool any = false;
  if (!h.arms.empty()) {
    for (size_t i = 0; i < h.arms[0].lines.size(); ++i) {
      bool shown = false;
      for (const ArmSpec& arm : h.arms) {
        shown = shown || (i < arm.lines.size() && arm.lines[i].value != "-");
      }
      if (!shown) continue;
      any = true;
      std::vector<std::string> cells = {h.arms[0].lines[i].name};
      for (const ArmSpec& arm : h.arms) {
        const OptionLine& l = arm.lines[i];
        cells.push_back(l.value == "-" ? l.source : fmt::format("{}  {}", l.value, l.source));
      }
      options.add(cells);
    }
  }
  out += "  options   " +
         std::string(any ? "(any option not listed: backend default, value not reported)\n"
                         : "all backend defaults\n");
  if (any) out += options.render("            ");
  for (const std::string& w : h.warnings) out += fmt::format("  warning: {}\n", w);
  return out;
}

std::string arm_block(const ArmReport& arm, const BenchHeader& h) {
  const ArmMetrics& m = arm.metrics;
  std::string out = fmt::format("\narm {}: {} measured call{}, {} ok, {} failed", arm.label, m.calls,
                                m.calls == 1 ? "" : "s", m.ok, m.failed);
  if (arm.warmup_calls > 0) out += fmt::format(" ({} warm-up excluded)", arm.warmup_calls);
  out += "\n";
  if (m.failed > 0) {
    std::vector<std::string> parts;
    for (const auto& [reason, count] : m.failures_by_reason) {
      parts.push_back(fmt::format("{} x{}: {}", reason, count, m.failure_examples.at(reason)));
    }
    out += fmt::format("  failures (excluded from every statistic): {}\n", join(parts, "; "));
  }
  if (m.retried_calls > 0) {
    out += fmt::format(
        "  retries: {} call{} answered \"not now\" (HTTP 429/503) and {} retried {} time{} "
        "({:.1f} s waited); {} clocks count from the last attempt\n",
        m.retried_calls, m.retried_calls == 1 ? "" : "s", m.retried_calls == 1 ? "was" : "were",
        m.retries, m.retries == 1 ? "" : "s", m.retry_wait_s,
        m.retried_calls == 1 ? "its" : "their");
  }
  if (m.invalid_server_timing_calls > 0) {
    std::vector<std::string> effects;
    for (const auto& [name, count] : m.client_fallback_calls) {
      effects.push_back(fmt::format("{} from client clocks in {}", name, count));
    }
    for (const auto& [name, count] : m.unavailable_calls) {
      effects.push_back(fmt::format("{} unavailable in {}", name, count));
    }
    out += fmt::format("  invalid server timings in {} call{} ({}): {}\n",
                       m.invalid_server_timing_calls, m.invalid_server_timing_calls == 1 ? "" : "s",
                       m.invalid_server_timing_example,
                       effects.empty() ? "no metric needed them" : join(effects, ", "));
  }
  if (m.metrics.empty()) {
    out += "  no successful calls: nothing to summarise\n";
    return out;
  }
  TextTable t({"metric", "n", "mean ± sd", "p50", "p90", "p99", "95% CI of mean", "provenance",
               "source"},
              "lrrrrrr");
  for (const MetricSummary& s : m.metrics) {
    t.add({s.name, std::to_string(s.summary.n),
           fmt::format("{} ± {}", format_number(s.summary.mean), format_number(s.summary.sd)),
           format_number(s.summary.p50), format_number(s.summary.p90), format_number(s.summary.p99),
           ci_text(s.ci), std::string(provenance_name(s.provenance)), s.source});
  }
  out += t.render("  ");
  if (const MetricSummary* itl = m.find(kItlMs)) {
    out += fmt::format("  itl_ms: n counts token intervals; the CI is over the {} per-call means",
                       itl->per_call.size());
    if (m.itl_split_chunks > 0) {
      out += fmt::format("; {} multi-token chunk{} split evenly", m.itl_split_chunks,
                         m.itl_split_chunks == 1 ? "" : "s");
    }
    if (m.itl_excluded_tokens > 0) {
      out += fmt::format("; {} token{} without an attributable interval excluded",
                         m.itl_excluded_tokens, m.itl_excluded_tokens == 1 ? "" : "s");
    }
    out += "\n";
  } else if (m.itl_excluded_tokens > 0) {
    out += fmt::format("  itl_ms: not available, tokens per streamed chunk unknown ({} tokens)\n",
                       m.itl_excluded_tokens);
  }
  if (m.model_load_calls > 0) {
    out += fmt::format("  note: {} call{} paid a model load; their ttft_ms includes it (see load_ms)\n",
                       m.model_load_calls, m.model_load_calls == 1 ? "" : "s");
  }
  if (m.prompt_truncated_calls > 0) {
    out += fmt::format("  warning: {} call{}' prompt did not fit num_ctx and was truncated\n",
                       m.prompt_truncated_calls, m.prompt_truncated_calls == 1 ? "" : "s");
  }
  (void)h;
  return out;
}

std::string comparison_block(const BenchReport& r) {
  if (r.comparisons.empty()) return "";
  std::string vs;
  if (r.header.arms.size() == 2) {
    std::vector<std::string> changed;
    const auto& a = r.header.arms[0].lines;
    const auto& b = r.header.arms[1].lines;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (a[i].value != b[i].value) changed.push_back(b[i].name + "=" + b[i].value);
    }
    vs = changed.empty() ? " (A/A: the same options)" : " (B = A with " + join(changed, ", ") + ")";
  }
  std::string out = fmt::format("\nA/B comparison, B - A{}\n", vs);
  TextTable t({"metric", "A mean", "B mean", "B - A", "95% CI of B - A", "change", "95% CI of change",
               "Welch p", "Holm p", "Hedges g"},
              "lrrrrrrrrr");
  for (const Comparison& c : r.comparisons) {
    std::string change = "-", change_ci = "-";
    if (c.mean_a != 0) change = fmt::format("{:+.1f}%", (c.mean_b / c.mean_a - 1) * 100);
    if (c.relative_ci) {
      change_ci = fmt::format("[{:+.1f}%, {:+.1f}%]", c.relative_ci->lower * 100,
                              c.relative_ci->upper * 100);
    }
    t.add({c.metric, format_number(c.mean_a), format_number(c.mean_b),
           c.welch ? format_number(c.welch->difference) : "-",
           c.welch ? ci_text(c.welch->ci) : "-", change, change_ci,
           c.welch ? format_p_value(c.welch->p) : "-", c.p_holm ? format_p_value(*c.p_holm) : "-",
           c.hedges_g ? fmt::format("{:+.2f}", *c.hedges_g) : "-"});
  }
  out += t.render("  ");
  out += "verdict\n";
  for (const Comparison& c : r.comparisons) out += "  " + c.verdict + "\n";
  size_t pairs = 0, family = 0;
  for (const Comparison& c : r.comparisons) {
    pairs = std::max(pairs, c.paired ? c.paired->n : 0);
    family = std::max(family, c.family_size);
  }
  out += fmt::format(
      "  (verdicts: Welch t-test p-values Holm-adjusted over the {} metrics compared, family-wise "
      "alpha {:.2f}; change CIs by Fieller's theorem from the same t statistic, so they exclude 0 "
      "exactly when the unadjusted Welch p is below alpha; detectable differences at 80% power and "
      "alpha / {}; {} complete A/B pairs{})\n",
      family, r.alpha, family, pairs,
      r.header.equivalence_margin ? fmt::format("; equivalence by TOST within \u00b1{:.3g}% of A",
                                                *r.header.equivalence_margin * 100)
                                  : "");
  return out;
}

std::string load_block(const BenchReport& r) {
  if (r.load.empty()) return "";
  std::string out = "\nthroughput under load (successful requests; wall = first send to last completion)\n";
  TextTable t({"arm", "level", "requests", "ok", "failed", "wall s", "req/s", "out tok/s",
               "ttft p50", "ttft p99", "e2e p50", "e2e p99", "provenance"},
              "llrrrrrrrrrrl");
  for (const LoadRow& row : r.load) {
    t.add({row.arm, load_level_text(row.concurrency, row.rate_rps), std::to_string(row.requests),
           std::to_string(row.ok), std::to_string(row.failed), format_number(row.wall_s),
           format_number(row.request_throughput_rps), format_number(row.output_tps),
           opt_number(row.ttft_p50_ms), opt_number(row.ttft_p99_ms), opt_number(row.e2e_p50_ms),
           opt_number(row.e2e_p99_ms), std::string(provenance_name(row.provenance))});
  }
  out += t.render("  ");
  return out;
}

std::string bytes(double b) { return format_bytes(static_cast<uint64_t>(std::max(b, 0.0))); }

std::string hardware_block(const HwSummary& hw) {
  std::string out = fmt::format("\nhardware ({} samples over {:.1f} s, measured)\n", hw.samples,
                                hw.duration_s);
  if (hw.samples == 0) {
    out += "  no samples\n";
    if (!hw.server_status.empty()) out += fmt::format("  server        {}\n", hw.server_status);
    if (!hw.gpu_status.empty()) out += fmt::format("  gpu           {}\n", hw.gpu_status);
    return out;
  }
  out += fmt::format("  this process  cpu mean {:.0f}% peak {:.0f}% (100% = one core); rss mean {} peak {}; high-water {}\n",
                     hw.process_cpu_percent.mean, hw.process_cpu_percent.peak,
                     bytes(hw.process_rss_bytes.mean), bytes(hw.process_rss_bytes.peak),
                     format_bytes(hw.process_peak_rss_bytes));
  out += fmt::format("  system        cpu mean {:.0f}% peak {:.0f}% (100% = all CPUs); memory used mean {} peak {} of {}\n",
                     hw.system_cpu_percent.mean, hw.system_cpu_percent.peak,
                     bytes(hw.system_memory_used_bytes.mean), bytes(hw.system_memory_used_bytes.peak),
                     format_bytes(hw.system_memory_total_bytes));
  if (hw.server_pid) {
    out += fmt::format("  server        {}: cpu mean {:.0f}% peak {:.0f}%; rss mean {} peak {}; high-water {}\n",
                       hw.server_status, hw.server_cpu_percent.mean, hw.server_cpu_percent.peak,
                       bytes(hw.server_rss_bytes.mean), bytes(hw.server_rss_bytes.peak),
                       format_bytes(hw.server_peak_rss_bytes));
  } else if (!hw.server_status.empty()) {
    out += fmt::format("  server        {}\n", hw.server_status);
  }
  if (hw.gpus.empty()) {
    out += fmt::format("  gpu           {}\n", hw.gpu_status.empty() ? "not available" : hw.gpu_status);
  }
  for (const HwSummary::Gpu& g : hw.gpus) {
    out += fmt::format("  gpu{} {}  util mean {:.0f}% peak {:.0f}%; memory peak {} of {}; power mean {:.0f} W peak {:.0f} W; temperature peak {:.0f} C ({})\n",
                       g.index, g.name, g.util_percent.mean, g.util_percent.peak,
                       bytes(g.memory_used_bytes.peak), format_bytes(g.memory_total_bytes),
                       g.power_w.mean, g.power_w.peak, g.temperature_c.peak, hw.gpu_status);
  }
  return out;
}

}  // namespace

std::string load_level_text(int concurrency, const std::optional<double>& rate) {
  if (rate) return fmt::format("rate {} req/s", format_number(*rate));
  return fmt::format("concurrency {}", concurrency);
}

std::string format_number(double v) {
  if (!std::isfinite(v)) return "-";
  double a = std::fabs(v);
  if (a >= 1000) return fmt::format("{:.0f}", v);
  if (a >= 100) return fmt::format("{:.1f}", v);
  if (a >= 10) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  return "\"" + replace_all(text, "\"", "\"\"") + "\"";
}

std::string render_console(const BenchReport& r, const ConsoleStyle& style) {
  std::string out = header_block(r.header, style);
  for (const ArmReport& arm : r.arms) out += arm_block(arm, r.header);
  out += comparison_block(r);
  out += load_block(r);
  out += hardware_block(r.hardware);
  if (r.cancelled) out += "\nthe run was stopped early: the figures cover the calls that completed\n";
  if (r.session_id) {
    out += fmt::format("\nresults   session {} in {} (`chimera results show {}`)\n", *r.session_id,
                       r.db_path, *r.session_id);
  }
  return out;
}

}  // namespace chimera::lab
