// Loopback stand-in for LLM provider HTTP APIs: OpenAI chat completions (plain and streamed),
// responses (plain and streamed) and embeddings; Anthropic messages (plain and streamed); Bedrock
// InvokeModel with an Anthropic body. It answers with the usage written in the request's text:
//
//   usage:<in>,<out>,<cache_read>,<reasoning>,<cache_write_5m>[,<cache_write_1h>,<audio_in>,<audio_out>]
//
// The numbers are what each API reports, in its own convention:
//   OpenAI: prompt_tokens=<in> includes cache reads and audio (prompt_tokens_details.cached_tokens,
//     .audio_tokens); completion_tokens=<out> includes reasoning and audio
//     (completion_tokens_details.reasoning_tokens, .audio_tokens). Streams send usage in a last chunk
//     only when the request asks for it (stream_options.include_usage).
//   Anthropic: input_tokens=<in> EXCLUDES cache: cache_read_input_tokens=<cache_read>,
//     cache_creation_input_tokens=<5m>+<1h> with cache_creation.{ephemeral_5m,ephemeral_1h}_input_tokens.
//     Extended thinking has no token count of its own: output_tokens=<out> includes it, and a
//     thinking block is sent when <reasoning> > 0 (or the request enables thinking). Streams send
//     the input side and output_tokens 1 in message_start and the final output_tokens in message_delta,
//     as the API does.
// A request whose text contains "stall" gets the first events of its stream and then nothing more
// (the connection is held open until the client goes away), so that the client can stop it with an
// AbortController mid-stream.
const http = require('http');

function parseUsage(body) {
  const s = JSON.stringify(body);
  const m = s.match(/usage:(\d+),(\d+),(\d+),(\d+),(\d+)(?:,(\d+),(\d+),(\d+))?/);
  const u = m ? {inp: +m[1], out: +m[2], cached: +m[3], reasoning: +m[4], cwrite: +m[5], cwrite1h: +(m[6] || 0), audioIn: +(m[7] || 0), audioOut: +(m[8] || 0)}
    : {inp: 10, out: 5, cached: 0, reasoning: 0, cwrite: 0, cwrite1h: 0, audioIn: 0, audioOut: 0};
  u.stall = s.includes('stall');
  return u;
}

const DATED = {'gpt-4o': 'gpt-4o-2024-08-06', 'gpt-4o-mini': 'gpt-4o-mini-2024-07-18', 'gpt-4.1': 'gpt-4.1-2025-04-14',
  'gpt-4.1-mini': 'gpt-4.1-mini-2025-04-14', 'o4-mini': 'o4-mini-2025-04-16', 'gpt-4o-audio-preview': 'gpt-4o-audio-preview-2024-12-17',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929', 'claude-haiku-4-5': 'claude-haiku-4-5-20251001', 'claude-opus-4-1': 'claude-opus-4-1-20250805'};

function openaiChatUsage(u) {
  return {prompt_tokens: u.inp, completion_tokens: u.out, total_tokens: u.inp + u.out,
    prompt_tokens_details: {cached_tokens: u.cached, audio_tokens: u.audioIn},
    completion_tokens_details: {reasoning_tokens: u.reasoning, audio_tokens: u.audioOut, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0}};
}

function openaiResponsesUsage(u) {
  return {input_tokens: u.inp, output_tokens: u.out, total_tokens: u.inp + u.out,
    input_tokens_details: {cached_tokens: u.cached}, output_tokens_details: {reasoning_tokens: u.reasoning}};
}

function anthropicUsage(u, output) {
  return {input_tokens: u.inp, cache_creation_input_tokens: u.cwrite + u.cwrite1h, cache_read_input_tokens: u.cached,
    cache_creation: {ephemeral_5m_input_tokens: u.cwrite, ephemeral_1h_input_tokens: u.cwrite1h},
    output_tokens: output, service_tier: 'standard'};
}

function anthropicContent(u, body) {
  const thinking = u.reasoning > 0 || (body.thinking && body.thinking.type === 'enabled');
  const c = [];
  if (thinking) c.push({type: 'thinking', thinking: 'Let me think.', signature: 'sig_1'});
  c.push({type: 'text', text: 'Hello there'});
  return c;
}

function sse(res) {
  res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-request-id': 'req_s'});
}

function start(port) {
  const srv = http.createServer((req, res) => {
    let data = '';
    req.on('data', c => data += c);
    req.on('end', () => {
      let body = {};
      try { body = JSON.parse(data || '{}'); } catch (e) {}
      const u = parseUsage(body);
      const json = (o, headers = {}) => { res.writeHead(200, {'content-type': 'application/json', 'x-request-id': 'req_' + Math.random().toString(36).slice(2), ...headers}); res.end(JSON.stringify(o)); };
      const bedrock = req.url.match(/^\/model\/([^/]+)\/invoke$/);
      const model = DATED[body.model] || body.model || (bedrock && decodeURIComponent(bedrock[1])) || 'unknown';

      if (req.url.startsWith('/v1/chat/completions')) {
        const usage = openaiChatUsage(u);
        if (body.stream) {
          sse(res);
          const withUsage = !!(body.stream_options && body.stream_options.include_usage);
          const base = {id: 'chatcmpl-s1', object: 'chat.completion.chunk', created: 1764000000, model, system_fingerprint: 'fp_x', service_tier: 'default'};
          const chunk = (o) => res.write('data: ' + JSON.stringify(withUsage ? {...base, ...o, usage: o.usage || null} : {...base, ...o}) + '\n\n');
          chunk({choices: [{index: 0, delta: {role: 'assistant', content: 'Hel'}, finish_reason: null}]});
          if (u.stall) return; // held open until the client aborts
          chunk({choices: [{index: 0, delta: {content: 'lo'}, finish_reason: 'stop'}]});
          if (withUsage) chunk({choices: [], usage});
          res.end('data: [DONE]\n\n');
          return;
        }
        return json({id: 'chatcmpl-1', object: 'chat.completion', created: 1764000000, model, system_fingerprint: 'fp_x', service_tier: 'default',
          choices: [{index: 0, message: {role: 'assistant', content: 'Hello there', refusal: null, annotations: []}, finish_reason: 'stop', logprobs: null}], usage});
      }
      if (req.url.startsWith('/v1/embeddings')) {
        return json({object: 'list', model, data: [{object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3]}], usage: {prompt_tokens: u.inp, total_tokens: u.inp}});
      }
      if (req.url.startsWith('/v1/responses')) {
        const msg = {type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{type: 'output_text', text: 'Hi', annotations: []}]};
        const output = u.reasoning > 0 ? [{type: 'reasoning', id: 'rs_1', summary: []}, msg] : [msg];
        const resp = (status, extra) => ({id: 'resp_1', object: 'response', created_at: 1764000000, status, model, output: [], service_tier: 'default', usage: null, ...extra});
        if (body.stream) {
          sse(res);
          let seq = 0;
          const ev = (type, o) => res.write('event: ' + type + '\ndata: ' + JSON.stringify({type, sequence_number: seq++, ...o}) + '\n\n');
          ev('response.created', {response: resp('in_progress')});
          ev('response.output_item.added', {output_index: 0, item: {...msg, status: 'in_progress', content: []}});
          ev('response.output_text.delta', {item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hi'});
          if (u.stall) return;
          ev('response.output_text.done', {item_id: 'msg_1', output_index: 0, content_index: 0, text: 'Hi'});
          ev('response.output_item.done', {output_index: 0, item: msg});
          ev('response.completed', {response: resp('completed', {output, usage: openaiResponsesUsage(u)})});
          res.end();
          return;
        }
        return json(resp('completed', {output, usage: openaiResponsesUsage(u)}));
      }
      if (req.url.startsWith('/v1/messages') || bedrock) {
        const content = anthropicContent(u, body);
        if (body.stream) {
          sse(res);
          const ev = (type, o) => res.write('event: ' + type + '\ndata: ' + JSON.stringify({type, ...o}) + '\n\n');
          ev('message_start', {message: {id: 'msg_s1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: anthropicUsage(u, 1)}});
          content.forEach((b, i) => {
            if (b.type === 'thinking') {
              ev('content_block_start', {index: i, content_block: {type: 'thinking', thinking: '', signature: ''}});
              ev('content_block_delta', {index: i, delta: {type: 'thinking_delta', thinking: b.thinking}});
              ev('content_block_delta', {index: i, delta: {type: 'signature_delta', signature: b.signature}});
            } else {
              ev('content_block_start', {index: i, content_block: {type: 'text', text: ''}});
              ev('content_block_delta', {index: i, delta: {type: 'text_delta', text: 'Hel'}});
              if (u.stall) return;
              ev('content_block_delta', {index: i, delta: {type: 'text_delta', text: 'lo there'}});
            }
            ev('content_block_stop', {index: i});
          });
          if (u.stall) return;
          ev('message_delta', {delta: {stop_reason: 'end_turn', stop_sequence: null}, usage: {output_tokens: u.out}});
          ev('message_stop', {});
          res.end();
          return;
        }
        const msg = {id: 'msg_1', type: 'message', role: 'assistant', model, content, stop_reason: 'end_turn', stop_sequence: null, usage: anthropicUsage(u, u.out)};
        if (bedrock) delete msg.usage.service_tier;
        return json(msg, bedrock ? {'x-amzn-bedrock-input-token-count': String(u.inp), 'x-amzn-bedrock-output-token-count': String(u.out)} : {});
      }
      res.writeHead(404); res.end('{}');
    });
  });
  return new Promise(r => srv.listen(port, '127.0.0.1', () => r(srv)));
}
module.exports = {start};
if (require.main === module) start(+process.argv[2] || 18080).then(() => console.log('fake provider up'));
