// @arizeai/openinference-instrumentation-openai around openai.
const { setup } = require('./tracing.cjs');
const { OpenAIInstrumentation } = require('@arizeai/openinference-instrumentation-openai');
const provider = setup('rag-service', [new OpenAIInstrumentation()]);
const OpenAI = require('openai');
const client = new OpenAI({ apiKey: 'sk-test', baseURL: (process.env.PROVIDER || 'http://127.0.0.1:18080') + '/v1' });
require('./openai-cases.cjs')(provider, client);
