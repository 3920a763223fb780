// JSON and JSONL ingestion. Arrays of objects become tables (nested objects flattened to dotted
// paths, the scalar fields of enclosing objects added as context columns); objects whose members
// are all records ({"gemma3": {...}, "llama3": {...}}) become tables with a "key" column; the
// remaining scalars become a one-row table of fields.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>

#include "agent/ingest.h"
#include "util/mapped_file.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Document order matters: rows and columns appear as the file lists them.
using json = nlohmann::ordered_json;

constexpr size_t kMaxColumns = 200;
constexpr size_t kMaxContextFields = 16;
constexpr size_t kMaxNestedRecords = 4;

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump();  // numbers keep their shortest round-trip form: 98.94 stays "98.94"
}

// An ordered record: column -> value text, in first-seen order.
struct Record {
  std::vector<std::pair<std::string, std::string>> fields;
  void add(std::string key, std::string value) {
    fields.emplace_back(std::move(key), std::move(value));
  }
};

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void flatten(const json& v, const std::string& prefix, Record& out) {
  if (v.is_object()) {
    for (const auto& [key, child] : v.items()) flatten(child, join_path(prefix, key), out);
  } else if (v.is_array()) {
    bool scalars = std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_primitive(); });
    if (scalars) {
      std::vector<std::string> parts;
      for (const auto& e : v) parts.push_back(scalar_text(e));
      out.add(prefix, "[" + join(parts, ", ") + "]");
    } else {
      for (size_t i = 0; i < v.size() && i < kMaxNestedRecords; ++i) {
        flatten(v[i], prefix + "[" + std::to_string(i) + "]", out);
      }
    }
  } else {
    out.add(prefix, scalar_text(v));
  }
}

bool is_record_array(const json& v) {
  if (!v.is_array() || v.empty()) return false;
  size_t objects = 0;
  for (const auto& e : v) objects += e.is_object() ? 1 : 0;
  return objects * 2 >= v.size();
}

bool is_record_map(const json& v) {
  if (!v.is_object() || v.size() < 2) return false;
  for (const auto& [key, child] : v.items()) {
    if (!child.is_object() || child.empty()) return false;
    for (const auto& [k, grandchild] : child.items()) {
      if (is_record_array(grandchild)) return false;  // a deeper structure, not a flat record
    }
  }
  return true;
}

class JsonTables {
 public:
  JsonTables(FileReport& report, const IngestLimits& limits) : report_(report), limits_(limits) {}

  void visit(const json& v, const std::string& path, const Record& context) {
    if (is_record_array(v)) {
      std::vector<Record> records;
      for (size_t i = 0; i < v.size(); ++i) {
        Record r = context;
        if (v[i].is_object()) {
          flatten(v[i], "", r);
        } else {
          r.add("value", scalar_text(v[i]));
        }
        records.push_back(std::move(r));
      }
      add_table(path.empty() ? "(root)" : path, records);
      return;
    }
    if (is_record_map(v)) {
      std::vector<Record> records;
      for (const auto& [key, child] : v.items()) {
        Record r = context;
        r.add("key", key);
        flatten(child, "", r);
        records.push_back(std::move(r));
      }
      add_table(path.empty() ? "(root)" : path, records);
      return;
    }
    if (v.is_object()) {
      Record inner = context;
      for (const auto& [key, child] : v.items()) {
        if (child.is_primitive() && inner.fields.size() < kMaxContextFields) {
          inner.add(join_path(path, key), scalar_text(child));
        }
      }
      for (const auto& [key, child] : v.items()) {
        if (child.is_primitive()) {
          leftovers_.add(join_path(path, key), scalar_text(child));
        } else {
          visit(child, join_path(path, key), inner);
        }
      }
      return;
    }
    if (v.is_array()) {
      bool scalars =
          std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_primitive(); });
      if (scalars) {
        flatten(v, path.empty() ? "value" : path, leftovers_);
        return;
      }
      for (size_t i = 0; i < v.size(); ++i)
        visit(v[i], path + "[" + std::to_string(i) + "]", context);
      return;
    }
    leftovers_.add(path.empty() ? "value" : path, scalar_text(v));
  }

  void finish() {
    if (!leftovers_.fields.empty()) add_table("(fields)", {leftovers_});
  }

  void add_table(const std::string& name, const std::vector<Record>& records) {
    std::vector<std::string> columns;
    std::map<std::string, size_t> index;
    bool dropped = false;
    for (const auto& r : records) {
      for (const auto& [key, value] : r.fields) {
        if (index.count(key)) continue;
        if (columns.size() >= kMaxColumns) {
          dropped = true;
          continue;
        }
        index.emplace(key, columns.size());
        columns.push_back(key);
      }
    }
    if (dropped) {
      report_.warnings.push_back(
          fmt::format("{}: more than {} distinct fields; the rest are ignored", name, kMaxColumns));
    }
    TableBuilder builder(name, columns, limits_.table);
    builder.set_location_kind("record");
    std::vector<std::string> cells;
    int64_t n = 0;
    for (const auto& r : records) {
      cells.assign(columns.size(), std::string());
      for (const auto& [key, value] : r.fields) {
        if (auto it = index.find(key); it != index.end()) cells[it->second] = value;
      }
      builder.add_row(cells, ++n);
    }
    report_.tables.push_back(std::move(builder).finish());
  }

 private:
  FileReport& report_;
  const IngestLimits& limits_;
  Record leftovers_;
};

void collect_dates(FileReport& report) {
  for (const auto& t : report.tables) {
    for (const auto& d : t.dates) {
      if (std::find(report.dates.begin(), report.dates.end(), d) == report.dates.end()) {
        report.dates.push_back(d);
      }
    }
  }
}

// nlohmann rejects invalid UTF-8 inside strings; repair it first and say so.
std::string repaired_utf8(std::string_view text, FileReport& report) {
  std::string copy(text);
  if (sanitize_utf8(copy)) {
    ++report.invalid_utf8_cells;
    report.warnings.push_back("the file is not valid UTF-8; invalid bytes were replaced by U+FFFD");
  }
  return copy;
}

}  // namespace

Status ingest_json_text(std::string_view text, FileReport& report, const IngestLimits& limits) {
  if (starts_with(text, "\xEF\xBB\xBF")) {
    report.had_bom = true;
    text.remove_prefix(3);
  }
  std::string repaired = repaired_utf8(text, report);
  json doc;
  try {
    doc = json::parse(repaired);
  } catch (const json::parse_error& e) {
    // Position as line:column, which is what an editor shows.
    size_t offset = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, repaired.size());
    size_t line =
        1 + static_cast<size_t>(std::count(repaired.begin(), repaired.begin() + offset, '\n'));
    return make_error(ErrorCode::kParseError, "{}: invalid JSON at line {}: {}",
                      report.relative_path, line, e.what());
  }
  JsonTables tables(report, limits);
  tables.visit(doc, "", {});
  tables.finish();
  collect_dates(report);
  report.parsed = true;
  return Status::ok();
}

Status ingest_json_file(const std::string& path, FileReport& report, const IngestLimits& limits) {
  if (report.size_bytes > limits.max_json_bytes) {
    return make_error(ErrorCode::kOutOfRange,
                      "{}: {} bytes is over the {}-byte limit for a JSON document; split it or use "
                      "JSONL (one record per line), which is streamed",
                      report.relative_path, report.size_bytes, limits.max_json_bytes);
  }
  CHIMERA_ASSIGN_OR_RETURN(std::string text, read_text_file(path, limits.max_json_bytes + 1));
  return ingest_json_text(text, report, limits);
}

// Two passes over the file: the first collects the columns (every record's flattened keys), the
// second streams rows into the table, so memory does not grow with the file.
Status ingest_jsonl_file(const std::string& path, FileReport& report, const IngestLimits& limits) {
  std::vector<std::string> columns;
  std::map<std::string, size_t> index;
  int64_t bad_lines = 0, first_bad_line = 0;
  std::string first_error;
  auto for_each_record = [&](auto&& fn, bool first_pass) -> Status {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::kIoError, "{}: cannot open for reading", path);
    std::string line;
    int64_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (number == 1 && starts_with(line, "\xEF\xBB\xBF")) line.erase(0, 3);
      if (trim(line).empty()) continue;
      if (sanitize_utf8(line) && first_pass) ++report.invalid_utf8_cells;
      json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
      fn(value, number);
    }
    return Status::ok();
  };
  CHIMERA_RETURN_IF_ERROR(for_each_record(
      [&](const json& value, int64_t number) {
        if (value.is_discarded() || !value.is_object()) {
          if (bad_lines++ == 0) first_bad_line = number;
          return;
        }
        Record r;
        flatten(value, "", r);
        for (auto& [key, v] : r.fields) {
          if (!index.count(key) && columns.size() < kMaxColumns) {
            index.emplace(key, columns.size());
            columns.push_back(key);
          }
        }
      },
      true));
  TableBuilder builder("", columns, limits.table);
  std::vector<std::string> cells;
  CHIMERA_RETURN_IF_ERROR(for_each_record(
      [&](const json& value, int64_t number) {
        if (value.is_discarded() || !value.is_object()) return;
        Record r;
        flatten(value, "", r);
        cells.assign(columns.size(), std::string());
        for (auto& [key, v] : r.fields) {
          if (auto it = index.find(key); it != index.end()) cells[it->second] = std::move(v);
        }
        builder.add_row(cells, number);
      },
      false));
  if (report.invalid_utf8_cells > 0) {
    report.warnings.push_back(
        fmt::format("{} lines are not valid UTF-8; invalid bytes were replaced by U+FFFD",
                    report.invalid_utf8_cells));
  }
  if (bad_lines > 0) {
    report.warnings.push_back(fmt::format("{} {} not {} (first at line {}); skipped", bad_lines,
                                          bad_lines == 1 ? "line is" : "lines are",
                                          bad_lines == 1 ? "a JSON object" : "JSON objects",
                                          first_bad_line));
  }
  report.tables.push_back(std::move(builder).finish());
  collect_dates(report);
  report.parsed = true;
  return Status::ok();
}

}  // namespace chimera::agent
