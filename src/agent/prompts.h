// The agent's two prompts (prior-system.md: analyse, then write the report), built so the model can
// ground every number: the facts with ids, this run's measured figures with their provenance, and
// the configuration actually in force (sent vs backend default). The model is asked to cite fact
// ids; the validator checks the answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "agent/facts.h"
#include "agent/ingest.h"
#include "llm/types.h"

namespace chimera::agent {

// The sections the LLM writes, in order (the prior system's report, kept section for section).
const std::vector<std::string>& report_section_titles();

// One option of the configuration in force: "num_ctx", "4096", "sent" | "backend default" | ...
struct ConfigLine {
  std::string name;
  std::string value;    // "" when unknown (a backend default the backend did not report)
  std::string source;   // "sent", "backend default", "model default"
  std::string fact_id;  // the C fact for the value, when there is one
};

struct PromptContext {
  const IngestResult* ingest = nullptr;
  const FactsTable* facts = nullptr;
  std::string today_iso;
  std::string arm;           // "baseline" or "chimera"
  std::string profile_name;  // "baseline", "chimera-gemma3"
  std::string model;         // "gemma3:latest", a GGUF path, ...
  bool synthetic_model = false;
  std::vector<ConfigLine> configuration;
  size_t fact_budget_chars = 3500;  // facts beyond this are left out (summaries first)
  // What the program writes in each section (title, lines citing [ids]); the model writes prose
  // from these. Empty: the prompts ask for the sections from the facts alone.
  std::vector<std::pair<std::string, std::vector<std::string>>> section_notes;
  bool json_output = false;  // the backend honours Request::output_schema: ask for JSON
};

struct Prompt {
  std::vector<llm::Message> messages;  // system + user; the backend applies its chat template
  std::vector<std::string> fact_ids;   // the facts the prompt listed
  size_t chars() const;
};

// Call 1: observations from the data, each citing fact ids.
Prompt analysis_prompt(const PromptContext& context);
// Call 2: the report, in the seven sections, from the analysis and the same facts.
Prompt report_prompt(const PromptContext& context, std::string_view analysis_text);
// Call 2 split in one call per section: the prose of `title` alone, from that section's notes.
Prompt section_prompt(const PromptContext& context, std::string_view analysis_text,
                      const std::string& title);

// A role's single call (`chimera agents`): the role's persona, the same rules, facts and
// configuration as the two calls above, and the role's task.
Prompt role_prompt(const PromptContext& context, std::string_view persona, std::string_view task);

// The warm-up call: a short prompt that loads the model and warms its buffers for this arm's
// options without prefilling the long prompt (which a server could then serve from a prefix cache,
// favouring the arm that runs second).
Prompt warmup_prompt();

// The facts a prompt lists within `budget_chars`: configuration, measured and expected figures and
// inventory first, then column summaries, then configuration means, then data cells.
std::vector<const Fact*> select_facts(const FactsTable& facts, size_t budget_chars);

}  // namespace chimera::agent
