// @arizeai/openinference-instrumentation-anthropic around @anthropic-ai/sdk.
const { setup } = require('./tracing.cjs');
const { AnthropicInstrumentation } = require('@arizeai/openinference-instrumentation-anthropic');
const provider = setup('rag-service', [new AnthropicInstrumentation()]);
const Anthropic = require('@anthropic-ai/sdk');
const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: process.env.PROVIDER || 'http://127.0.0.1:18080' });
require('./anthropic-cases.cjs')(provider, client);
