#include "agent/section_notes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "util/strings.h"

namespace chimera::agent {
namespace {

constexpr size_t kKeyFindings = 8;

std::string citation(const DataFinding& f) {
  std::vector<std::string> ids;
  for (const auto& id : f.fact_ids) {
    if (!id.empty()) ids.push_back(id);
  }
  return ids.empty() ? "" : " [" + join(ids, ", ") + "]";
}

void add_topic(SectionNotes& notes, const std::vector<DataFinding>& findings,
               std::initializer_list<FindingTopic> topics, size_t limit = 12) {
  size_t added = 0;
  for (const DataFinding* f : findings_of(findings, topics)) {
    if (added++ >= limit) break;
    notes.lines.push_back(f->text + " " + support_tag(*f));
  }
}

// The option effects worth a recommendation: one line per option and metric, strongest first.
std::vector<const DataFinding*> effects(const std::vector<DataFinding>& findings, Support support) {
  std::vector<const DataFinding*> out;
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kOptionEffect})) {
    if (f->support == support) out.push_back(f);
  }
  std::stable_sort(out.begin(), out.end(), [](const DataFinding* a, const DataFinding* b) {
    return a->weight > b->weight;
  });
  return out;
}

const EffectLevel* best_level(const DataFinding& f, bool higher_is_better) {
  const EffectLevel* best = nullptr;
  for (const auto& l : f.levels) {
    if (!best || (higher_is_better ? l.mean > best->mean : l.mean < best->mean)) best = &l;
  }
  return best;
}

}  // namespace

std::string first_sentence(const std::string& text) {
  // A sentence ends at ". " followed by a capital letter (numbers such as "3.4%" do not end one).
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    if (text[i] == '.' && text[i + 1] == ' ' &&
        std::isupper(static_cast<unsigned char>(text[i + 2])))
      return text.substr(0, i + 1);
  }
  return text;
}

std::string support_tag(const DataFinding& f) {
  return "(" + std::string(support_name(f.support)) + ")";
}

std::vector<SectionNotes> data_section_notes(const std::vector<DataFinding>& findings,
                                             const std::vector<ConfigLine>& configuration) {
  std::vector<SectionNotes> out;
  for (const auto& title : report_section_titles()) out.push_back({title, {}});
  auto section = [&](std::string_view title) -> SectionNotes& {
    for (auto& s : out) {
      if (s.title == title) return s;
    }
    return out.back();
  };
  // Executive Summary: the first sentence of the three strongest findings (Key Findings has them
  // whole; a line said three times in a report reads as a loop).
  for (const DataFinding* f : key_findings(findings, 3)) {
    section("Executive Summary").lines.push_back(first_sentence(f->text));
  }
  // Configuration: what the data says about the options this arm sets.
  std::set<std::string> set_options;
  for (const auto& l : configuration) {
    if (l.source.rfind("sent", 0) == 0) set_options.insert(l.name);
  }
  SectionNotes& config = section("Chimera Configuration Analysis");
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kOptionEffect})) {
    if (set_options.count(f->option)) config.lines.push_back(f->text + " " + support_tag(*f));
  }
  add_topic(config, findings, {FindingTopic::kExpected});
  if (config.lines.empty()) {
    config.lines.push_back(
        "The data holds no rows that vary the options this agent sets, so it says nothing about "
        "their effect.");
  }
  SectionNotes& ingestion = section("Data Ingestion Summary");
  add_topic(ingestion, findings,
            {FindingTopic::kReplicates, FindingTopic::kFailure, FindingTopic::kTruncation});
  SectionNotes& performance = section("Performance Analysis");
  add_topic(performance, findings, {FindingTopic::kBestWorst});
  add_topic(performance, findings, {FindingTopic::kModelComparison}, 6);
  add_topic(performance, findings, {FindingTopic::kColdStart, FindingTopic::kOutlier}, 8);
  add_topic(performance, findings, {FindingTopic::kContradiction}, 8);
  // Headed by their topic: the same finding stands in its own section too.
  for (const DataFinding* f : key_findings(findings, kKeyFindings)) {
    section("Key Findings")
        .lines.push_back("**" + std::string(finding_topic_name(f->topic)) + ":** " + f->text + " " +
                         support_tag(*f));
  }
  section("Recommendations").lines = data_recommendations(findings);
  return out;
}

std::vector<std::string> data_recommendations(const std::vector<DataFinding>& findings) {
  std::vector<std::string> out;
  std::set<std::string> said;  // one recommendation per option
  for (const DataFinding* f : effects(findings, Support::kSupported)) {
    if (!said.insert(f->option).second) continue;
    bool higher = f->metric == "decode_tps" || f->metric == "prefill_tps";
    const EffectLevel* best = best_level(*f, higher);
    if (!best) continue;
    out.push_back(fmt::format(
        "Set {} = {} where {} matters: in {} it gives the best {}, a difference larger than the "
        "replicate spread{}.",
        f->option, best->value, f->metric, f->dataset, f->metric, citation(*f)));
  }
  for (const DataFinding* f : effects(findings, Support::kNotSupported)) {
    if (!said.insert(f->option).second) continue;
    out.push_back(fmt::format(
        "Choose {} for reasons other than {}: in {} its effect is within the replicate spread, "
        "and the data could only have seen a larger one{}.",
        f->option, f->metric, f->dataset, citation(*f)));
  }
  std::set<std::string> untold;
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kReplicates})) {
    if (f->support != Support::kCannotTell || !untold.insert(f->dataset).second) continue;
    out.push_back(fmt::format(
        "Rerun {} with at least 3 repetitions per configuration, interleaved: with one sample "
        "each, its differences cannot be told from run-to-run noise{}.",
        f->dataset, citation(*f)));
  }
  auto cold = findings_of(findings, {FindingTopic::kColdStart});
  if (!cold.empty()) {
    out.push_back(fmt::format(
        "Discard a warm-up call after every model load (and after every change of num_ctx or "
        "num_gpu, which reloads the model in Ollama) before timing: {} cold call{} in the data "
        "put the load inside TTFT{}.",
        cold.size(), cold.size() == 1 ? "" : "s", citation(*cold.front())));
  }
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kFailure})) {
    out.push_back(fmt::format(
        "Fix or avoid the settings that failed in {} before comparing it (failed rows are not "
        "zeros){}.",
        f->dataset, citation(*f)));
  }
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kTruncation})) {
    out.push_back(fmt::format(
        "Size num_ctx from the prompt (at least prompt tokens + num_predict; num_ctx = \"auto\" "
        "in a Chimera profile): rows of {} cut the prompt{}.",
        f->dataset, citation(*f)));
  }
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kContradiction})) {
    if (f->support == Support::kNotSupported) continue;
    out.push_back(fmt::format(
        "Record machine, driver, Ollama version and options with every result: {} disagree for "
        "the same model{}.",
        f->dataset, citation(*f)));
    break;  // one such recommendation is enough
  }
  for (const DataFinding* f : findings_of(findings, {FindingTopic::kExpected})) {
    if (f->fact_ids.empty()) continue;
    out.push_back(fmt::format(
        "Read a profile's expected figure as context from other hardware, not as a target for "
        "this machine{}.",
        citation(*f)));
    break;
  }
  return out;
}

}  // namespace chimera::agent
