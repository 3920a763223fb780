#include "agent/prompts.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/ingest_summary.h"
#include "agent/report_sections.h"
#include "util/strings.h"

namespace chimera::agent {
namespace {

// Rules shared by both calls: what the validator will check, said up front.
constexpr std::string_view kRules =
    "Rules:\n"
    "- Write in English only.\n"
    "- Every number you write must come from the FACTS or CONFIGURATION lists below and be "
    "followed "
    "by its id in square brackets, for example \"98.9 tok/s [S3]\". Do not compute new numbers "
    "unless you cite the ids they come from on the same line.\n"
    "- Never invent numbers, dates, names, projects, people, file paths or citations. The only "
    "dates you may write are today's date and dates in the facts.\n"
    "- Figures of kind \"expected\" were measured elsewhere by someone else: call them expected, "
    "never achieved.\n"
    "- num_gpu counts model layers offloaded to a GPU; it is not a number of GPUs.\n"
    "- Failed rows are counted; their values are not measurements.\n"
    "- No placeholders such as [Client Name] or TBD.";

int tier(const Fact& f) {
  switch (f.kind) {
    case FactKind::kConfig:
    case FactKind::kMeasured:
    case FactKind::kExpected:
    case FactKind::kInventory:
      return 0;
    case FactKind::kSummary:
      return f.label.find('=') == std::string::npos ? 1 : 2;
    case FactKind::kData:
      return 3;
  }
  return 4;
}

std::string configuration_block(const PromptContext& c) {
  std::string out = fmt::format(
      "CONFIGURATION IN FORCE for the {} agent (profile {}, model {}{}):\n", c.arm, c.profile_name,
      c.model, c.synthetic_model ? ", dummy weights: its text is not meaningful" : "");
  if (c.configuration.empty())
    out += "- no options were sent: every option is the backend's default\n";
  for (const auto& line : c.configuration) {
    if (line.value.empty()) {
      out += fmt::format("- {}: {} (value not reported)\n", line.name, line.source);
    } else if (line.fact_id.empty()) {
      out += fmt::format("- {} = {} ({})\n", line.name, line.value, line.source);
    } else {
      out += fmt::format("- {} = {} [{}] ({})\n", line.name, line.value, line.fact_id, line.source);
    }
  }
  return out;
}

// The program's notes of one section (or every section when `only` is empty), within the budget.
std::string notes_block(const PromptContext& c, std::string_view only) {
  std::string out;
  size_t used = 0;
  for (const auto& [title, lines] : c.section_notes) {
    if (!only.empty() && title != only) continue;
    if (lines.empty()) continue;
    std::string block = "### " + title + "\n";
    for (const auto& line : lines) {
      // Half the budget at most: the notes and the fact list share it, so the prompt keeps its
      // size (a baseline on Ollama's default num_ctx of 2048 must not be cut).
      if (used + line.size() > c.fact_budget_chars / 2) break;
      block += "- " + line + "\n";
      used += line.size();
    }
    out += block;
  }
  if (out.empty()) return "";
  return "WHAT THE PROGRAM FOUND IN THE DATA, per section (true statements with fact ids; explain "
         "them, never contradict them):\n" +
         out + "\n";
}

std::string analysis_excerpt(std::string_view analysis_text) {
  std::string_view t = trim(analysis_text);
  return t.empty() ? std::string("(empty)") : std::string(t);
}

std::string context_block(const PromptContext& c, std::vector<std::string>& fact_ids,
                          size_t notes_chars = 0) {
  std::string out = fmt::format("Today is {}.\n\n", c.today_iso);
  if (c.ingest) {
    out += fmt::format("DATA FOLDER: {} files found, {} parsed.\n", c.ingest->files.size(),
                       c.ingest->parsed_files());
    for (const auto& line : ingestion_lines(*c.ingest)) out += "- " + line + "\n";
    out += "\n";
  }
  out += configuration_block(c) + "\n";
  out += "FACTS (id, value, kind, metric, what it describes, source):\n";
  if (c.facts) {
    size_t budget = c.fact_budget_chars > notes_chars ? c.fact_budget_chars - notes_chars : 0;
    for (const Fact* f : select_facts(*c.facts, budget)) {
      out += FactsTable::prompt_line(*f) + "\n";
      fact_ids.push_back(f->id);
    }
  }
  return out;
}

std::string system_text(std::string_view role) {
  return fmt::format(
      "You are {} for people who run large language models on their own machines. {}", role,
      kRules);
}

}  // namespace

const std::vector<std::string>& report_section_titles() {
  static const std::vector<std::string> kTitles = {"Executive Summary",
                                                   "Chimera Configuration Analysis",
                                                   "Data Ingestion Summary",
                                                   "Performance Analysis",
                                                   "Key Findings",
                                                   "Recommendations",
                                                   "Appendix"};
  return kTitles;
}

size_t Prompt::chars() const {
  size_t n = 0;
  for (const auto& m : messages) n += m.content.size();
  return n;
}

std::vector<const Fact*> select_facts(const FactsTable& facts, size_t budget_chars) {
  std::vector<const Fact*> ordered;
  for (const auto& f : facts.facts()) ordered.push_back(&f);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const Fact* a, const Fact* b) { return tier(*a) < tier(*b); });
  std::vector<const Fact*> chosen;
  size_t used = 0;
  for (const Fact* f : ordered) {
    size_t cost = FactsTable::prompt_line(*f).size() + 1;
    if (used + cost > budget_chars) {
      if (tier(*f) == 0) {  // run facts always go in: they are what the report is about
        chosen.push_back(f);
        used += cost;
      }
      continue;
    }
    chosen.push_back(f);
    used += cost;
  }
  // Back to the table's order (ids ascending within a kind) so the list reads naturally.
  std::stable_sort(chosen.begin(), chosen.end(),
                   [&](const Fact* a, const Fact* b) { return a < b; });
  return chosen;
}

Prompt warmup_prompt() {
  Prompt p;
  p.messages = {
      {"system", system_text("a performance engineer analysing LLM inference benchmarks")},
      {"user", "Reply with one word: ready."}};
  return p;
}

Prompt role_prompt(const PromptContext& c, std::string_view persona, std::string_view task) {
  Prompt p;
  std::string user = context_block(c, p.fact_ids);
  user += "\nTASK: " + std::string(task) +
          "\nDo not write a title, a date line or an author line: the program adds the header.";
  std::string system = persona.empty() ? system_text("an analyst of LLM inference benchmarks")
                                       : std::string(persona) +
                                             " You work for people who run large language "
                                             "models on their own machines. " +
                                             std::string(kRules);
  p.messages = {{"system", std::move(system)}, {"user", std::move(user)}};
  return p;
}

Prompt analysis_prompt(const PromptContext& c) {
  Prompt p;
  std::string user = context_block(c, p.fact_ids);
  user +=
      "\nTASK: List 5 to 8 observations about this benchmark data: the fastest and slowest "
      "configurations, the effect of quantization and of the options, the failures, and what the "
      "data does not show. One line each, starting with \"- \", each citing the fact ids it uses. "
      "No introduction and no conclusion.";
  p.messages = {
      {"system", system_text("a performance engineer analysing LLM inference benchmarks")},
      {"user", std::move(user)}};
  return p;
}

Prompt report_prompt(const PromptContext& c, std::string_view analysis_text) {
  Prompt p;
  std::string notes = notes_block(c, "");
  std::string user = context_block(c, p.fact_ids, notes.size());
  user +=
      "\nANALYSIS from the previous step (check it against the facts; drop anything "
      "unsupported):\n";
  user += analysis_excerpt(analysis_text) + "\n\n" + notes;
  if (c.json_output) {
    user +=
        "TASK: Write the prose of a technical report as one JSON object {\"sections\": "
        "[{\"title\", "
        "\"text\", \"facts\"}]}, one element per section, with these titles in this order:\n";
  } else {
    user +=
        "TASK: Write the body of a technical report in Markdown with exactly these sections, each "
        "a \"## \" heading, in this order:\n";
  }
  for (const auto& title : prose_section_titles()) user += "## " + title + "\n";
  if (c.json_output) {
    user +=
        "\"text\" is the section's Markdown prose; \"facts\" lists the fact ids the text cites.\n";
  }
  user += fmt::format(
      "\nGuidance:\n"
      "- Executive Summary: 3 to 5 sentences: what data was analysed, the main findings, and this "
      "run's measured performance [M ids] next to the expected figures [E ids], labelled "
      "expected.\n"
      "- Chimera Configuration Analysis: each option of the {} agent's configuration, what it "
      "does, "
      "and whether it was sent or left to the backend default. Call nothing optimal that the data "
      "does not show to be.\n"
      "- Data Ingestion Summary: the files, rows and failed rows, citing [I ids].\n"
      "- Performance Analysis: this run's measured figures and the data's figures, with ids.\n"
      "- Key Findings: 3 to 6 bullet points with ids.\n"
      "- Recommendations: 3 to 5 bullet points from the program's recommendations above, each "
      "naming the measurement behind it, as proposals to test.\n"
      "Do not write a title, a date line or an author line: the program adds the header.",
      c.arm);
  p.messages = {{"system", system_text("a technical writer producing grounded benchmark reports")},
                {"user", std::move(user)}};
  return p;
}

Prompt section_prompt(const PromptContext& c, std::string_view analysis_text,
                      const std::string& title) {
  Prompt p;
  std::string notes = notes_block(c, title);
  std::string user = context_block(c, p.fact_ids, notes.size());
  user +=
      "\nANALYSIS from the previous step (check it against the facts; drop anything "
      "unsupported):\n";
  user += analysis_excerpt(analysis_text) + "\n\n" + notes;
  user += fmt::format(
      "TASK: Write the \"{}\" section of a technical report about this benchmark data for the {} "
      "agent: 2 to 5 sentences of prose (bullets for Key Findings and Recommendations) that "
      "explain "
      "what the program found above, each number followed by its fact id. {}No heading, no "
      "title, no date line.",
      title, c.arm,
      c.json_output ? "Answer with one JSON object {\"text\", \"facts\"}: the prose, and the fact "
                      "ids it cites. "
                    : "");
  p.messages = {{"system", system_text("a technical writer producing grounded benchmark reports")},
                {"user", std::move(user)}};
  return p;
}

}  // namespace chimera::agent
