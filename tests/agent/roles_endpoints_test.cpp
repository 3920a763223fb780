// Roles (the shipped files, their built-in copies, errors a user can act on) and the endpoint
// assignment policies of `chimera agents`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/endpoints.h"
#include "agent/roles.h"
#include "agent/shared_server_backend.h"
#include "support/test_support.h"

namespace chimera::agent {
namespace {

TEST(Roles, BuiltInCopiesMatchTheShippedFiles) {
  for (const auto& name : builtin_role_names()) {
    std::string path = chimera::testing::source_dir() + "/roles/" + name + ".toml";
    auto file = load_role_file(path);
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto text = builtin_role_text(name);
    ASSERT_TRUE(text.has_value()) << name;
    auto builtin = parse_role(*text, "built-in");
    ASSERT_TRUE(builtin.ok()) << builtin.status().message();
    EXPECT_EQ(file->name, builtin->name);
    EXPECT_EQ(file->description, builtin->description);
    EXPECT_EQ(file->profile, builtin->profile);
    EXPECT_EQ(file->workflow, builtin->workflow);
    EXPECT_EQ(file->num_predict, builtin->num_predict);
    EXPECT_EQ(file->analysis_num_predict, builtin->analysis_num_predict);
    EXPECT_EQ(file->persona, builtin->persona);
    EXPECT_EQ(file->task, builtin->task);
    EXPECT_EQ(file->sections, builtin->sections);
  }
}

TEST(Roles, ThePriorSystemsPersonasAndTheRunReporter) {
  auto collector = find_role("data-collector");
  auto insight = find_role("insight");
  auto reporter = find_role("reporter");
  ASSERT_TRUE(collector.ok() && insight.ok() && reporter.ok());
  EXPECT_EQ(collector->workflow, Workflow::kSingle);
  EXPECT_NE(collector->task.find("under 250 words"), std::string::npos);
  EXPECT_NE(insight->task.find("300 to 400 words"), std::string::npos);
  EXPECT_EQ(insight->sections,
            (std::vector<std::string>{"Executive Summary", "Recommendations", "Risks"}));
  EXPECT_EQ(reporter->workflow, Workflow::kAnalysisReport);
  EXPECT_EQ(reporter->calls_per_execution(), 2);
  EXPECT_EQ(reporter->sections.size(), 7u);
}

TEST(Roles, ErrorsNameTheFileTheKeyAndTheFix) {
  auto bad_workflow = parse_role("name = \"x\"\nworkflow = \"three_calls\"\n", "x.toml");
  ASSERT_FALSE(bad_workflow.ok());
  EXPECT_NE(bad_workflow.status().message().find("x.toml: workflow 'three_calls'"),
            std::string::npos);
  auto persona = parse_role("workflow = \"analysis_report\"\npersona = \"p\"\n", "x.toml");
  ASSERT_FALSE(persona.ok());
  EXPECT_NE(persona.status().message().find("single-call roles"), std::string::npos);
  auto no_task = parse_role("name = \"x\"\n", "x.toml");
  ASSERT_FALSE(no_task.ok());
  EXPECT_NE(no_task.status().message().find("task"), std::string::npos);
  auto cap = parse_role("task = \"t\"\nnum_predict = -3\n", "x.toml");
  ASSERT_FALSE(cap.ok());
  EXPECT_NE(cap.status().message().find("num_predict"), std::string::npos);
  auto typo = parse_role("task = \"t\"\npersonna = \"p\"\n", "x.toml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown key 'personna'"), std::string::npos);
  auto missing = find_role("nobody");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("data-collector, insight, reporter"),
            std::string::npos);
}

TEST(Roles, AUserRoleFileIsFoundByPath) {
  chimera::testing::TempDir dir;
  std::ofstream(dir.file("critic.toml"))
      << "name = \"critic\"\npersona = \"You are Critic.\"\ntask = \"List weaknesses.\"\n"
         "num_predict = 64\nsections = [\"Weaknesses\"]\n";
  auto role = find_role(dir.file("critic.toml"));
  ASSERT_TRUE(role.ok()) << role.status().message();
  EXPECT_EQ(role->num_predict, 64);
  EXPECT_EQ(missing_role_sections(*role, "# Report\n## weaknesses of the data\n- a\n").size(), 0u);
  EXPECT_EQ(missing_role_sections(*role, "Weaknesses are many.\n").size(), 1u);  // not a heading
}

std::unique_ptr<EndpointSet> three_endpoints() {
  std::vector<std::unique_ptr<llm::Backend>> backends;
  std::vector<std::string> specs;
  for (int i = 0; i < 3; ++i) {
    backends.push_back(std::make_unique<testing::SharedServerBackend>(
        testing::SharedServerBackend::Mode::kParallel, 0.5, "e" + std::to_string(i)));
    specs.push_back("ollama://127.0.0.1:1143" + std::to_string(i) + "/m");
  }
  return std::make_unique<EndpointSet>(std::move(backends), std::move(specs));
}

TEST(Endpoints, PinningSendsAgentIToEndpointIModK) {
  auto set = three_endpoints();
  for (size_t agent = 0; agent < 7; ++agent) {
    size_t e = set->acquire(agent, Assignment::kPin);
    EXPECT_EQ(e, agent % 3);
    set->release(e, true);
  }
  auto backend = set->agent_backend(4, Assignment::kPin);
  llm::Request request;
  request.options.num_predict = 2;
  EXPECT_EQ(backend->generate(request).backend, "fake://e1");
}

TEST(Endpoints, RoundRobinTakesTurnsWhateverTheAgent) {
  auto set = three_endpoints();
  std::vector<size_t> seen;
  for (int call = 0; call < 6; ++call) {
    size_t e = set->acquire(0, Assignment::kRoundRobin);
    seen.push_back(e);
    set->release(e, true);
  }
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(Endpoints, LeastOutstandingPicksTheIdlestEndpoint) {
  auto set = three_endpoints();
  size_t a = set->acquire(0, Assignment::kLeastOutstanding);  // 0 (all idle: lowest index)
  size_t b = set->acquire(1, Assignment::kLeastOutstanding);  // 1
  size_t c = set->acquire(2, Assignment::kLeastOutstanding);  // 2
  EXPECT_EQ((std::vector<size_t>{a, b, c}), (std::vector<size_t>{0, 1, 2}));
  set->release(1, true);
  EXPECT_EQ(set->acquire(3, Assignment::kLeastOutstanding), 1u);  // the one that finished
  set->release(0, false);
  auto stats = set->stats();
  EXPECT_EQ(stats[1].calls, 2);
  EXPECT_EQ(stats[0].failed, 1);
  EXPECT_EQ(stats[0].max_outstanding, 1);
  EXPECT_EQ(stats[2].spec, "ollama://127.0.0.1:11432/m");
}

TEST(Endpoints, UnknownPolicyIsAClearError) {
  auto a = parse_assignment("random");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("pin"), std::string::npos);
  EXPECT_EQ(*parse_assignment("least-outstanding"), Assignment::kLeastOutstanding);
}

}  // namespace
}  // namespace chimera::agent
