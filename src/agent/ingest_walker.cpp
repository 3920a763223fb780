// Walking the data folder: every regular file under it, in sorted order, never leaving it through a
// symbolic link, within file-count and size limits; each file is handed to the parser for its
// format.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "agent/ingest.h"
#include "util/strings.h"

namespace chimera::agent {
namespace fs = std::filesystem;
namespace {

// Length of the valid UTF-8 sequence at `i`, or 0 (overlongs, surrogates and > U+10FFFF invalid).
size_t valid_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xC2 && c <= 0xDF   ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (c == 0xE0 && b(i + 1) < 0xA0) return 0;  // overlong
  if (c == 0xED && b(i + 1) > 0x9F) return 0;  // surrogate
  if (c == 0xF0 && b(i + 1) < 0x90) return 0;  // overlong
  if (c == 0xF4 && b(i + 1) > 0x8F) return 0;  // > U+10FFFF
  return n;
}

bool is_inside(const fs::path& path, const fs::path& root) {
  auto [root_end, path_it] = std::mismatch(root.begin(), root.end(), path.begin(), path.end());
  return root_end == root.end();
}

std::string mebibytes(uint64_t bytes) { return fmt::format("{} MiB", bytes >> 20); }

void parse_file(FileReport& report, const IngestLimits& limits) {
  Status status;
  switch (report.format) {
    case FileFormat::kCsv:
    case FileFormat::kTsv:
      status = ingest_csv_file(report.path, report, limits);
      break;
    case FileFormat::kJson:
      status = ingest_json_file(report.path, report, limits);
      break;
    case FileFormat::kJsonl:
      status = ingest_jsonl_file(report.path, report, limits);
      break;
    case FileFormat::kMarkdown:
      status = ingest_markdown_file(report.path, report, limits);
      break;
    case FileFormat::kOther:
      report.skip_reason = "not a data format (csv, tsv, json, jsonl, md)";
      return;
  }
  if (!status.is_ok()) {
    report.parsed = false;
    report.error = status.message();
  }
}

}  // namespace

bool sanitize_utf8(std::string& text) {
  size_t i = 0;
  while (i < text.size()) {  // fast path: nothing to do for valid text
    size_t n = valid_sequence(text, i);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return false;
  std::string out = text.substr(0, i);
  while (i < text.size()) {
    size_t n = valid_sequence(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  text = std::move(out);
  return true;
}

std::string_view file_format_name(FileFormat format) {
  switch (format) {
    case FileFormat::kCsv:
      return "csv";
    case FileFormat::kTsv:
      return "tsv";
    case FileFormat::kJson:
      return "json";
    case FileFormat::kJsonl:
      return "jsonl";
    case FileFormat::kMarkdown:
      return "markdown";
    case FileFormat::kOther:
      return "other";
  }
  return "other";
}

FileFormat format_from_path(std::string_view path) {
  std::string lower = to_lower(path);
  if (ends_with(lower, ".csv")) return FileFormat::kCsv;
  if (ends_with(lower, ".tsv")) return FileFormat::kTsv;
  if (ends_with(lower, ".json")) return FileFormat::kJson;
  if (ends_with(lower, ".jsonl") || ends_with(lower, ".ndjson")) return FileFormat::kJsonl;
  if (ends_with(lower, ".md") || ends_with(lower, ".markdown")) return FileFormat::kMarkdown;
  return FileFormat::kOther;
}

int64_t FileReport::rows() const {
  int64_t n = 0;
  for (const auto& t : tables) n += t.total_rows;
  return n;
}

int64_t FileReport::failure_rows() const {
  int64_t n = 0;
  for (const auto& t : tables) n += t.failure_rows;
  return n;
}

size_t IngestResult::parsed_files() const {
  return static_cast<size_t>(
      std::count_if(files.begin(), files.end(), [](const FileReport& f) { return f.parsed; }));
}

int64_t IngestResult::total_rows() const {
  int64_t n = 0;
  for (const auto& f : files) n += f.rows();
  return n;
}

int64_t IngestResult::total_failure_rows() const {
  int64_t n = 0;
  for (const auto& f : files) n += f.failure_rows();
  return n;
}

Result<IngestResult> ingest_folder(const std::string& root, const IngestLimits& limits) {
  std::error_code ec;
  fs::path root_path = fs::absolute(root, ec);
  if (ec || !fs::is_directory(root_path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "data folder '{}' does not exist or is not a directory; pass --data DIR "
                      "(the default is the example data shipped with Chimera)",
                      root);
  }
  fs::path canonical_root = fs::canonical(root_path, ec);
  if (ec) return make_error(ErrorCode::kIoError, "data folder '{}': {}", root, ec.message());

  IngestResult result;
  result.root = canonical_root.string();
  std::vector<FileReport> found;
  fs::recursive_directory_iterator it(canonical_root, fs::directory_options::skip_permission_denied,
                                      ec);
  if (ec) return make_error(ErrorCode::kIoError, "data folder '{}': {}", root, ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      result.notes.push_back(fmt::format("stopped listing part of the folder: {}", ec.message()));
      break;
    }
    const fs::directory_entry& entry = *it;
    std::string name = entry.path().filename().string();
    if (starts_with(name, ".")) {  // .git, editor swap files
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it.depth() >= limits.max_depth && entry.is_directory(ec)) {
      it.disable_recursion_pending();
      result.notes.push_back(fmt::format("{}: deeper than {} levels; not read",
                                         entry.path().lexically_relative(canonical_root).string(),
                                         limits.max_depth));
      continue;
    }
    FileReport report;
    report.path = entry.path().string();
    // Lexical: fs::relative would resolve a link and describe where it points, not where it is.
    report.relative_path = entry.path().lexically_relative(canonical_root).generic_string();
    report.format = format_from_path(name);
    if (entry.is_symlink(ec)) {
      fs::path target = fs::canonical(entry.path(), ec);
      if (ec) {
        report.skip_reason = "broken symbolic link";
      } else if (!is_inside(target, canonical_root)) {
        report.skip_reason = "symbolic link to " + target.string() + ", outside the data folder";
      } else if (fs::is_directory(target, ec)) {
        report.skip_reason = "symbolic link to a directory (not followed, to avoid loops)";
      } else {
        report.path = target.string();
      }
      if (!report.skip_reason.empty()) {
        found.push_back(std::move(report));
        continue;
      }
    } else if (!entry.is_regular_file(ec)) {
      continue;  // directories are walked; sockets and devices are not data
    }
    report.size_bytes = fs::file_size(report.path, ec);
    found.push_back(std::move(report));
  }
  std::sort(found.begin(), found.end(), [](const FileReport& a, const FileReport& b) {
    return a.relative_path < b.relative_path;
  });

  size_t data_files = 0;
  for (auto& report : found) {
    if (!report.skip_reason.empty() || report.format == FileFormat::kOther) {
      if (report.skip_reason.empty())
        report.skip_reason = "not a data format (csv, tsv, json, jsonl, md)";
      result.files.push_back(std::move(report));
      continue;
    }
    if (++data_files > limits.max_files) {
      result.truncated = true;
      report.skip_reason = fmt::format("over the limit of {} data files", limits.max_files);
    } else if (report.size_bytes > limits.max_file_bytes) {
      report.skip_reason =
          fmt::format("{} is larger than the {} limit per file", mebibytes(report.size_bytes),
                      mebibytes(limits.max_file_bytes));
    } else if (result.bytes_read + report.size_bytes > limits.max_total_bytes) {
      result.truncated = true;
      report.skip_reason =
          fmt::format("the folder's {} reading budget is spent", mebibytes(limits.max_total_bytes));
    } else {
      result.bytes_read += report.size_bytes;
      parse_file(report, limits);
    }
    result.files.push_back(std::move(report));
  }
  if (result.truncated) {
    result.notes.push_back("a folder-wide limit was reached; some files were not read");
  }
  return result;
}

}  // namespace chimera::agent
