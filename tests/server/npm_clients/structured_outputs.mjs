// Structured-output calls of the official npm clients against a running `chimera serve`, the way
// their READMEs show them. Prints one JSON object: the clients' versions, the model names each
// client lists, and the answer texts of each kind of call (the C++ test validates them against the
// schema with an independent validator). Any exception fails the run with exit code 1.
// Usage: node structured_outputs.mjs http://127.0.0.1:PORT SCHEMA.json
import { readFileSync } from 'node:fs';
import { Ollama } from 'ollama';
import OpenAI from 'openai';

const [host, schemaPath] = process.argv.slice(2);
const schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
const version = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
const out = { versions: { ollama: version('ollama'), openai: version('openai'), node: process.version }, names: {} };
const push = (key, text) => (out[key] ??= []).push(text);

const ollama = new Ollama({ host });
const openai = new OpenAI({ baseURL: `${host}/v1`, apiKey: 'not-needed' });

out.names.ollama = (await ollama.list()).models.map((m) => m.name);
out.names.openai = (await openai.models.list()).data.map((m) => m.id);
const model = out.names.ollama[0];
const messages = [{ role: 'user', content: 'Summarize the benchmark as JSON.' }];

for (let seed = 1; seed <= 5; ++seed) {
  const options = { temperature: 1, seed, num_predict: 160 };
  push('ollama_generate', (await ollama.generate({ model, prompt: 'Summarize as JSON.', format: schema, options })).response);
  push('ollama_chat', (await ollama.chat({ model, messages, format: schema, options })).message.content);
  let streamed = '';
  for await (const part of await ollama.chat({ model, messages, format: schema, options, stream: true })) {
    streamed += part.message.content;
  }
  push('ollama_chat_stream', streamed);
  push('ollama_json', (await ollama.generate({ model, prompt: 'JSON please', format: 'json', options })).response);

  const response_format = { type: 'json_schema', json_schema: { name: 'summary', schema, strict: true } };
  const params = { model, messages, temperature: 1, seed, max_tokens: 160 };
  push('openai_create', (await openai.chat.completions.create({ ...params, response_format })).choices[0].message.content);
  let chunks = '';
  for await (const chunk of await openai.chat.completions.create({ ...params, response_format, stream: true })) {
    chunks += chunk.choices[0]?.delta?.content ?? '';
  }
  push('openai_stream', chunks);
  // The client's own parsing helper: it JSON.parses the content into message.parsed.
  const parsed = await openai.chat.completions.parse({ ...params, response_format });
  push('openai_parse', JSON.stringify(parsed.choices[0].message.parsed));
  push('openai_json_object',
       (await openai.chat.completions.create({ ...params, response_format: { type: 'json_object' } })).choices[0].message.content);
}
process.stdout.write(JSON.stringify(out) + '\n');
