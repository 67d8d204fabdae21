// The Vercel AI SDK's own telemetry (no instrumentation package) with @ai-sdk/openai and @ai-sdk/anthropic.
const { setup } = require('./tracing.cjs');
const provider = setup('nextjs-app', []);
const { createOpenAI } = require('@ai-sdk/openai');
const { createAnthropic } = require('@ai-sdk/anthropic');
const base = process.env.PROVIDER || 'http://127.0.0.1:18080';
const openai = createOpenAI({ apiKey: 'sk-test', baseURL: base + '/v1' });
const anthropic = createAnthropic({ apiKey: 'sk-ant-test', baseURL: base + '/v1' });
require('./vercel-cases.cjs')(provider, (m) => openai.chat(m), (m) => anthropic(m));
