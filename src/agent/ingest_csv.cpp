// CSV ingestion: RFC 4180 (quoted fields, doubled quotes, newlines inside quotes, CRLF/LF/CR), a
// UTF-8 byte order mark, delimiter detection (',' ';' tab '|'), decimal commas in ';' files, and
// invalid UTF-8. The file is read in chunks through a state machine, so memory stays bounded
// whatever its size.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>

#include "agent/cell_value.h"
#include "agent/ingest.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

constexpr size_t kChunkBytes = 1 << 20;
constexpr size_t kSampleBytes = 64 << 10;

// Counts delimiter candidates per record (outside quotes) over the first records of `sample`.
char detect_delimiter(std::string_view sample) {
  constexpr std::array<char, 4> kCandidates = {',', ';', '\t', '|'};
  char best = ',';
  int best_score = 0;
  for (char d : kCandidates) {
    std::vector<int> counts;
    int count = 0;
    bool quoted = false;
    for (size_t i = 0; i < sample.size() && counts.size() < 20; ++i) {
      char c = sample[i];
      if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && c == d) {
        ++count;
      } else if (!quoted && c == '\n') {
        if (count > 0 || !counts.empty()) counts.push_back(count);
        count = 0;
      }
    }
    if (count > 0) counts.push_back(count);
    if (counts.empty()) continue;
    // Score: records agreeing with the first record's count (the header), which must be > 0.
    int score = 0;
    for (int n : counts) score += n == counts[0] && n > 0 ? 1 : 0;
    if (score > best_score) {
      best_score = score;
      best = d;
    }
  }
  return best;
}

// "98,94" cells outnumber "98.94" cells: the file writes decimals with a comma.
bool detect_decimal_comma(std::string_view sample, char delimiter) {
  if (delimiter == ',') return false;
  int comma = 0, point = 0;
  for (size_t i = 1; i + 1 < sample.size(); ++i) {
    bool digits_around = std::isdigit(static_cast<unsigned char>(sample[i - 1])) &&
                         std::isdigit(static_cast<unsigned char>(sample[i + 1]));
    if (!digits_around) continue;
    if (sample[i] == ',') ++comma;
    if (sample[i] == '.') ++point;
  }
  return comma > point;
}

class CsvReader {
 public:
  CsvReader(FileReport& report, const IngestLimits& limits) : report_(report), limits_(limits) {}

  void feed(std::string_view chunk) {
    if (first_chunk_) {
      first_chunk_ = false;
      if (starts_with(chunk, "\xEF\xBB\xBF")) {
        report_.had_bom = true;
        chunk.remove_prefix(3);
      }
      if (report_.delimiter == 0)
        report_.delimiter = detect_delimiter(chunk.substr(0, kSampleBytes));
      decimal_comma_ = detect_decimal_comma(chunk.substr(0, kSampleBytes), report_.delimiter);
      delimiter_ = report_.delimiter;
    }
    size_t i = 0;
    while (i < chunk.size()) {
      // Runs of ordinary characters are appended in one go; only delimiters, quotes and line ends
      // go through the state machine (this is most of the speed on large files).
      if ((state_ == State::kUnquoted || state_ == State::kQuoted) && !pending_cr_) {
        size_t end = state_ == State::kQuoted ? chunk.find('"', i) : find_special(chunk, i);
        if (end == std::string_view::npos) end = chunk.size();
        if (end > i) {
          std::string_view run = chunk.substr(i, end - i);
          if (state_ == State::kQuoted) line_ += std::count(run.begin(), run.end(), '\n');
          field_.append(run);
          i = end;
          continue;
        }
      }
      consume(chunk[i++]);
    }
  }

  void finish() {
    if (state_ == State::kQuoted) {
      report_.warnings.push_back(fmt::format(
          "line {}: a quoted field is never closed; it runs to the end of the file", quote_line_));
    }
    if (!field_.empty() || !record_.empty() || state_ == State::kQuoted) {
      end_field();
      end_record();
    }
    if (ragged_rows_ > 0) {
      report_.warnings.push_back(fmt::format(
          "{} rows have a different number of fields than the header's {} (first at line {}); "
          "missing fields are empty, extra ones ignored",
          ragged_rows_, builder_ ? builder_->columns().size() : 0, first_ragged_line_));
    }
    if (stray_quotes_ > 0) {
      report_.warnings.push_back(fmt::format(
          "{} fields have text after a closing quote (first at line {}); kept as written",
          stray_quotes_, first_stray_line_));
    }
    if (report_.invalid_utf8_cells > 0) {
      report_.warnings.push_back(fmt::format(
          "{} cells are not valid UTF-8 (first at line {}); invalid bytes were replaced by U+FFFD",
          report_.invalid_utf8_cells, first_invalid_line_));
    }
    if (builder_) {
      report_.tables.push_back(std::move(*builder_).finish());
    } else {
      report_.warnings.push_back("the file has no header row (it is empty)");
    }
  }

 private:
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };

  size_t find_special(std::string_view chunk, size_t from) const {
    for (size_t k = from; k < chunk.size(); ++k) {
      char c = chunk[k];
      if (c == delimiter_ || c == '\n' || c == '\r') return k;
    }
    return std::string_view::npos;
  }

  void consume(char c) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') return;  // the \n of a \r\n
    }
    if (state_ == State::kFieldStart && record_.empty() && field_.empty()) record_line_ = line_;
    switch (state_) {
      case State::kFieldStart:
        if (c == '"') {
          state_ = State::kQuoted;
          quote_line_ = line_;
          quoted_field_ = true;
          return;
        }
        [[fallthrough]];
      case State::kUnquoted:
        if (c == delimiter_) {
          end_field();
        } else if (c == '\n' || c == '\r') {
          end_line(c);
        } else {
          field_ += c;
          state_ = State::kUnquoted;
        }
        return;
      case State::kQuoted:
        if (c == '"') {
          state_ = State::kQuoteInQuoted;
        } else {
          field_ += c;
          if (c == '\n') ++line_;
        }
        return;
      case State::kQuoteInQuoted:
        if (c == '"') {
          field_ += '"';  // "" inside quotes is one quote
          state_ = State::kQuoted;
        } else if (c == delimiter_) {
          end_field();
        } else if (c == '\n' || c == '\r') {
          end_line(c);
        } else if (c == ' ' || c == '\t') {
          return;  // padding after a closing quote: "a" , "b"
        } else {
          if (stray_quotes_++ == 0) first_stray_line_ = line_;
          field_ += c;
          state_ = State::kUnquoted;
        }
        return;
    }
  }

  void end_line(char c) {
    end_field();
    end_record();
    ++line_;
    pending_cr_ = c == '\r';
  }

  void end_field() {
    if (!is_valid_utf8(field_)) {
      if (report_.invalid_utf8_cells++ == 0) first_invalid_line_ = record_line_;
      sanitize_utf8(field_);
    }
    if (!quoted_field_) {
      std::string_view t = trim(field_);
      if (t.size() != field_.size()) field_ = std::string(t);
    }
    record_.push_back(std::move(field_));
    field_.clear();
    quoted_field_ = false;
    state_ = State::kFieldStart;
  }

  void end_record() {
    if (record_.size() == 1 && record_[0].empty()) {  // a blank line
      record_.clear();
      return;
    }
    if (!builder_) {
      builder_ =
          std::make_unique<TableBuilder>("", std::move(record_), limits_.table, decimal_comma_);
      report_.tables.reserve(1);
    } else {
      if (record_.size() != builder_->columns().size()) {
        if (ragged_rows_++ == 0) first_ragged_line_ = record_line_;
      }
      builder_->add_row(record_, record_line_);
    }
    record_.clear();
  }

  FileReport& report_;
  const IngestLimits& limits_;
  std::unique_ptr<TableBuilder> builder_;
  State state_ = State::kFieldStart;
  std::string field_;
  std::vector<std::string> record_;
  char delimiter_ = ',';
  bool decimal_comma_ = false;
  bool first_chunk_ = true;
  bool pending_cr_ = false;
  bool quoted_field_ = false;
  int64_t line_ = 1, record_line_ = 1, quote_line_ = 1;
  int64_t ragged_rows_ = 0, first_ragged_line_ = 0;
  int64_t stray_quotes_ = 0, first_stray_line_ = 0;
  int64_t first_invalid_line_ = 0;
};

Status check_not_utf16(std::string_view head, const std::string& what) {
  if (starts_with(head, "\xFF\xFE") || starts_with(head, "\xFE\xFF")) {
    return make_error(ErrorCode::kUnsupported,
                      "{}: the file is UTF-16 encoded; save it as UTF-8 to ingest it", what);
  }
  return Status::ok();
}

}  // namespace

Status ingest_csv_text(std::string_view text, FileReport& report, const IngestLimits& limits) {
  CHIMERA_RETURN_IF_ERROR(check_not_utf16(text, report.relative_path));
  if (report.format == FileFormat::kTsv) report.delimiter = '\t';
  CsvReader reader(report, limits);
  reader.feed(text);
  reader.finish();
  report.parsed = true;
  if (!report.tables.empty()) report.dates = report.tables[0].dates;
  return Status::ok();
}

Status ingest_csv_file(const std::string& path, FileReport& report, const IngestLimits& limits) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) {
    return make_error(ErrorCode::kIoError, "{}: cannot open for reading; check its permissions",
                      path);
  }
  if (report.format == FileFormat::kTsv) report.delimiter = '\t';
  CsvReader reader(report, limits);
  std::string chunk(kChunkBytes, '\0');
  bool first = true;
  while (true) {
    size_t n = std::fread(chunk.data(), 1, chunk.size(), file.get());
    if (n == 0) break;
    std::string_view view(chunk.data(), n);
    if (first) {
      CHIMERA_RETURN_IF_ERROR(check_not_utf16(view, report.relative_path));
      first = false;
    }
    reader.feed(view);
  }
  if (std::ferror(file.get())) {
    return make_error(ErrorCode::kIoError, "{}: read failed part-way", path);
  }
  reader.finish();
  report.parsed = true;
  if (!report.tables.empty()) report.dates = report.tables[0].dates;
  return Status::ok();
}

}  // namespace chimera::agent
