// @traceloop/instrumentation-bedrock (OpenLLMetry JS) around @aws-sdk/client-bedrock-runtime
// InvokeModel with an Anthropic body (the stand-in answers /model/<id>/invoke like Anthropic's API).
const { setup } = require('./tracing.cjs');
const { BedrockInstrumentation } = require('@traceloop/instrumentation-bedrock');
const provider = setup('bedrock-app', [new BedrockInstrumentation({ traceContent: false })]);
const { runCases } = require('./cases.cjs');
const { BedrockRuntimeClient, InvokeModelCommand } = require('@aws-sdk/client-bedrock-runtime');
const { NodeHttpHandler } = require('@smithy/node-http-handler'); // the stand-in speaks HTTP/1.1
const client = new BedrockRuntimeClient({ region: 'us-east-1', requestHandler: new NodeHttpHandler(), endpoint: process.env.PROVIDER || 'http://127.0.0.1:18080',
  credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' } });
const invoke = (text) => client.send(new InvokeModelCommand({ modelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0', contentType: 'application/json', accept: 'application/json',
  body: JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 2048, messages: [{ role: 'user', content: text }] }) }));
runCases(provider, {
  usage: async () => { await invoke('usage:3000,600,2000,0,500,1500,0,0'); },
}).catch(e => { console.error(e); process.exit(1); });
