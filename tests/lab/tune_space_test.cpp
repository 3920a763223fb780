// The study space as a user writes it: lists and ranges, the errors a typo deserves, the prior
// system's grids, and the configurations that are the same in effect.
#include "lab/tune_space.h"

#include <gtest/gtest.h>

#include "lab/tune_spec.h"

namespace chimera::lab {
namespace {

std::vector<std::string> values(const std::string& assignment) {
  auto axis = parse_param(assignment);
  EXPECT_TRUE(axis.ok()) << axis.status().message();
  return axis.ok() ? axis->values : std::vector<std::string>{};
}

std::string error_of(const std::string& assignment) {
  auto axis = parse_param(assignment);
  EXPECT_FALSE(axis.ok()) << assignment << " was accepted";
  return axis.ok() ? "" : axis.status().message();
}

TEST(TuneSpace, ListsAndRangesExpandAsWritten) {
  EXPECT_EQ(values("num_ctx=1024,2048,4096"), (std::vector<std::string>{"1024", "2048", "4096"}));
  EXPECT_EQ(values("num_thread=1..4"), (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_EQ(values("num_batch=256..4096*2"),
            (std::vector<std::string>{"256", "512", "1024", "2048", "4096"}));
  // 0.2 + 4 x 0.2 is 1.0000000000000002 in binary: the range still ends at 1.
  EXPECT_EQ(values("temperature=0.2..1.0+0.2"),
            (std::vector<std::string>{"0.2", "0.4", "0.6", "0.8", "1"}));
  EXPECT_EQ(values("top_k=10..40+10"), (std::vector<std::string>{"10", "20", "30", "40"}));
  auto axis = parse_param("num-ctx=512");  // kebab case, as the flags are spelled
  ASSERT_TRUE(axis.ok());
  EXPECT_EQ(axis->name, "num_ctx");
  EXPECT_EQ(axis->knob, KnobClass::kLoad);
  auto threads = parse_param("threads=1,2");  // the embedded engine's word
  ASSERT_TRUE(threads.ok());
  EXPECT_EQ(threads->name, "num_thread");
  EXPECT_EQ(parse_param("temperature=0.2,0.8")->knob, KnobClass::kSampling);
  EXPECT_EQ(parse_param("typical_p=0.5,0.9")->name, "typical_p");  // any Ollama option
  EXPECT_EQ(parse_param("use_mmap=true,false")->knob, KnobClass::kLoad);
}

TEST(TuneSpace, BadInputNamesTheItemAndWhatToDo) {
  std::string unknown = error_of("num_ctxx=1,2");
  EXPECT_NE(unknown.find("num_ctxx"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("did you mean num_ctx"), std::string::npos) << unknown;
  std::string empty = error_of("num_ctx=");
  EXPECT_NE(empty.find("empty"), std::string::npos) << empty;
  std::string step0 = error_of("temperature=0.2..1.0+0");
  EXPECT_NE(step0.find("the step is 0"), std::string::npos) << step0;
  std::string factor1 = error_of("num_ctx=256..4096*1");
  EXPECT_NE(factor1.find("factor"), std::string::npos) << factor1;
  std::string reversed = error_of("num_thread=4..1");
  EXPECT_NE(reversed.find("below"), std::string::npos) << reversed;
  std::string twice = error_of("num_ctx=1024,1024");
  EXPECT_NE(twice.find("twice"), std::string::npos) << twice;
  std::string range = error_of("top_p=0.5,1.5");
  EXPECT_NE(range.find("top_p must be a number between 0 and 1, got 1.5"), std::string::npos) << range;
  std::string not_int = error_of("num_ctx=1024,2048.5");
  EXPECT_NE(not_int.find("num_ctx must be a positive integer"), std::string::npos) << not_int;
  EXPECT_NE(error_of("num_ctx").find("expected NAME=VALUES"), std::string::npos);
  EXPECT_NE(error_of("seed=1,2").find("not a tuning knob"), std::string::npos);
}

TEST(TuneSpace, PriorGridsAreReproduced) {
  auto tr108 = preset_space("tr108");
  ASSERT_TRUE(tr108.ok());
  EXPECT_EQ(grid_size(*tr108), 36);
  auto tr109 = preset_space("tr109");
  ASSERT_TRUE(tr109.ok());
  EXPECT_EQ(grid_size(*tr109), 18);
  auto unknown = preset_space("tr999");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("tr108, tr109"), std::string::npos);
}

TEST(TuneSpace, NumGpuAtOrAboveTheLayerCountIsOneConfiguration) {
  auto axes = preset_space("tr108");
  ASSERT_TRUE(axes.ok());
  // gemma3:4b has 34 blocks: Ollama offloads 35 layers, so 999, 80, 60 and 40 all mean "all".
  SpaceFacts facts;
  facts.layer_count = 34;
  facts.layer_source = "/api/show";
  auto configs = expand_space(*axes, facts);
  ASSERT_TRUE(configs.ok());
  ASSERT_EQ(configs->size(), 9u);  // 3 num_ctx x 3 temperature
  const Configuration& first = configs->front();
  EXPECT_EQ(first.equivalents.size(), 3u);
  EXPECT_NE(first.equivalents[0].find("num_gpu=80"), std::string::npos) << first.equivalents[0];
  EXPECT_NE(first.equivalents[0].find("offloads every layer"), std::string::npos);
  // A model with 48 blocks (49 layers): 60, 80 and 999 are one; 40 is a partial offload.
  facts.layer_count = 48;
  configs = expand_space(*axes, facts);
  ASSERT_TRUE(configs.ok());
  EXPECT_EQ(configs->size(), 18u);
  // On a CPU-only backend num_gpu does nothing at all.
  SpaceFacts cpu;
  cpu.cpu_only = true;
  configs = expand_space(*axes, cpu);
  ASSERT_TRUE(configs.ok());
  EXPECT_EQ(configs->size(), 9u);
  EXPECT_NE(configs->front().equivalents[0].find("runs on the CPU"), std::string::npos);
  // Unknown layer count: nothing is collapsed.
  configs = expand_space(*axes, SpaceFacts{});
  ASSERT_TRUE(configs.ok());
  EXPECT_EQ(configs->size(), 36u);
}

TEST(TuneSpace, LoadKeysHoldOnlyTheOptionsThatReload) {
  std::vector<ParamAxis> axes = {*parse_param("num_ctx=512,1024"), *parse_param("temperature=0.2,0.8"),
                                 *parse_param("num_thread=1,2")};
  SpaceFacts facts;
  facts.context_length = 768;  // 1024 is lowered to the trained 768
  auto configs = expand_space(axes, facts);
  ASSERT_TRUE(configs.ok());
  ASSERT_EQ(configs->size(), 8u);
  EXPECT_EQ((*configs)[0].label, "c01");
  EXPECT_EQ((*configs)[0].load_key, "num_ctx=512 num_thread=1");
  EXPECT_EQ((*configs)[1].load_key, "num_ctx=512 num_thread=2");
  EXPECT_EQ((*configs)[2].load_key, "num_ctx=512 num_thread=1");
  facts.context_length = 256;  // both lowered to 256: one configuration per other combination
  configs = expand_space(axes, facts);
  ASSERT_TRUE(configs.ok());
  EXPECT_EQ(configs->size(), 4u);
  EXPECT_NE(configs->front().equivalents[0].find("lowered"), std::string::npos);
  auto twice = expand_space({*parse_param("num_ctx=1,2"), *parse_param("num_ctx=3")}, SpaceFacts{});
  EXPECT_FALSE(twice.ok());
  EXPECT_FALSE(expand_space({}, SpaceFacts{}).ok());
}

TEST(TuneSpec, ConstraintsAndObjectivesParseWithTheirUnits) {
  auto ttft = parse_constraint("ttft_p95<500ms");
  ASSERT_TRUE(ttft.ok()) << ttft.status().message();
  EXPECT_EQ(ttft->metric, "ttft_ms");
  EXPECT_EQ(ttft->statistic, "p95");
  EXPECT_TRUE(ttft->less_than);
  EXPECT_DOUBLE_EQ(ttft->value, 500);
  auto seconds = parse_constraint("e2e < 2.5s");
  ASSERT_TRUE(seconds.ok());
  EXPECT_DOUBLE_EQ(seconds->value, 2500);
  auto rss = parse_constraint("rss<8GB");
  ASSERT_TRUE(rss.ok());
  EXPECT_EQ(rss->statistic, "max");
  EXPECT_DOUBLE_EQ(rss->value, 8e9);
  EXPECT_DOUBLE_EQ(parse_constraint("rss<2GiB")->value, 2.0 * 1024 * 1024 * 1024);
  auto tps = parse_constraint("decode_tps>20");
  ASSERT_TRUE(tps.ok());
  EXPECT_FALSE(tps->less_than);
  for (const char* bad : {"ttft_p95 500ms", "ttft_p42<5", "latency<5ms", "ttft<5GB", "ttft<abc"}) {
    auto c = parse_constraint(bad);
    EXPECT_FALSE(c.ok()) << bad;
    if (!c.ok()) {
      EXPECT_NE(c.status().message().find(bad), std::string::npos) << c.status().message();
    }
  }
  EXPECT_TRUE(parse_objective("decode_tps").ok());
  EXPECT_EQ(parse_objective("ttft")->metric, "ttft_ms");
  EXPECT_FALSE(parse_objective("speed").ok());
}

TEST(TuneSpec, RoundTripsThroughJsonForResume) {
  StudySpec spec;
  spec.name = "s";
  spec.backend = "embedded:m.gguf";
  spec.axes = {*parse_param("num_ctx=512,1024"), *parse_param("temperature=0.2..0.6+0.2")};
  spec.strategy = Strategy::kRace;
  spec.budget = 40;
  spec.objectives = {*parse_objective("decode_tps"), *parse_objective("ttft")};
  spec.constraints = {*parse_constraint("ttft_p95<500ms")};
  spec.prompts = {"a", "b"};
  auto back = spec_from_json(spec_to_json(spec));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(spec_to_json(*back), spec_to_json(spec));
  EXPECT_EQ(back->axes[1].values, (std::vector<std::string>{"0.2", "0.4", "0.6"}));
  StudySpec bad = spec;
  bad.repeat = 1;
  EXPECT_NE(validate_spec(bad).message().find("at least 2"), std::string::npos);
  bad = spec;
  bad.strategy = Strategy::kRandom;
  bad.budget.reset();
  EXPECT_NE(validate_spec(bad).message().find("--budget"), std::string::npos);
}

}  // namespace
}  // namespace chimera::lab
