// The Anthropic messages cases, shared by every Anthropic instrumentation's client.
const { runCases, consume, stopAfterFirst } = require('./cases.cjs');
module.exports = (provider, client) => {
  const msg = (text, extra = {}) => ({ model: 'claude-sonnet-4-5', max_tokens: 2048, messages: [{ role: 'user', content: text }], ...extra });
  runCases(provider, {
    // 5m and 1h cache writes, cache reads; then extended thinking (output includes it).
    usage: async () => {
      await client.messages.create(msg('usage:3000,600,2000,0,500,1500,0,0'));
      await client.messages.create(msg('usage:1200,900,0,700,0', { thinking: { type: 'enabled', budget_tokens: 1024 } }));
    },
    stream: async () => consume(await client.messages.create(msg('usage:3000,600,2000,0,500,1500,0,0', { stream: true }))),
    'stream-stopped': async () => stopAfterFirst((signal) => client.messages.create(msg('usage:3000,600,2000,0,500,1500,0,0 stall', { stream: true }), { signal })),
  }).catch(e => { console.error(e); process.exit(1); });
};
