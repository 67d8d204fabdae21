// End-to-end test app: a Node service that calls the OpenAI API through the
// official `openai` package, instrumented by @opentelemetry/instrumentation-openai,
// and the Anthropic API through `@anthropic-ai/sdk`, instrumented by
// @traceloop/instrumentation-anthropic (OpenLLMetry JS), and exports its spans
// over OTLP/HTTP — the way a customer's app feeds genaimeter.
//
// Both APIs are a loopback stand-in started in this process (no network, no
// key): it answers with the token usage written in the prompt,
// "usage:<input>,<output>[,<cache_read>,<cache_write>]", so that the test
// chooses the numbers it asserts. Anthropic's input_tokens excludes the cache,
// as the real API's does.
//
// Environment:
//   OTLP_ENDPOINT  collector OTLP/HTTP base URL (default http://127.0.0.1:4318)
//   SPAN_EXPORT    "batch" (default): the SDK's BatchSpanProcessor sends a request's
//                  spans together. "children_first": each span is sent as it ends,
//                  in its own OTLP request, and the app waits for the LLM calls to be
//                  accepted before it ends the app span that carries the tenant — the
//                  collector sees every call before its parent (what happens whenever
//                  a batch boundary falls inside a request), deterministically.
//   APP_PLAN       JSON list of requests, each handled under its own app span:
//                  [{"tenant": "acme", "user": "u-1", "feature": "reply",
//                    "calls": [{"api": "chat" | "chat_stream" | "embeddings" | "responses" |
//                                      "messages" | "messages_stream" | "messages_stream_stopped",
//                               "model": "gpt-4o", "input": 100, "output": 20,
//                               "cache_read": 0, "cache_write": 0}]}]
//                  messages_stream_stopped reads the stream's first text and then stops it
//                  with an AbortController, as a user's "stop" button does.
// Prints one JSON line per request: {"tenant", "trace_id", "span_id"} of its app span.
'use strict';

const http = require('node:http');
const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { BatchSpanProcessor, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
const { AnthropicInstrumentation } = require('@traceloop/instrumentation-anthropic');

const mode = process.env.SPAN_EXPORT || 'batch';
if (mode !== 'batch' && mode !== 'children_first') throw new Error('SPAN_EXPORT must be batch or children_first, got ' + mode);
const childrenFirst = mode === 'children_first';

// The instrumentation patches `openai` when it is loaded: enable it first.
const exporter = new OTLPTraceExporter({ url: (process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4318') + '/v1/traces' });
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'nodeapp', 'deployment.environment.name': 'e2e' }),
  spanProcessors: [childrenFirst ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter)],
});
provider.register();
const instrumentation = new OpenAIInstrumentation({ captureMessageContent: false });
instrumentation.setTracerProvider(provider);
// What registerInstrumentations() does too: the instrumentation creates its
// metric instruments here (without it, a streamed call fails on an undefined
// histogram). No meter provider is registered: the metrics are no-ops.
instrumentation.setMeterProvider(api.metrics.getMeterProvider());
const anthropicInstrumentation = new AnthropicInstrumentation({ traceContent: false });
anthropicInstrumentation.setTracerProvider(provider);
const OpenAI = require('openai');
const Anthropic = require('@anthropic-ai/sdk');

// Dated model names, as the real API answers in the `model` field.
const DATED = { 'gpt-4o': 'gpt-4o-2024-08-06', 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18', 'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929', 'claude-haiku-4-5': 'claude-haiku-4-5-20251001' };

function usageOf(body) {
  const s = JSON.stringify(body);
  const m = s.match(/usage:(\d+),(\d+)(?:,(\d+),(\d+))?/);
  if (!m) throw new Error('request without "usage:<input>,<output>": ' + s);
  return { input: +m[1], output: +m[2], cacheRead: +(m[3] || 0), cacheWrite: +(m[4] || 0), stall: s.includes('stall') };
}

// anthropicMessages answers /v1/messages like the Anthropic API: input_tokens
// without the cache; a stream sends the input side and output_tokens 1 in
// message_start and the final output_tokens in message_delta. A "stall"
// request gets message_start and its first text, then nothing until the client
// goes away.
function anthropicMessages(res, body, u, model) {
  const usage = (output) => ({ input_tokens: u.input, cache_read_input_tokens: u.cacheRead,
    cache_creation_input_tokens: u.cacheWrite, output_tokens: output });
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_e2e' });
    res.end(JSON.stringify({ id: 'msg_e2e', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'Hello' }],
      stop_reason: 'end_turn', stop_sequence: null, usage: usage(u.output) }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (type, o) => res.write('event: ' + type + '\ndata: ' + JSON.stringify({ type, ...o }) + '\n\n');
  ev('message_start', { message: { id: 'msg_e2e_stream', type: 'message', role: 'assistant', model, content: [],
    stop_reason: null, stop_sequence: null, usage: usage(1) } });
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hel' } });
  if (u.stall) return;
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'lo' } });
  ev('content_block_stop', { index: 0 });
  ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: u.output } });
  ev('message_stop', {});
  res.end();
}

// startStandIn serves the subset of the OpenAI API the app calls.
function startStandIn() {
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      let body;
      let u;
      try {
        body = JSON.parse(data);
        u = usageOf(body);
      } catch (e) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: String(e), type: 'invalid_request_error' } }));
        return;
      }
      const model = DATED[body.model] || body.model;
      if (req.method === 'POST' && req.url === '/v1/messages') return anthropicMessages(res, body, u, model);
      const json = (o) => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'req_e2e' });
        res.end(JSON.stringify(o));
      };
      const chatUsage = { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output,
        prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
      if (req.method === 'POST' && req.url === '/v1/chat/completions' && body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const base = { id: 'chatcmpl-e2e-stream', object: 'chat.completion.chunk', created: 1764000000, model };
        res.write('data: ' + JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] }) + '\n\n');
        res.write('data: ' + JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] }) + '\n\n');
        // With stream_options.include_usage the last chunk carries the usage and no choice.
        res.write('data: ' + JSON.stringify({ ...base, choices: [], usage: chatUsage }) + '\n\n');
        res.end('data: [DONE]\n\n');
        return;
      }
      if (req.method === 'POST' && req.url === '/v1/chat/completions') {
        return json({ id: 'chatcmpl-e2e', object: 'chat.completion', created: 1764000000, model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop', logprobs: null }], usage: chatUsage });
      }
      if (req.method === 'POST' && req.url === '/v1/embeddings') {
        return json({ object: 'list', model, data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
          usage: { prompt_tokens: u.input, total_tokens: u.input } });
      }
      if (req.method === 'POST' && req.url === '/v1/responses') {
        return json({ id: 'resp_e2e', object: 'response', created_at: 1764000000, status: 'completed', model,
          output: [{ type: 'message', id: 'msg_e2e', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] }],
          usage: { input_tokens: u.input, output_tokens: u.output, total_tokens: u.input + u.output,
            input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } } });
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'no route ' + req.method + ' ' + req.url } }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function call(client, anthropic, c) {
  const prompt = `usage:${c.input},${c.output}`;
  const message = (extra, text) => ({ model: c.model, max_tokens: 1024, ...extra,
    messages: [{ role: 'user', content: `usage:${c.input},${c.output},${c.cache_read || 0},${c.cache_write || 0}${text || ''}` }] });
  switch (c.api) {
    case 'messages':
      return anthropic.messages.create(message({}));
    case 'messages_stream': {
      const stream = await anthropic.messages.create(message({ stream: true }));
      for await (const _ of stream) { /* drain: the span ends with the stream */ }
      return undefined;
    }
    case 'messages_stream_stopped': {
      const ac = new AbortController();
      try {
        const stream = await anthropic.messages.create(message({ stream: true }, ' stall'), { signal: ac.signal });
        for await (const ev of stream) {
          if (ev.type === 'content_block_delta') ac.abort();
        }
      } catch (e) {
        if (!/abort/i.test(String(e && (e.name + e.message)))) throw e;
      }
      return undefined;
    }
    case 'chat':
      return client.chat.completions.create({ model: c.model, messages: [{ role: 'user', content: prompt }] });
    case 'chat_stream': {
      const stream = await client.chat.completions.create({ model: c.model, stream: true,
        stream_options: { include_usage: true }, messages: [{ role: 'user', content: prompt }] });
      for await (const _ of stream) { /* drain: the span ends with the stream */ }
      return undefined;
    }
    case 'embeddings':
      return client.embeddings.create({ model: c.model, input: prompt });
    case 'responses':
      return client.responses.create({ model: c.model, input: prompt });
    default:
      throw new Error('unknown api ' + c.api);
  }
}

async function main() {
  const plan = JSON.parse(process.env.APP_PLAN || '[]');
  if (plan.length === 0) throw new Error('APP_PLAN is empty');
  const server = await startStandIn();
  const client = new OpenAI({ apiKey: 'sk-e2e', baseURL: `http://127.0.0.1:${server.address().port}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: 'sk-ant-e2e', baseURL: `http://127.0.0.1:${server.address().port}`, maxRetries: 0 });
  const tracer = api.trace.getTracer('nodeapp');
  for (const r of plan) {
    // The app span carries the identity; the LLM calls are its children and
    // end before it, as in a real request handler.
    await tracer.startActiveSpan('POST /api/reply', { kind: api.SpanKind.SERVER,
      attributes: { 'tenant.id': r.tenant, 'enduser.id': r.user, 'app.feature': r.feature } }, async (span) => {
      try {
        for (const c of r.calls) await call(client, anthropic, c);
        // The exporter's request returns once the collector has taken the spans.
        if (childrenFirst) await provider.forceFlush();
      } finally {
        const sc = span.spanContext();
        console.log(JSON.stringify({ tenant: r.tenant, trace_id: sc.traceId, span_id: sc.spanId }));
        span.end();
      }
    });
  }
  await provider.forceFlush();
  await provider.shutdown();
  server.closeAllConnections();
  server.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
