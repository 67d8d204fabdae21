// Langfuse's JS OpenTelemetry integration: @langfuse/openai observeOpenAI() wraps the openai client
// and records each call as a Langfuse "generation" through @langfuse/tracing, on the global OTel
// tracer provider (here ours, exporting OTLP; @langfuse/otel's LangfuseSpanProcessor would send the
// same spans to a Langfuse server).
const { setup } = require('./tracing.cjs');
const provider = setup('langfuse-app', []);
const { observeOpenAI } = require('@langfuse/openai');
const OpenAI = require('openai');
const client = observeOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: (process.env.PROVIDER || 'http://127.0.0.1:18080') + '/v1' }));
require('./openai-cases.cjs')(provider, client);
