#include "agent/validator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "agent/dates.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Rule 1: `fact_value` rounds to the number as printed (ties accepted either way).
bool rounds_to(double fact_value, double printed, int decimals) {
  double scale = std::pow(10.0, decimals);
  double a = std::fabs(fact_value) * scale;
  double b = std::round(std::fabs(printed) * scale);
  return std::fabs(a - b) <= 0.5 + 1e-9 * std::max(1.0, a);
}

// Rule 2: "~100" matches 98.94 at one significant digit.
bool rounds_to_significant(double fact_value, const NumberMention& m) {
  if (!m.approximate || m.decimals != 0 || m.value == 0) return false;
  double v = std::fabs(m.value);
  double unit = 1;
  while (std::fmod(v, unit * 10) == 0) unit *= 10;
  if (unit == 1) return false;
  return std::fabs(std::fabs(fact_value) / unit - v / unit) <= 0.5 + 1e-9;
}

bool is_relative(const NumberMention& m) {
  return m.unit &&
         (m.unit->dimension == Dimension::kPercent || m.unit->dimension == Dimension::kRatio);
}

// The fact's value in the number's unit, or nullopt when they cannot be compared.
std::optional<double> in_number_unit(const Fact& f, const NumberMention& m) {
  if (!m.unit) return f.value;
  if (!f.unit) {
    // A unitless fact (an option value such as top_k) may be written as a count ("40 tokens"),
    // never as a duration or a throughput.
    if (m.unit->dimension != Dimension::kCount) return std::nullopt;
    return f.value;
  }
  if (!comparable(*m.unit, *f.unit)) return std::nullopt;
  return convert(f.value, *f.unit, *m.unit);
}

int kind_rank(FactKind k) {
  switch (k) {
    case FactKind::kMeasured:
      return 0;
    case FactKind::kConfig:
      return 1;
    case FactKind::kExpected:
      return 2;
    case FactKind::kSummary:
      return 3;
    case FactKind::kInventory:
      return 4;
    case FactKind::kData:
      return 5;
  }
  return 6;
}

class Matcher {
 public:
  Matcher(const FactsTable& facts, const TextScan& scan) {
    for (const auto& f : facts.facts()) ordered_.push_back(&f);
    std::stable_sort(ordered_.begin(), ordered_.end(), [](const Fact* a, const Fact* b) {
      return kind_rank(a->kind) < kind_rank(b->kind);
    });
    for (const auto& c : scan.citations) {
      if (const Fact* f = facts.find(c.id)) cited_by_line_[c.line].push_back(f);
    }
  }

  void check(NumberCheck& check) const {
    const NumberMention& m = check.mention;
    std::vector<const Fact*> candidates;
    if (auto it = cited_by_line_.find(m.line); it != cited_by_line_.end()) candidates = it->second;
    candidates.insert(candidates.end(), ordered_.begin(), ordered_.end());
    for (const Fact* f : candidates) {
      auto value = in_number_unit(*f, m);
      if (!value) continue;
      if (rounds_to(*value, m.value, m.decimals) || rounds_to_significant(*value, m)) {
        check.grounded = true;
        check.fact_ids = f->id;
        check.rule = fmt::format("{} = {}", f->id, f->value_text());
        return;
      }
    }
    if (is_relative(m)) derived(check);
  }

 private:
  // Rule 3: a percentage or ratio computed from two facts cited on the line or measured/expected.
  void derived(NumberCheck& check) const {
    const NumberMention& m = check.mention;
    std::vector<const Fact*> pool;
    if (auto it = cited_by_line_.find(m.line); it != cited_by_line_.end()) pool = it->second;
    for (const Fact* f : ordered_) {
      if (f->kind == FactKind::kMeasured || f->kind == FactKind::kExpected) pool.push_back(f);
    }
    bool percent = m.unit->dimension == Dimension::kPercent;
    for (const Fact* a : pool) {
      for (const Fact* b : pool) {
        if (a == b || a->metric != b->metric || b->value == 0) continue;
        double av = a->value;
        if (a->unit && b->unit) {
          if (!comparable(*a->unit, *b->unit)) continue;
          av = convert(a->value, *a->unit, *b->unit);
        } else if (a->unit || b->unit) {
          continue;
        }
        const double bv = b->value;
        struct Candidate {
          double value;
          const char* formula;
        };
        std::vector<Candidate> options;
        if (percent) {
          options = {{(av - bv) / bv * 100, "({0} - {1}) / {1} * 100"},
                     {av / bv * 100, "{0} / {1} * 100"}};
        } else {
          options = {{av / bv, "{0} / {1}"}};
        }
        for (const auto& c : options) {
          if (rounds_to(c.value, m.value, m.decimals)) {
            check.grounded = true;
            check.fact_ids = a->id + "," + b->id;
            check.rule =
                fmt::format(fmt::runtime(c.formula), a->id, b->id) +
                fmt::format(" = {:.{}f}{}", std::fabs(c.value), m.decimals, percent ? "%" : "x");
            return;
          }
        }
      }
    }
  }

  std::vector<const Fact*> ordered_;
  std::map<size_t, std::vector<const Fact*>> cited_by_line_;
};

std::string excerpt_around(std::string_view text, size_t begin, size_t end) {
  size_t b = begin, e = end;
  while (b > 0 && begin - b < 40 && text[b - 1] != '\n') --b;
  while (e < text.size() && e - end < 40 && text[e] != '\n') ++e;
  // Never cut a UTF-8 character in half.
  while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
  while (e < text.size() && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) ++e;
  return std::string(trim(text.substr(b, e - b)));
}

}  // namespace

std::string_view finding_kind_name(FindingKind kind) {
  switch (kind) {
    case FindingKind::kUngroundedNumber:
      return "ungrounded number";
    case FindingKind::kUngroundedDate:
      return "ungrounded date";
    case FindingKind::kUnknownCitation:
      return "unknown citation";
    case FindingKind::kForeignScript:
      return "foreign script";
    case FindingKind::kRepetition:
      return "repetition loop";
    case FindingKind::kPlaceholder:
      return "placeholder";
    case FindingKind::kPromptTruncated:
      return "prompt truncated";
  }
  return "finding";
}

size_t ValidationReport::checked() const {
  return static_cast<size_t>(std::count_if(numbers.begin(), numbers.end(),
                                           [](const NumberCheck& n) { return n.checked; }));
}

size_t ValidationReport::grounded() const {
  return static_cast<size_t>(
      std::count_if(numbers.begin(), numbers.end(),
                    [](const NumberCheck& n) { return n.checked && n.grounded; }));
}

double ValidationReport::grounding_score() const {
  size_t n = checked();
  return n == 0 ? 1.0 : static_cast<double>(grounded()) / static_cast<double>(n);
}

size_t ValidationReport::count(FindingKind kind) const {
  return static_cast<size_t>(std::count_if(findings.begin(), findings.end(),
                                           [&](const Finding& f) { return f.kind == kind; }));
}

ValidationReport validate_text(std::string_view text, const ValidationContext& context) {
  static const FactsTable kNoFacts;
  const FactsTable& facts = context.facts ? *context.facts : kNoFacts;
  ValidationReport report;
  TextScan scan = scan_text(text);

  std::set<std::string> allowed_dates(facts.dates.begin(), facts.dates.end());
  allowed_dates.insert(context.allowed_dates.begin(), context.allowed_dates.end());
  if (!context.today_iso.empty()) allowed_dates.insert(context.today_iso);
  std::set<std::string> allowed_years, allowed_months;
  for (const auto& d : allowed_dates) {
    allowed_years.insert(d.substr(0, 4));
    allowed_months.insert(d.substr(0, 7));
  }

  Matcher matcher(facts, scan);
  for (const auto& m : scan.numbers) {
    NumberCheck check;
    check.mention = m;
    if (m.year_like) {
      check.grounded = allowed_years.count(fmt::format("{:.0f}", m.value)) > 0;
      check.rule = check.grounded ? "a year of today or of a date in the data" : "";
      if (!check.grounded) {
        report.findings.push_back(
            {FindingKind::kUngroundedDate, m.begin, excerpt_around(text, m.begin, m.end),
             fmt::format("the year {} is neither this year nor a year in the data", m.text)});
      }
      report.numbers.push_back(std::move(check));
      continue;
    }
    if (!m.unit && m.decimals == 0 &&
        std::fabs(m.value) <= static_cast<double>(context.small_count_limit)) {
      check.checked = false;  // rule 5: small counts ("3 recommendations")
      check.rule = "small count, not checked";
      report.numbers.push_back(std::move(check));
      continue;
    }
    matcher.check(check);
    if (!check.grounded) {
      report.findings.push_back({FindingKind::kUngroundedNumber, m.begin,
                                 excerpt_around(text, m.begin, m.end),
                                 fmt::format("'{}' matches no fact, measured figure or "
                                             "configuration value at its printed precision",
                                             m.text)});
    }
    report.numbers.push_back(std::move(check));
  }

  for (const auto& d : find_dates(text)) {
    NumberCheck check;
    check.mention.text = std::string(text.substr(d.begin, d.end - d.begin));
    check.mention.begin = d.begin;
    check.mention.end = d.end;
    check.grounded =
        d.month_only ? allowed_months.count(d.iso) > 0 : allowed_dates.count(d.iso) > 0;
    check.rule =
        check.grounded ? (d.iso == context.today_iso ? "today" : "a date in the data") : "";
    if (!check.grounded) {
      report.findings.push_back({FindingKind::kUngroundedDate, d.begin, check.mention.text,
                                 fmt::format("{} ({}) is neither today ({}) nor a date in the data",
                                             check.mention.text, d.iso, context.today_iso)});
    }
    report.numbers.push_back(std::move(check));
  }

  for (const auto& c : scan.citations) {
    if (!facts.find(c.id)) {
      report.findings.push_back(
          {FindingKind::kUnknownCitation, c.begin, "[" + c.id + "]",
           fmt::format("the text cites {}, which is not in the facts table", c.id)});
    }
  }
  for (auto& f : find_foreign_script(text)) report.findings.push_back(std::move(f));
  for (auto& f : find_repetition(text)) report.findings.push_back(std::move(f));
  for (auto& f : find_placeholders(text)) report.findings.push_back(std::move(f));
  for (const auto& call : context.calls) {
    bool over = call.prompt_tokens && call.num_ctx && *call.prompt_tokens >= *call.num_ctx;
    if (call.prompt_truncated || over) {
      report.findings.push_back(
          {FindingKind::kPromptTruncated, 0, call.name,
           fmt::format(
               "the {} prompt ({} tokens) did not fit num_ctx={}: the model saw a cut prompt",
               call.name, call.prompt_tokens ? fmt::format("{}", *call.prompt_tokens) : "?",
               call.num_ctx ? fmt::format("{}", *call.num_ctx) : "?")});
    }
  }
  std::stable_sort(
      report.numbers.begin(), report.numbers.end(),
      [](const NumberCheck& a, const NumberCheck& b) { return a.mention.begin < b.mention.begin; });
  std::stable_sort(report.findings.begin(), report.findings.end(),
                   [](const Finding& a, const Finding& b) { return a.offset < b.offset; });
  return report;
}

}  // namespace chimera::agent
