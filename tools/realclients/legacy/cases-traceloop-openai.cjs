// @traceloop/instrumentation-openai (OpenLLMetry JS) around openai.
const { setup } = require('./tracing.cjs');
const { OpenAIInstrumentation } = require('@traceloop/instrumentation-openai');
const provider = setup('writer-app', [new OpenAIInstrumentation({ traceContent: false })]);
const OpenAI = require('openai');
const client = new OpenAI({ apiKey: 'sk-test', baseURL: (process.env.PROVIDER || 'http://127.0.0.1:18080') + '/v1' });
require('./openai-cases.cjs')(provider, client);
