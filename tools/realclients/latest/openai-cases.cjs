// The OpenAI chat-completions cases, shared by every OpenAI instrumentation's client.
const { runCases, consume, stopAfterFirst } = require('./cases.cjs');
module.exports = (provider, client) => {
  const chat = (model, text, extra = {}) => ({ model, messages: [{ role: 'user', content: text }], ...extra });
  runCases(provider, {
    // Cache reads; reasoning (o4-mini); audio in and out (gpt-4o-audio-preview).
    usage: async () => {
      await client.chat.completions.create(chat('gpt-4o', 'usage:4100,730,1024,0,0'));
      await client.chat.completions.create(chat('o4-mini', 'usage:3300,2600,1024,2048,0'));
      await client.chat.completions.create(chat('gpt-4o-audio-preview', 'usage:1000,500,0,0,0,0,300,250', { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } }));
    },
    stream: async () => consume(await client.chat.completions.create(chat('gpt-4o-mini', 'usage:2600,450,1024,0,0', { stream: true, stream_options: { include_usage: true } }))),
    'stream-nousage': async () => consume(await client.chat.completions.create(chat('gpt-4o-mini', 'usage:2600,450,1024,0,0', { stream: true }))),
    'stream-stopped': async () => stopAfterFirst((signal) => client.chat.completions.create(chat('gpt-4o-mini', 'usage:2600,450,1024,0,0 stall', { stream: true, stream_options: { include_usage: true } }), { signal })),
  }).catch(e => { console.error(e); process.exit(1); });
};
