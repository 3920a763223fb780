#include "agent/ingest_summary.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/strings.h"

namespace chimera::agent {
namespace {

std::string number(double v, int decimals) {
  return fmt::format("{:.{}f}", v, std::max(0, decimals));
}

std::vector<std::string> metric_column_names(const FileReport& f) {
  std::vector<std::string> out;
  for (const auto& t : f.tables) {
    for (const auto& s : t.summaries) {
      if (s.kind.role != ColumnRole::kMetric) continue;
      std::string text = s.name + " (" + s.kind.metric;
      if (s.unit) text += ", " + s.unit->symbol;
      text += ")";
      if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(text);
    }
  }
  return out;
}

std::string status_of(const FileReport& f) {
  if (!f.error.empty()) return "error: " + f.error;
  if (!f.skip_reason.empty()) return "skipped: " + f.skip_reason;
  if (!f.warnings.empty())
    return fmt::format("ok, {} warning{}", f.warnings.size(), f.warnings.size() == 1 ? "" : "s");
  return "ok";
}

}  // namespace

report::Table ingestion_table(const IngestResult& ingest) {
  report::Table t;
  t.headers = {"file", "format",      "size",           "tables",
               "rows", "failed rows", "metric columns", "status"};
  t.align = {report::Align::kLeft,  report::Align::kLeft,  report::Align::kRight,
             report::Align::kRight, report::Align::kRight, report::Align::kRight,
             report::Align::kLeft,  report::Align::kLeft};
  for (const auto& f : ingest.files) {
    bool parsed = f.parsed;
    t.rows.push_back({f.relative_path, std::string(file_format_name(f.format)),
                      format_bytes(f.size_bytes), parsed ? std::to_string(f.tables.size()) : "-",
                      parsed ? std::to_string(f.rows()) : "-",
                      parsed ? std::to_string(f.failure_rows()) : "-",
                      join(metric_column_names(f), ", "), status_of(f)});
  }
  return t;
}

report::Table metric_columns_table(const IngestResult& ingest) {
  report::Table t;
  t.headers = {"file", "table", "column", "metric", "unit", "type", "n", "min", "mean", "max"};
  t.align = {report::Align::kLeft,  report::Align::kLeft,  report::Align::kLeft,
             report::Align::kLeft,  report::Align::kLeft,  report::Align::kLeft,
             report::Align::kRight, report::Align::kRight, report::Align::kRight,
             report::Align::kRight};
  for (const auto& f : ingest.files) {
    for (const auto& table : f.tables) {
      for (const auto& s : table.summaries) {
        if (s.kind.role != ColumnRole::kMetric) continue;
        NumericStats n = s.stats;
        std::string unit = s.unit_symbol();
        if (s.unit && s.unit->dimension == Dimension::kTime && s.unit->to_base < 1e-3) {
          // Nanosecond durations (Ollama's) are shown in ms.
          double to_ms = s.unit->to_base / 1e-3;
          n.min *= to_ms;
          n.max *= to_ms;
          n.sum *= to_ms;
          n.max_decimals = 2;
          unit = "ms";
        }
        bool any = n.count > 0;
        int mean_decimals = std::min(3, n.max_decimals + 1);
        t.rows.push_back({f.relative_path, table.name.empty() ? "-" : table.name, s.name,
                          s.kind.metric, unit.empty() ? "-" : unit,
                          std::string(column_type_name(s.type)), std::to_string(n.count),
                          any ? number(n.min, n.max_decimals) : "-",
                          any ? number(n.mean(), mean_decimals) : "-",
                          any ? number(n.max, n.max_decimals) : "-"});
      }
    }
  }
  return t;
}

std::string ingestion_markdown(const IngestResult& ingest) {
  report::MarkdownDocument doc;
  doc.paragraph(
      fmt::format("Folder `{}`: {} files found, {} parsed, {} rows, {} failed rows (excluded from "
                  "every summary; "
                  "failed rows are counted, never averaged in).",
                  ingest.root, ingest.files.size(), ingest.parsed_files(), ingest.total_rows(),
                  ingest.total_failure_rows()));
  doc.table(ingestion_table(ingest));
  report::Table metrics = metric_columns_table(ingest);
  if (!metrics.rows.empty()) {
    doc.paragraph("Metric columns, recognised by name and unit (statistics over successful rows):");
    doc.table(metrics);
  }
  std::vector<std::string> warnings;
  for (const auto& f : ingest.files) {
    for (const auto& w : f.warnings) warnings.push_back("`" + f.relative_path + "`: " + w);
  }
  for (const auto& n : ingest.notes) warnings.push_back(n);
  if (!warnings.empty()) {
    doc.paragraph("Warnings:");
    doc.bullets(warnings);
  }
  return doc.str();
}

std::vector<std::string> ingestion_lines(const IngestResult& ingest) {
  std::vector<std::string> lines;
  for (const auto& f : ingest.files) {
    if (!f.parsed) {
      lines.push_back(fmt::format("{}: not ingested ({})", f.relative_path,
                                  f.error.empty() ? f.skip_reason : f.error));
      continue;
    }
    std::string line =
        fmt::format("{} ({}): {} rows", f.relative_path, file_format_name(f.format), f.rows());
    if (f.failure_rows() > 0) line += fmt::format(", {} failed", f.failure_rows());
    auto metrics = metric_column_names(f);
    if (!metrics.empty()) line += "; metrics: " + join(metrics, ", ");
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace chimera::agent
