// The Vercel AI SDK cases (generateText / streamText with telemetry on), for its OpenAI and
// Anthropic providers. streamText asks OpenAI for include_usage itself.
const { runCases } = require('./cases.cjs');
const { generateText, streamText } = require('ai');
module.exports = (provider, chatModel, anthropicModel) => {
  const tel = (id) => ({ isEnabled: true, functionId: id, metadata: { tenant_id: process.env.TENANT || 'tenant-x' } });
  const stopped = async (model, prompt) => {
    const ac = new AbortController();
    const r = streamText({ model, prompt, abortSignal: ac.signal, experimental_telemetry: tel('stopped'), onError: () => {} });
    try { for await (const _ of r.textStream) { ac.abort(); } } catch (e) { if (!/abort/i.test(String(e && (e.name + e.message)))) throw e; }
  };
  const complete = async (model, prompt) => {
    const r = streamText({ model, prompt, experimental_telemetry: tel('stream') });
    for await (const _ of r.textStream) {}
    await r.usage;
  };
  runCases(provider, {
    'openai-usage': async () => {
      await generateText({ model: chatModel('gpt-4o'), prompt: 'usage:4100,730,1024,0,0', experimental_telemetry: tel('usage') });
      await generateText({ model: chatModel('o4-mini'), prompt: 'usage:3300,2600,1024,2048,0', experimental_telemetry: tel('usage') });
    },
    'openai-stream': async () => complete(chatModel('gpt-4o-mini'), 'usage:2600,450,1024,0,0'),
    'openai-stream-stopped': async () => stopped(chatModel('gpt-4o-mini'), 'usage:2600,450,1024,0,0 stall'),
    'anthropic-usage': async () => {
      await generateText({ model: anthropicModel('claude-sonnet-4-5'), prompt: 'usage:3000,600,2000,0,500,1500,0,0', experimental_telemetry: tel('usage') });
      await generateText({ model: anthropicModel('claude-sonnet-4-5'), prompt: 'usage:1200,900,0,700,0', experimental_telemetry: tel('usage'),
        providerOptions: { anthropic: { thinking: { type: 'enabled', budgetTokens: 1024 } } } });
    },
    'anthropic-stream': async () => complete(anthropicModel('claude-sonnet-4-5'), 'usage:3000,600,2000,0,500,1500,0,0'),
    'anthropic-stream-stopped': async () => stopped(anthropicModel('claude-sonnet-4-5'), 'usage:3000,600,2000,0,500,1500,0,0 stall'),
  }).catch(e => { console.error(e); process.exit(1); });
};
