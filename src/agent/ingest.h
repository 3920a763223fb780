// Ingestion of a benchmark-data folder: walk it (never leaving it through links, with size limits),
// parse CSV, JSON/JSONL and Markdown into tables, and summarize every file. The facts table
// (facts.h) is built from the result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/table.h"
#include "util/status.h"

namespace chimera::agent {

enum class FileFormat { kCsv, kTsv, kJson, kJsonl, kMarkdown, kOther };
std::string_view file_format_name(FileFormat format);
// From the extension (case-insensitive): .csv .tsv .json .jsonl/.ndjson .md/.markdown.
FileFormat format_from_path(std::string_view path);

struct IngestLimits {
  uint64_t max_file_bytes = 512ull << 20;  // larger files are listed and skipped
  uint64_t max_json_bytes = 64ull << 20;   // JSON is parsed whole; JSONL streams
  uint64_t max_total_bytes = 2ull << 30;   // stop reading once this much was read
  size_t max_files = 2000;
  int max_depth = 16;
  TableLimits table;
};

struct FileReport {
  std::string path;           // absolute
  std::string relative_path;  // to the data folder, with '/' separators: what reports print
  FileFormat format = FileFormat::kOther;
  uint64_t size_bytes = 0;
  bool parsed = false;  // false: skipped or failed (see `skip_reason` / `error`)
  std::string
      skip_reason;    // "unsupported extension", "larger than 512 MiB", "link leaves the folder"
  std::string error;  // a parse error that stopped this file
  std::vector<DataTable> tables;
  std::vector<std::string> headings;  // Markdown outline, "## Results" as "Results"
  std::vector<std::string> warnings;  // recoverable problems, each naming the line
  std::vector<std::string> dates;     // ISO dates in the file (cells and text)
  char delimiter = 0;                 // CSV: the detected delimiter
  bool had_bom = false;
  int64_t invalid_utf8_cells = 0;  // cells whose bytes were not UTF-8 (replaced by U+FFFD)
  int64_t rows() const;
  int64_t failure_rows() const;
};

struct IngestResult {
  std::string root;               // absolute path of the data folder
  std::vector<FileReport> files;  // in sorted path order, parsed and skipped alike
  uint64_t bytes_read = 0;
  bool truncated = false;          // a folder-wide limit stopped the walk
  std::vector<std::string> notes;  // folder-level remarks (limits reached, links skipped)
  size_t parsed_files() const;
  int64_t total_rows() const;
  int64_t total_failure_rows() const;
};

// Walks `root` and ingests every file it can. Fails only when `root` is not a readable directory;
// problems with single files are recorded in their FileReport.
Result<IngestResult> ingest_folder(const std::string& root, const IngestLimits& limits = {});

// Single-file parsers (also used by tests). Each fills `report.tables` and its warnings; a Status
// error means the file could not be read at all.
Status ingest_csv_file(const std::string& path, FileReport& report, const IngestLimits& limits);
Status ingest_json_file(const std::string& path, FileReport& report, const IngestLimits& limits);
Status ingest_jsonl_file(const std::string& path, FileReport& report, const IngestLimits& limits);
Status ingest_markdown_file(const std::string& path, FileReport& report,
                            const IngestLimits& limits);

// In-memory variants for small inputs.
Status ingest_csv_text(std::string_view text, FileReport& report, const IngestLimits& limits);
Status ingest_json_text(std::string_view text, FileReport& report, const IngestLimits& limits);
Status ingest_markdown_text(std::string_view text, FileReport& report, const IngestLimits& limits);

// Replaces invalid UTF-8 sequences by U+FFFD; returns true when something was replaced.
bool sanitize_utf8(std::string& text);

}  // namespace chimera::agent
