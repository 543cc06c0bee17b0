// openai_client.mjs — drives `slm serve` with the official `openai` npm
// client (a client we did not write), for tests/cli_serve_openai.sh.
// usage: node openai_client.mjs BASE_URL OPENAI_PACKAGE_DIR SERVED_MODEL_ID N_EMBD [TOOLCALL=0|1]
// Checks: models.list; chat (non-streaming, and streaming whose deltas
// concatenate to the same greedy text with a finish_reason); completions
// (both ways); embeddings (the client's default base64 decoding, unit
// length); response_format json_schema; tool calls (forced by a schema, by
// tool_choice "required" and by a named function; streamed deltas assembled
// by hand and by the client's stream helper); a 400 surfaces as the client's
// APIError. Prints "ok ..." lines,
// exits 1 on the first failure.
import { createRequire } from 'node:module';
import path from 'node:path';

const [baseURL, pkgDir, servedId, nEmbdArg, toolCallArg] = process.argv.slice(2);
const require = createRequire(path.join(pkgDir, 'package.json'));
const OpenAI = require('openai').default ?? require('openai');
const client = new OpenAI({ baseURL, apiKey: 'sk-test-any', maxRetries: 0, timeout: 120000 });
const nEmbd = Number(nEmbdArg);

function check(cond, what, detail) {
  if (!cond) {
    console.error(`FAIL: ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail).slice(0, 400)}`);
    process.exit(1);
  }
  console.log(`ok   ${what}`);
}

const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === servedId, 'models.list names the served model', models.data);

const messages = [{ role: 'user', content: 'Tell me a story about a cat.' }];
const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, max_tokens: 24, temperature: 0 });
const text = chat.choices[0].message.content;
check(typeof text === 'string' && chat.choices[0].message.role === 'assistant', 'chat returns assistant text', chat);
check(['stop', 'length'].includes(chat.choices[0].finish_reason), 'chat finish_reason', chat.choices[0]);
check(chat.model === servedId, 'any requested model name is answered by the served model', chat.model);
check(chat.usage.completion_tokens > 0 && chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens,
  'chat usage adds up', chat.usage);

const stream = await client.chat.completions.create({ model: 'x', messages, max_tokens: 24, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
let streamed = '', finish = null, chunks = 0, usage = null;
for await (const ch of stream) {
  chunks++;
  if (ch.usage) usage = ch.usage;
  for (const c of ch.choices) {
    if (c.delta?.content) streamed += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(chunks > 1, 'chat stream has several chunks', chunks);
check(streamed === text, 'streamed chat deltas concatenate to the non-streamed text', { streamed, text });
check(finish === chat.choices[0].finish_reason, 'chat stream ends with the same finish_reason', finish);
check(usage && usage.completion_tokens === chat.usage.completion_tokens, 'chat stream usage chunk', usage);

const cmpl = await client.completions.create({ model: 'davinci-002', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
check(typeof cmpl.choices[0].text === 'string' && ['stop', 'length'].includes(cmpl.choices[0].finish_reason),
  'completions returns text and finish_reason', cmpl);
const cstream = await client.completions.create({ model: 'davinci-002', prompt: 'Once upon a time', max_tokens: 12,
  temperature: 0, stream: true });
let ctext = '', cfinish = null;
for await (const ch of cstream) {
  ctext += ch.choices[0]?.text ?? '';
  if (ch.choices[0]?.finish_reason) cfinish = ch.choices[0].finish_reason;
}
check(ctext === cmpl.choices[0].text && cfinish === cmpl.choices[0].finish_reason,
  'streamed completion equals the non-streamed one', { ctext, text: cmpl.choices[0].text, cfinish });

const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a cat', 'a dog'] });
check(emb.data.length === 2 && emb.data[1].index === 1, 'embeddings: one vector per input, in order', emb.data.length);
const v = emb.data[0].embedding;
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
check(Array.isArray(v) && v.length === nEmbd && Math.abs(norm - 1) < 1e-4,
  'embeddings decoded by the client (base64) have n_embd floats of unit length', { len: v.length, norm });
const embf = await client.embeddings.create({ model: 'm', input: 'a cat', encoding_format: 'float' });
check(embf.data[0].embedding.every((x, i) => Math.abs(x - v[i]) <= 1e-6 * Math.max(1, Math.abs(x))),
  'float and base64 encodings agree');

// response_format json_schema: the output parses and has the schema's shape
const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer' },
  pet: { enum: ['cat', 'dog'] } }, required: ['name', 'age', 'pet'], additionalProperties: false };
const js = await client.chat.completions.create({ model: 'x', messages, max_tokens: 300, seed: 3,
  response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } } });
let obj = null;
try { obj = JSON.parse(js.choices[0].message.content); } catch { obj = null; }
check(obj && typeof obj.name === 'string' && [...obj.name].length <= 12 && Number.isInteger(obj.age) &&
  ['cat', 'dog'].includes(obj.pet) && Object.keys(obj).length === 3 && js.choices[0].finish_reason === 'stop',
  'response_format json_schema output is valid for the schema', js.choices[0]);

// tools are accepted (this random model's template has no tool-call syntax:
// the reply is content), streamed too
const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const tr = await client.chat.completions.create({ model: 'x', messages, max_tokens: 8, temperature: 0, tools,
  tool_choice: 'auto' });
check(typeof tr.choices[0].message.content === 'string' && ['stop', 'length'].includes(tr.choices[0].finish_reason),
  'chat with tools (auto) answers', tr.choices[0]);
let tstreamed = '';
for await (const ch of await client.chat.completions.create({ model: 'x', messages, max_tokens: 8, temperature: 0,
  tools, stream: true })) tstreamed += ch.choices[0]?.delta?.content ?? '';
check(tstreamed === tr.choices[0].message.content, 'streamed chat with tools gives the same content',
  { tstreamed, text: tr.choices[0].message.content });

// A forced tool call: the server runs the Llama 3.2 template (calls are a bare
// JSON object {"name", "parameters"}), and response_format makes the random
// model write one; the client must see it as tool_calls, streamed or not.
if (toolCallArg === '1') {
  const callSchema = { type: 'object', properties: { name: { const: 'get_weather' }, parameters: { type: 'object',
    properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'], additionalProperties: false } },
  required: ['name', 'parameters'], additionalProperties: false };
  const req = { model: 'x', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, max_tokens: 120, seed: 1,
    response_format: { type: 'json_schema', json_schema: { name: 'call', schema: callSchema } } };
  const tc = await client.chat.completions.create(req);
  const call = tc.choices[0].message.tool_calls?.[0];
  let args = null;
  try { args = JSON.parse(call.function.arguments); } catch { args = null; }
  check(tc.choices[0].finish_reason === 'tool_calls' && call && call.type === 'function' &&
    call.function.name === 'get_weather' && args && typeof args.city === 'string' && tc.choices[0].message.content === null,
    'a tool call written by the model arrives as message.tool_calls', tc.choices[0]);
  const acc = {};
  let tfinish = null;
  for await (const ch of await client.chat.completions.create({ ...req, stream: true })) {
    for (const c of ch.choices) {
      for (const d of c.delta?.tool_calls ?? []) {
        acc[d.index] ??= { name: '', arguments: '' };
        acc[d.index].name += d.function?.name ?? '';
        acc[d.index].arguments += d.function?.arguments ?? '';
      }
      if (c.finish_reason) tfinish = c.finish_reason;
    }
  }
  check(tfinish === 'tool_calls' && acc[0]?.name === 'get_weather' && acc[0]?.arguments === call.function.arguments,
    'the streamed tool call equals the non-streamed one', { acc, tfinish });

  // tool_choice "required" and a named function: the server constrains the
  // reply to one call in the template's syntax (no response_format needed);
  // the arguments must satisfy the tool's parameter schema.
  const tools2 = [...tools, { type: 'function', function: { name: 'get_time', parameters: { type: 'object',
    properties: { tz: { enum: ['UTC', 'CET'] } }, required: ['tz'], additionalProperties: false } } }];
  tools2[0] = { type: 'function', function: { ...tools[0].function, parameters: { type: 'object',
    properties: { city: { type: 'string', maxLength: 10 } }, required: ['city'], additionalProperties: false } } };
  const validArgs = (name, a) => name === 'get_weather'
    ? a && Object.keys(a).join() === 'city' && typeof a.city === 'string' && [...a.city].length <= 10
    : a && Object.keys(a).join() === 'tz' && ['UTC', 'CET'].includes(a.tz);
  const parse = (s) => { try { return JSON.parse(s); } catch { return null; } };
  for (const seed of [1, 2]) {
    const rq = await client.chat.completions.create({ model: 'x', messages: req.messages, tools: tools2,
      tool_choice: 'required', max_tokens: 120, seed });
    const m = rq.choices[0].message;
    const c0 = m.tool_calls?.[0];
    check(rq.choices[0].finish_reason === 'tool_calls' && m.tool_calls.length === 1 && m.content === null &&
      validArgs(c0.function.name, parse(c0.function.arguments)),
      `tool_choice "required" (seed ${seed}) gives one valid call`, rq.choices[0]);
  }
  const named = { model: 'x', messages: req.messages, tools: tools2, max_tokens: 120, seed: 4,
    tool_choice: { type: 'function', function: { name: 'get_time' } } };
  const nr = await client.chat.completions.create(named);
  const nc = nr.choices[0].message.tool_calls?.[0];
  check(nr.choices[0].finish_reason === 'tool_calls' && nc?.function.name === 'get_time' &&
    validArgs('get_time', parse(nc.function.arguments)), 'a named tool_choice calls that function', nr.choices[0]);
  const sacc = {};
  let scontent = '', sfinish = null, nchunks = 0;
  for await (const ch of await client.chat.completions.create({ ...named, stream: true })) {
    nchunks++;
    for (const c of ch.choices) {
      scontent += c.delta?.content ?? '';
      for (const d of c.delta?.tool_calls ?? []) {
        sacc[d.index] ??= { id: '', name: '', arguments: '' };
        sacc[d.index].id += d.id ?? '';
        sacc[d.index].name += d.function?.name ?? '';
        sacc[d.index].arguments += d.function?.arguments ?? '';
      }
      if (c.finish_reason) sfinish = c.finish_reason;
    }
  }
  check(sfinish === 'tool_calls' && scontent === '' && Object.keys(sacc).length === 1 &&
    sacc[0].id.startsWith('call_') && sacc[0].id !== nc.id && sacc[0].name === 'get_time' &&
    sacc[0].arguments === nc.function.arguments,
    'the streamed forced call (index, id, name, argument deltas) equals the non-streamed one (ids unique per response)',
    { sacc, nc, nchunks });
  // the client's own stream helper assembles the same message
  const runner = client.chat.completions.stream({ ...named });
  const fin = await runner.finalChatCompletion();
  const fc = fin.choices[0].message.tool_calls?.[0];
  check(fc?.function.name === 'get_time' && fc.function.arguments === nc.function.arguments && fc.id.startsWith('call_'),
    'the client\'s stream helper assembles the streamed call', fin.choices[0]);
  // the usual next turn: the assistant message with its call goes back with
  // the tool's result; the template renders both and the model answers
  const follow = await client.chat.completions.create({ model: 'x', tools: tools2, max_tokens: 8, temperature: 0,
    messages: [...named.messages, nr.choices[0].message, { role: 'tool', tool_call_id: nc.id, content: '12:00' }] });
  check(typeof follow.choices[0].message.content === 'string' && follow.usage.prompt_tokens > nr.usage.prompt_tokens,
    'a follow-up turn with the call and the tool result is answered', follow.choices[0]);
  try {
    await client.chat.completions.create({ ...named, tool_choice: { type: 'function', function: { name: 'nope' } } });
    check(false, 'an unknown named tool is refused');
  } catch (e) {
    check(e instanceof OpenAI.APIError && e.status === 400 && /nope/.test(e.message),
      'an unknown named tool is a 400 APIError', { status: e.status, message: e.message });
  }
}

try {
  await client.chat.completions.create({ model: 'x', messages, temperature: 5 });
  check(false, 'temperature 5 is refused');
} catch (e) {
  check(e instanceof OpenAI.APIError && e.status === 400 && /temperature/.test(e.message),
    'a 400 surfaces as the client\'s APIError naming the field', { status: e.status, message: e.message });
}
console.log('OK');
