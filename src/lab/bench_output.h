// Output of a bench report: an aligned console table for people, one JSON document (header, statistics,
// comparisons, load levels, hardware summary and samples, every CallRecord), and one tidy CSV table
// (a `record` column says call / stat / comparison / load) for spreadsheets and pandas.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/bench_report.h"
#include "lab/call_meta.h"
#include "lab/hwmon.h"

namespace chimera::lab {

struct ConsoleStyle {
  bool color = false;  // ANSI colors (only on a TTY, never with NO_COLOR)
};

std::string render_console(const BenchReport& report, const ConsoleStyle& style = {});
// The statistics of the report without the calls (stored as the session's summary).
nlohmann::json report_summary_json(const BenchReport& report);
nlohmann::json render_json(const BenchReport& report, const std::vector<MeasuredCall>& calls,
                           const std::vector<HwSample>& samples);
std::string render_csv(const BenchReport& report, const std::vector<MeasuredCall>& calls);

// RFC 4180 field quoting: quoted when it holds a comma, quote, CR or LF; quotes doubled.
std::string csv_field(std::string_view text);
// "concurrency 4" or "rate 2 req/s".
std::string load_level_text(int concurrency, const std::optional<double>& rate_rps);
// Human-scale number: 3 significant decimals under 10, fewer above ("1234", "123.4", "12.34", "1.234").
std::string format_number(double value);

}  // namespace chimera::lab
