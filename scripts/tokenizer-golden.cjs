// Produces tests/engine/fixtures/tokenizer_golden.json: token ids from an independent tokenizer
// implementation (@lenml/tokenizers 3.7.2, a transformers.js fork) over a varied corpus, for the real
// Gemma 3 / Llama 3 / Llama 3.1 / Qwen3 / Qwen2.5 / gpt-oss vocabularies fetched by scripts/fetch-vocab.sh.
// Qwen's tokenizer.json normalizes to NFC before splitting; llama.cpp (whose ids the engine
// reproduces) does not, so for the Qwen families a case whose text NFC changes is recorded as null
// (not compared) instead of carrying ids llama.cpp would not produce.
// Run through scripts/make-tokenizer-golden.sh, which installs the package outside the repository.
// Usage: node tokenizer-golden.cjs <node_modules/@lenml/tokenizers> <vocab dir> <out.json>
"use strict";
const fs = require("fs");
const path = require("path");

const [libDir, vocabDir, outPath] = process.argv.slice(2);
const { TokenizerLoader } = require(path.resolve(libDir));

const longParagraph = [
  "Benchmarks measured on a Xeon with two cores show that prefill throughput scales almost linearly",
  "with batch size until the memory bandwidth saturates, after which the tokens-per-second figure",
  "flattens. We repeated each run 5 times (median of 5, p99 latency 183.4 ms) and report",
  "the 95% confidence interval. Temperatures of 0.2, 0.7 and 1.0 were compared; the tuned",
  "configuration (num_ctx=4096, num_batch=512) was 1.37x faster than the baseline.",
].join(" ");

// Each entry: a label and a text. Every family encodes every text.
const corpus = [
  ["hello", "Hello world"],
  ["pangram", "The quick brown fox jumps over the lazy dog."],
  ["stack_md_mixed", "  café 123456 naïve\n\ttabs 🤖"],
  ["empty", ""],
  ["single_space", " "],
  ["leading_spaces", "   leading spaces"],
  ["trailing_spaces", "trailing spaces   "],
  ["space_runs", "a  b   c    d     e      f"],
  ["long_space_run", "x" + " ".repeat(40) + "y"],
  ["tabs_newlines", "line one\nline two\n\n\tindented\r\nwindows line\r\n"],
  ["newline_runs", "a\n\n\n\nb\n\n\n\n\n\n\n\n\nc"],
  ["mixed_ws", " \t \n \u00a0 \u3000 end"],
  ["digits", "0 1 12 123 1234 12345 123456789 3.14159 1,000,000 2024-06-30"],
  ["contractions", "I'm sure they'll say we've done what you'd've thought; DON'T, WE'RE, she'S, it'd"],
  ["punctuation", "Wait... what?!? (yes) [no] {maybe} <ok> \"quoted\" 'single' -- — – … ¿¡"],
  ["url_email", "See https://example.com/path?q=1&r=two#frag or mail user.name+tag@example.org."],
  ["french", "Le cœur a ses raisons que la raison ne connaît point. À bientôt, garçon!"],
  ["german", "Größenordnung, Straße, Äpfel und Übermut: schön."],
  ["russian", "Съешь же ещё этих мягких французских булок, да выпей чаю."],
  ["greek", "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία."],
  ["chinese", "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧！"],
  ["japanese", "私はガラスを食べられます。それは私を傷つけません。カタカナとひらがな"],
  ["korean", "나는 유리를 먹을 수 있어요. 그래도 아프지 않아요"],
  ["arabic", "أنا قادر على أكل الزجاج و هذا لا يؤلمني."],
  ["hebrew", "אני יכול לאכול זכוכית וזה לא מזיק לי."],
  ["hindi", "मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती."],
  ["thai", "ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ"],
  ["emoji", "🤖🚀 (normal) 😶‍🌫️ (zwj) ✅ 🦙🦙 👍🏽 🇫🇷 🏳️‍🌈 ❤️"],
  ["combining", "e\u0301 a\u0300 n\u0303 o\u0308 — cafe\u0301 vs café"],
  ["zero_width", "zero\u200bwidth\u200djoiner\ufeffbom"],
  ["math", "∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = π·r², √2 ≈ 1.414, ∞ ≠ ∅"],
  ["code_cpp", "int main(int argc, char** argv) {\n  for (int i = 0; i < argc; ++i) {\n    std::printf(\"%s\\n\", argv[i]);\n  }\n  return 0;\n}\n"],
  ["code_python", "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n"],
  ["json", "{\"model\": \"gemma3:4b\", \"options\": {\"num_ctx\": 4096, \"temperature\": 0.7}, \"stream\": true}"],
  ["html", "<table><tr><td>cell</td></tr></table> <h1>Title</h1> <br/>"],
  ["gemma_specials", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"],
  ["gemma_specials_glued", "text<bos>more<eos>end<start_of_turn>x"],
  ["llama_specials", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"],
  ["llama_specials_glued", "a<|eot_id|>b<|end_of_text|> c"],
  ["chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"],
  ["qwen_think_tools", "<think>\nplan\n</think>\n\n<tool_call>\n{\"name\": \"f\"}\n</tool_call><|endoftext|>"],
  ["qwen_fim", "<|fim_prefix|>def f(x):<|fim_suffix|>    return x<|fim_middle|>"],
  ["fake_specials", "<start_of_turn <|eot_id| <|notatoken|> <unused5> <mask>"],
  ["repeated_chars", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa !!!!!!!!!!!!!!!! ----------------"],
  ["mixed_scripts", "GPU加速 with CUDA™ — 速度 2.5× faster; naïve Bayes über alles 🙂"],
  ["long_paragraph", longParagraph],
  ["harmony", "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>Hello!<|return|>"],
  ["letter_case_words", "HTTPServer parseJSON camelCaseWord \u00c4pfelB\u00e4ume McDONALD's IPv6 /usr/bin\n"],
];

function load(family) {
  const dir = path.join(vocabDir, family);
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
}

const libVersion = require(path.join(path.resolve(libDir), "package.json")).version;
const out = {
  generator: "scripts/tokenizer-golden.cjs",
  reference: `@lenml/tokenizers ${libVersion}, node ${process.version}`,
  vocab: "@lenml/tokenizer-{gemma3,llama3,llama3_1,qwen3,qwen2_5,gptoss}@3.7.2 models/tokenizer.json",
  note: "encode(text, {add_special_tokens: true}); added tokens are always matched (parse_special on)",
  cases: corpus.map(([name, text]) => ({ name, text })),
};
for (const family of ["gemma3", "llama3", "llama3_1", "qwen3", "qwen2_5", "gptoss"]) {
  const tok = load(family);
  const nfc_sensitive = family.startsWith("qwen");
  out.cases.forEach((c) => {
    c[family] = nfc_sensitive && c.text.normalize("NFC") !== c.text
        ? null
        : Array.from(tok.encode(c.text, { add_special_tokens: true }));
  });
}
// One line per case keeps the fixture diff-able.
const lines = out.cases.map((c) => "    " + JSON.stringify(c));
const header = JSON.stringify({ ...out, cases: undefined }, null, 2).replace(/\n}$/, "");
fs.writeFileSync(outPath, header + ",\n  \"cases\": [\n" + lines.join(",\n") + "\n  ]\n}\n");
console.log(`wrote ${out.cases.length} cases to ${outPath}`);
