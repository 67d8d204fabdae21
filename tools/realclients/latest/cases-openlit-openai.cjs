// OpenLIT's TypeScript SDK (openlit) instrumenting openai; OpenLIT sets up its own tracer provider
// and exports OTLP/HTTP itself.
const openlit = require('openlit').default || require('openlit');
const OpenAI = require('openai');
openlit.init({ applicationName: 'openlit-app', otlpEndpoint: process.env.OTLP_ENDPOINT || 'http://127.0.0.1:4318', disableBatch: true,
  disableMetrics: true, disableEvents: true, captureMessageContent: false, pricingJson: {}, instrumentations: { openai: OpenAI } });
const api = require('@opentelemetry/api');
const client = new OpenAI({ apiKey: 'sk-test', baseURL: (process.env.PROVIDER || 'http://127.0.0.1:18080') + '/v1' });
const provider = { forceFlush: async () => { const p = api.trace.getTracerProvider(); if (p.getDelegate) { const d = p.getDelegate(); if (d.forceFlush) await d.forceFlush(); } }, shutdown: async () => {} };
require('./openai-cases.cjs')(provider, client);
