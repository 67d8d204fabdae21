// Shared by the cases-*.cjs clients: runs the case named by $CASE (every case when unset), each
// under its own app span so that a capture shows the tenant's parent, then flushes the spans.
// A stopped stream is an AbortController aborted after the first event, as a user's "stop" does.
const api = require('@opentelemetry/api');

async function runCases(provider, cases) {
  const tracer = api.trace.getTracer('app');
  const names = process.env.CASE ? process.env.CASE.split(',') : Object.keys(cases);
  for (const name of names) {
    if (!cases[name]) throw new Error('unknown case ' + name + '; have ' + Object.keys(cases).join(', '));
    await tracer.startActiveSpan('case ' + name, { attributes: { 'tenant.id': process.env.TENANT || 'tenant-x' } }, async (parent) => {
      try { await cases[name](); } finally { parent.end(); }
    });
  }
  // Give instrumentations that end their span after the stream's last event a moment.
  await new Promise(r => setTimeout(r, 200));
  await provider.forceFlush(); await provider.shutdown();
}

// consume reads a stream to its end.
async function consume(stream) { for await (const _ of stream) {} }

// stopAfterFirst reads the first event of the stream made by start(signal), then aborts it.
async function stopAfterFirst(start) {
  const ac = new AbortController();
  try {
    const stream = await start(ac.signal);
    for await (const _ of stream) { ac.abort(); }
  } catch (e) {
    if (!/abort/i.test(String(e && (e.name + e.message)))) throw e;
  }
}

module.exports = { runCases, consume, stopAfterFirst };
