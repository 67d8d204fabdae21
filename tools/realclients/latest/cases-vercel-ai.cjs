// The Vercel AI SDK 7 with its OpenTelemetry integration (@ai-sdk/otel, registered with
// registerTelemetry) and @ai-sdk/openai, @ai-sdk/anthropic. AI_SDK_OTEL=legacy uses
// LegacyOpenTelemetry (the ai.* attributes of AI SDK 6) instead of the semconv mode.
const { setup } = require('./tracing.cjs');
const provider = setup('nextjs-app', []);
const { registerTelemetry } = require('ai');
const otel = require('@ai-sdk/otel');
registerTelemetry(process.env.AI_SDK_OTEL === 'legacy' ? new otel.LegacyOpenTelemetry() : new otel.OpenTelemetry());
const { createOpenAI } = require('@ai-sdk/openai');
const { createAnthropic } = require('@ai-sdk/anthropic');
const base = process.env.PROVIDER || 'http://127.0.0.1:18080';
const openai = createOpenAI({ apiKey: 'sk-test', baseURL: base + '/v1' });
const anthropic = createAnthropic({ apiKey: 'sk-ant-test', baseURL: base + '/v1' });
require('./vercel-cases.cjs')(provider, (m) => openai.chat(m), (m) => anthropic(m));
