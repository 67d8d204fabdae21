// Generates cases.jsonl: pricing cases computed by the reference calculator
// @pydantic/genai-prices 0.1.8 (pinned in package.json / package-lock.json),
// checked by TestReferenceParity in internal/pricing.
//
// Regenerate (from the repository root):
//
//   cd internal/pricing/testdata/reference && npm ci && node gen.mjs
//
// Every model of every provider in ../../genaiprices/data.json gets cases for
// each name its match rule accepts (literals; regexes via derived examples),
// several usage shapes (plain, cache read/write, reasoning, audio and every
// other priced unit, each tier threshold from both sides, empty usage,
// impossible usage) and timestamps on both sides of every start_date and
// time_of_date boundary; plus unknown models and providers.
//
// Line format: {"provider","model","time","usage",
//   "ref_provider": providerId passed to the reference (null: none — used for
//                   empty/unknown providers, which genaimeter resolves by
//                   model_match like the reference does without providerId),
//   "want": {"provider_id","model_id","total_price"} | {"provider_id","model_id","error"} | null}
import fs from 'node:fs';
import { calcPrice } from '@pydantic/genai-prices';

const here = new URL('.', import.meta.url);
const data = JSON.parse(fs.readFileSync(new URL('../../genaiprices/data.json', here), 'utf8'));
const unitsTable = JSON.parse(fs.readFileSync(new URL('../../genaiprices/units.json', here), 'utf8'));
const usageKeyForPriceKey = Object.fromEntries(Object.entries(unitsTable).map(([k, u]) => [u.price_key ?? k, k]));

// Silence the reference's console.warn for unsupported keys.
console.warn = () => {};

const out = [];
const stats = { models: 0, modelsCovered: 0, regexSkipped: 0, namesTried: 0, cases: 0, errors: 0, unmatched: 0 };
const DEFAULT_TIME = '2025-06-15T12:00:00.000Z';

function emit(provider, model, time, usage, refProvider) {
  let want;
  try {
    const r = calcPrice(usage, model, { providerId: refProvider ?? undefined, timestamp: new Date(time) });
    want = r ? { provider_id: r.provider.id, model_id: r.model.id, total_price: r.total_price } : null;
  } catch (e) {
    // Errors happen after the model was resolved; find it to record the match.
    let m = null;
    try {
      const r = calcPrice({}, model, { providerId: refProvider ?? undefined, timestamp: new Date(time) });
      m = r && { provider_id: r.provider.id, model_id: r.model.id };
    } catch {}
    want = { ...(m ?? {}), error: String(e.message) };
    stats.errors++;
  }
  if (want === null) stats.unmatched++;
  out.push(JSON.stringify({ provider, model, time, usage, ref_provider: refProvider, want }));
  stats.cases++;
  return want;
}

// Names a match clause accepts, derived from its literals.
function names(match) {
  if (match.or) return match.or.flatMap(names);
  if (match.and) {
    const cands = match.and.flatMap(names);
    return cands.filter((n) => accepts(match, n));
  }
  if ('equals' in match) return [match.equals];
  if ('starts_with' in match) return [match.starts_with, match.starts_with + '-preview'];
  if ('ends_with' in match) return ['x-' + match.ends_with];
  if ('contains' in match) return [match.contains, 'x-' + match.contains + '-y'];
  if ('regex' in match) {
    const ex = regexExample(match.regex);
    if (ex && new RegExp(match.regex).test(ex)) return [ex];
    stats.regexSkipped++;
    return [];
  }
  return [];
}

function accepts(m, t) {
  const l = t.toLowerCase();
  if (m.or) return m.or.some((x) => accepts(x, t));
  if (m.and) return m.and.every((x) => accepts(x, t));
  if ('equals' in m) return l === m.equals.toLowerCase();
  if ('starts_with' in m) return l.startsWith(m.starts_with.toLowerCase());
  if ('ends_with' in m) return l.endsWith(m.ends_with.toLowerCase());
  if ('contains' in m) return l.includes(m.contains.toLowerCase());
  if ('regex' in m) return new RegExp(m.regex).test(l);
  return false;
}

// A string for the simple anchored regexes of the data set
// (^literal-\d{8}$, ^x-\d{4}-\d{2}-\d{2}$, ^a\.b\[fast=true\]$, ...).
// Pure look-ahead patterns yield "" and are covered by their and-siblings.
function regexExample(re) {
  if (/^\^\(\?!/.test(re)) return null;
  let s = re.replace(/^\^/, '').replace(/\$$/, '');
  s = s.replace(/\\d\{8\}/g, '20250101').replace(/\\d\{4\}/g, '2025').replace(/\\d\{2\}/g, '01').replace(/\\d/g, '1');
  s = s.replace(/\\(.)/g, '$1');
  if (/[()[\]?*+|{}]/.test(s)) return null;
  return s;
}

function priceEntries(m) {
  return Array.isArray(m.prices) ? m.prices : [{ prices: m.prices }];
}

function pricedUsageKeys(m) {
  const keys = new Set();
  for (const e of priceEntries(m)) for (const k of Object.keys(e.prices)) keys.add(usageKeyForPriceKey[k] ?? k);
  return keys;
}

function tierStarts(m) {
  const s = new Set();
  for (const e of priceEntries(m))
    for (const v of Object.values(e.prices)) if (v && typeof v === 'object') for (const t of v.tiers) s.add(t.start);
  return [...s].sort((a, b) => a - b);
}

const MS = 1;
function iso(ms) { return new Date(ms).toISOString(); }

function timestamps(m) {
  const ts = new Set([DEFAULT_TIME]);
  for (const e of priceEntries(m)) {
    const c = e.constraint;
    if (!c) continue;
    if (c.start_date) {
      const t = Date.parse(c.start_date + 'T00:00:00Z');
      for (const d of [-86400000, -MS, 0, 86400000]) ts.add(iso(t + d));
    }
    if (c.start_time) {
      for (const day of ['2025-06-15', '2026-09-01', '2027-02-01']) {
        for (const tt of [c.start_time, c.end_time]) {
          const t = Date.parse(`${day}T${tt}`);
          for (const d of [-MS, 0, 3600000]) ts.add(iso(t + d));
        }
      }
    }
  }
  return [...ts].sort();
}

// Usage shapes in genai-prices semantics (input_tokens includes cache tokens).
function shapes(m) {
  const priced = pricedUsageKeys(m);
  const s = [
    { input_tokens: 4100, output_tokens: 730 },
    { input_tokens: 1, output_tokens: 1 },
    {},
    { input_tokens: 12000, cache_read_tokens: 3000, cache_write_tokens: 2500, output_tokens: 800 },
    { input_tokens: 500, output_tokens: 2000, output_reasoning_tokens: 1500 },
    { input_tokens: 100, cache_read_tokens: 200, output_tokens: 5 }, // impossible: cache read > input
    { cache_read_tokens: 100, output_tokens: 5 }, // missing total with positive detail
  ];
  if (priced.has('cache_write_1h_tokens'))
    s.push({ input_tokens: 9000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000, cache_read_tokens: 1000, output_tokens: 10 });
  for (const k of priced) {
    if (['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens', 'requests'].includes(k)) continue;
    const u = unitsTable[k];
    const dir = u.dimensions.direction;
    const shape = { input_tokens: 20000, output_tokens: 3000 };
    if (u.dimensions.family === 'tokens') {
      shape[k] = 700;
      if (u.dimensions.token_type === 'cache_read') { shape.cache_read_tokens = 1500; if (u.dimensions.modality) shape[`input_${u.dimensions.modality}_tokens`] = 1200; }
      if (dir === 'output' && u.dimensions.token_type === 'reasoning' && u.dimensions.modality) shape.output_reasoning_tokens = 900;
    } else {
      // seconds, pages, searches, messages, characters, pixels
      shape[k] = u.dimensions.family === 'durations' ? 5 : 3;
      s.push({ [k]: u.dimensions.family === 'durations' ? 125 : 1000 });
    }
    s.push(shape);
  }
  if (priced.has('audio_seconds') || priced.has('input_audio_seconds')) {
    s.push({ audio_seconds: 0, input_audio_seconds: 42 }, { input_audio_seconds: 3 }, { audio_seconds: 0 });
  }
  for (const t of tierStarts(m)) {
    for (const input of [t, t + 1, 2 * t + 7]) {
      s.push({ input_tokens: input, cache_read_tokens: Math.floor(input / 4), cache_write_tokens: 1000, output_tokens: 1000 });
    }
  }
  s.push({ input_tokens: 987654321, output_tokens: 123456789 });
  return s;
}

for (const p of data) {
  for (const m of p.models) {
    stats.models++;
    let covered = false;
    const cands = [...new Set(names(m.match))];
    stats.namesTried += cands.length;
    cands.forEach((name, ni) => {
      const times = ni === 0 ? timestamps(m) : [DEFAULT_TIME];
      const shapeList = ni === 0 ? shapes(m) : [{ input_tokens: 4100, output_tokens: 730 }];
      for (const time of times) {
        for (const usage of (time === DEFAULT_TIME ? shapeList : shapeList.slice(0, 4))) {
          const w = emit(p.id, name, time, usage, p.id);
          if (w && w.model_id === m.id && w.provider_id === p.id) covered = true;
        }
      }
      if (ni === 0) {
        // Case and whitespace insensitivity, and resolution without provider.
        emit(p.id, `  ${name.toUpperCase()} `, DEFAULT_TIME, { input_tokens: 4100, output_tokens: 730 }, p.id);
        emit('', name, DEFAULT_TIME, { input_tokens: 4100, output_tokens: 730 }, null);
      }
    });
    if (covered) stats.modelsCovered++;
  }
}

// Unknown models and providers, provider_match, litellm routing, date normalisation.
const plain = { input_tokens: 4100, output_tokens: 730 };
const extra = [
  ['openai', 'foo-bar-9000', 'openai'],
  ['anthropic', 'gpt-4o', 'anthropic'],
  ['', 'totally-unknown-model', null],
  ['strands-agents', 'totally-unknown-model', null],
  ['strands-agents', 'gpt-4o', null],
  ['strands-agents', 'claude-3-5-sonnet-20241022', null],
  ['strands-agents', 'gemini-2.5-flash', null],
  ['my-gateway', 'o3', null],
  ['aws.bedrock', 'anthropic.claude-3-5-sonnet-20241022-v2:0', 'aws.bedrock'],
  ['Azure', 'gpt-4o', 'Azure'],
  ['azure', 'claude-sonnet-4-5', 'azure'],
  ['google', 'claude-sonnet-4-5', 'google'],
  ['gcp.vertex_ai', 'gemini-2.5-pro', 'gcp.vertex_ai'],
  ['OpenAI', 'GPT-4o-2024-08-06', 'OpenAI'],
  ['openai', 'gpt-4o-20240806', 'openai'],
  ['openai', 'gpt-4o-mini-20240718', 'openai'],
  ['anthropic', 'claude-3-5-sonnet-20241022', 'anthropic'],
  ['litellm', 'anthropic/claude-3-5-sonnet-20241022', 'litellm'],
  ['litellm', 'gpt-4o', 'litellm'],
  ['litellm', 'nope/gpt-4o', 'litellm'],
  ['groq', 'whisper-large-v3', 'groq'],
  ['x-ai', 'grok-4.3-20260101', 'x-ai'],
  ['mistral', 'mistral-large-latest', 'mistral'],
  ['', 'mistral-small-2506', null],
];
for (const [prov, model, ref] of extra) {
  emit(prov, model, DEFAULT_TIME, plain, ref);
  emit(prov, model, '2026-12-01T03:00:00.000Z', { input_tokens: 300000, cache_read_tokens: 100000, cache_write_tokens: 20000, output_tokens: 5000 }, ref);
}
for (const usage of [{ audio_seconds: 4 }, { audio_seconds: 0, input_audio_seconds: 7 }, { input_audio_seconds: 0 }, { audio_seconds: 3600 }, {}]) {
  for (const model of ['whisper-large-v3', 'whisper-large-v3-turbo']) emit('groq', model, DEFAULT_TIME, usage, 'groq');
}

// Calls that the genai_cost processor tests price by hand (audio parts of
// input and output, 1-hour cache writes): the reference's figures for them.
for (const [prov, model, usage] of [
  ['openai', 'gpt-realtime', { input_tokens: 1000, input_audio_tokens: 600, output_tokens: 500, output_audio_tokens: 400 }],
  ['openai', 'gpt-4o-realtime-preview', { input_tokens: 1000, input_audio_tokens: 600, output_tokens: 500, output_audio_tokens: 400 }],
  ['anthropic', 'claude-opus-4-1', { input_tokens: 10000, cache_read_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000, output_tokens: 500 }],
  ['anthropic', 'claude-sonnet-4-5', { input_tokens: 10000, cache_read_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 1000, output_tokens: 500 }],
  ['anthropic', 'claude-sonnet-4-5', { input_tokens: 10000, cache_read_tokens: 2000, cache_write_tokens: 3000, cache_write_1h_tokens: 3000, output_tokens: 500 }],
  // The stand-in's Anthropic call (tools/realclients): 3000 raw + 2000 read + 500 5m + 1500 1h written, 600 out.
  ['anthropic', 'claude-sonnet-4-5', { input_tokens: 7000, cache_read_tokens: 2000, cache_write_tokens: 2000, cache_write_1h_tokens: 1500, output_tokens: 600 }],
]) emit(prov, model, '2026-11-01T12:00:00.000Z', usage, prov);

fs.writeFileSync(new URL('cases.jsonl', here), out.join('\n') + '\n');
fs.writeFileSync(new URL('stats.json', here), JSON.stringify(stats, null, 2) + '\n');
console.log(JSON.stringify(stats));
