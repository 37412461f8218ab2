// Exercises every feature of `@modelcontextprotocol/server-everything` with
// the official TypeScript SDK client and prints a transcript: one entry per
// step with what the client observed (results, errors, the notifications and
// the server-to-client requests it got), without ids, session ids, cursors or
// timestamps, so a run against the server and a run through a gateway can be
// compared entry by entry.
//
// Usage: node fidelity.mjs TARGET MODE
//   TARGET: an http(s) URL (Streamable HTTP), `sse:` and a URL (the
//           2024-11-05 HTTP+SSE transport), or `stdio` (starts the server
//           whose entry point is $EVERYTHING_JS over stdio).
//   MODE:   `legacy` (initialize handshake) or `auto` (server/discover first;
//           a 2025-era server answers with the initialize handshake).
// Resolves packages from NODE_PATH (the test-peers node_modules).
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH, 'noop.js'));
const { Client, SSEClientTransport, StreamableHTTPClientTransport } = await import(
  require.resolve('@modelcontextprotocol/client')
);

const [target, mode] = process.argv.slice(2);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// What the client hears outside of results, drained by each step.
const heard = { logs: [], updated: [], listChanged: [], requests: [] };
const drain = (key) => heard[key].splice(0);

const client = new Client(
  { name: 'hangar-fidelity', version: '1.0.0' },
  {
    capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } },
    versionNegotiation: { mode },
  },
);
client.setRequestHandler('sampling/createMessage', async (request) => {
  heard.requests.push({ method: 'sampling/createMessage', messages: request.params.messages, maxTokens: request.params.maxTokens });
  return { role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'fidelity-model', stopReason: 'endTurn' };
});
client.setRequestHandler('elicitation/create', async (request) => {
  const { mode: kind = 'form', message, url } = request.params;
  heard.requests.push({ method: 'elicitation/create', mode: kind, message, url: url ?? null });
  if (kind === 'url') return { action: 'accept' };
  return { action: 'accept', content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com', integer: 7 } };
});
client.setRequestHandler('roots/list', async () => {
  heard.requests.push({ method: 'roots/list' });
  return { roots: [{ uri: 'file:///srv/fidelity', name: 'fidelity' }] };
});
client.setNotificationHandler('notifications/message', async (n) => heard.logs.push({ level: n.params.level, logger: n.params.logger ?? null }));
client.setNotificationHandler('notifications/resources/updated', async (n) => heard.updated.push(n.params.uri));
for (const kind of ['tools', 'prompts', 'resources']) {
  client.setNotificationHandler(`notifications/${kind}/list_changed`, async () => heard.listChanged.push(kind));
}

// Session ids, request ids and times vary between runs, not between paths.
const VARYING = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<uuid>'],
  [/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z/g, '<time>'],
  [/\d{1,2}:\d{2}:\d{2}\s?[AP]M/g, '<time>'],
];
// A blob is compared by what it decodes to, so the times inside it count as times.
const decoded = (blob) => `base64:${Buffer.from(blob, 'base64').toString('latin1')}`;
function normalize(value) {
  if (typeof value === 'string') return VARYING.reduce((text, [pattern, mark]) => text.replace(pattern, mark), value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .filter((k) => k !== '_meta' && k !== 'nextCursor')
        .sort()
        .map((k) => [k, normalize(k === 'blob' ? decoded(value[k]) : value[k])]),
    );
  }
  return value;
}

const failure = (error) => ({ error: { code: error.code ?? null, message: normalize(String(error.message ?? error)) } });
const transcript = [];
// FIDELITY_ONLY=sampling,roots runs only those features (for debugging).
const only = process.env.FIDELITY_ONLY?.split(',');
async function step(feature, name, run) {
  if (only && !only.includes(feature)) return;
  let outcome;
  try {
    outcome = { result: await run() };
  } catch (error) {
    outcome = failure(error);
  }
  const requests = drain('requests');
  if (requests.length > 0) outcome.requests = requests;
  transcript.push({ feature, step: name, ...normalize(outcome) });
}
const call = (name, args = {}, options) => client.callTool({ name, arguments: args }, options);
const byName = (items) => [...items].sort((a, b) => (a.name ?? a.uri ?? a.uriTemplate).localeCompare(b.name ?? b.uri ?? b.uriTemplate));
const modern = () => client.getNegotiatedProtocolVersion?.() >= '2026-07-28';

let transport;
if (target === 'stdio') {
  const { StdioClientTransport } = await import(require.resolve('@modelcontextprotocol/client/stdio'));
  transport = new StdioClientTransport({ command: process.execPath, args: [process.env.EVERYTHING_JS, 'stdio'], stderr: 'ignore' });
} else if (target.startsWith('sse:')) {
  transport = new SSEClientTransport(new URL(target.slice('sse:'.length)));
} else {
  transport = new StreamableHTTPClientTransport(new URL(target));
}
await client.connect(transport);
const protocolVersion = client.getNegotiatedProtocolVersion?.() ?? null;
// On 2026-07-28 list changes arrive only on a listen stream.
const listChanges = modern()
  ? await client.listen({ toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true })
  : null;
// The server registers its capability-dependent tools after initialization.
await sleep(500);
drain('listChanged');
drain('logs');
drain('requests');

await step('lifecycle', 'ping', () => client.ping());
await step('lifecycle', 'server info', () => {
  const info = client.getServerVersion();
  const capabilities = client.getServerCapabilities();
  return { name: info?.name, version: info?.version, capabilities: Object.keys(capabilities ?? {}).sort() };
});
await step('lifecycle', 'instructions', () => (client.getInstructions() ?? '').length > 0);

await step('tools', 'tools/list', async () => byName((await client.listTools()).tools));
await step('tools', 'unknown tool', () => call('no-such-tool'));
await step('tools', 'invalid arguments', () => call('get-sum', { a: 'one' }));

await step('content', 'text', () => call('echo', { message: 'fidelity' }));
await step('content', 'image', () => call('get-tiny-image'));
await step('content', 'annotations', () => call('get-annotated-message', { messageType: 'error', includeImage: true }));
await step('content', 'resource links', () => call('get-resource-links', { count: 3 }));
await step('content', 'embedded resource', () => call('get-resource-reference', { resourceType: 'Text', resourceId: 2 }));
await step('content', 'structured output', () => call('get-structured-content', { location: 'New York' }));
await step('content', 'sum', () => call('get-sum', { a: 2, b: 3 }));

await step('progress', 'trigger-long-running-operation', async () => {
  const progress = [];
  const result = await call('trigger-long-running-operation', { duration: 1, steps: 5 }, {
    onprogress: (p) => progress.push(p),
  });
  // Directly over stdio the SDK client sometimes misses the last one, which
  // the server sends just before its result; so at least four of five count.
  return {
    result,
    received: progress.length >= 4,
    inOrder: progress.every((p, i) => p.progress === i + 1 && p.total === 5),
  };
});
await step('cancellation', 'abort a long call', async () => {
  const controller = new AbortController();
  const progress = [];
  const pending = call('trigger-long-running-operation', { duration: 4, steps: 4 }, {
    signal: controller.signal,
    onprogress: (p) => progress.push(p.progress),
  });
  await sleep(1500);
  controller.abort('fidelity: abandoned');
  const outcome = await pending.then(() => 'completed', () => 'aborted');
  await sleep(3000);
  // No more progress after the abort, and the connection still serves.
  const serves = (await call('echo', { message: 'after' })).content[0].text;
  return { outcome, progressBeforeAbort: progress.length >= 1, progressAfterAbort: progress.length > 1, serves };
});

await step('sampling', 'trigger-sampling-request', () => call('trigger-sampling-request', { prompt: 'Capital of France?', maxTokens: 20 }));
await step('elicitation', 'form', () => call('trigger-elicitation-request'));
await step('elicitation', 'url', () => call('trigger-url-elicitation', { url: 'https://example.com/authorize', message: 'Sign in' }));
await step('roots', 'get-roots-list', () => call('get-roots-list'));

await step('prompts', 'prompts/list', async () => byName((await client.listPrompts()).prompts));
await step('prompts', 'simple-prompt', () => client.getPrompt({ name: 'simple-prompt' }));
await step('prompts', 'args-prompt', () => client.getPrompt({ name: 'args-prompt', arguments: { city: 'Paris', state: 'Ile-de-France' } }));
await step('prompts', 'resource-prompt', () => client.getPrompt({ name: 'resource-prompt', arguments: { resourceType: 'Text', resourceId: '1' } }));
await step('prompts', 'unknown prompt', () => client.getPrompt({ name: 'no-such-prompt' }));
await step('completions', 'prompt argument', () =>
  client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } }));
await step('completions', 'dependent argument', () =>
  client.complete({
    ref: { type: 'ref/prompt', name: 'completable-prompt' },
    argument: { name: 'name', value: '' },
    context: { arguments: { department: 'Engineering' } },
  }));
await step('completions', 'resource template variable', () =>
  client.complete({ ref: { type: 'ref/resource', uri: 'demo://resource/dynamic/text/{resourceId}' }, argument: { name: 'resourceId', value: '1' } }));

await step('resources', 'resources/list', async () => byName((await client.listResources()).resources));
await step('pagination', 'first page', async () => {
  const page = await client.listResources({ cursor: undefined });
  return { items: page.resources.length, more: page.nextCursor !== undefined };
});
await step('resources', 'resources/templates/list', async () => byName((await client.listResourceTemplates()).resourceTemplates));
await step('resources', 'static text', () => client.readResource({ uri: 'demo://resource/static/document/architecture.md' }));
await step('resources', 'template text', () => client.readResource({ uri: 'demo://resource/dynamic/text/1' }));
await step('resources', 'template blob', () => client.readResource({ uri: 'demo://resource/dynamic/blob/2' }));
await step('resources', 'unknown resource', () => client.readResource({ uri: 'demo://resource/no-such-thing' }));

await step('list_changed', 'a tool adds a resource', async () => {
  const data = `data:text/plain;base64,${Buffer.from('hello fidelity\n'.repeat(20)).toString('base64')}`;
  const result = await call('gzip-file-as-resource', { name: 'fidelity.txt.gz', data, outputType: 'resourceLink' });
  await sleep(1000);
  const listed = (await client.listResources()).resources.some((r) => r.name === 'fidelity.txt.gz' || r.uri.endsWith('fidelity.txt.gz'));
  return { result, notified: [...new Set(drain('listChanged'))].sort(), listed };
});

await step('subscriptions', 'resource updates', async () => {
  const uri = 'demo://resource/dynamic/text/1';
  let subscription;
  if (modern()) {
    subscription = await client.listen({ resourceSubscriptions: [uri] });
  } else {
    await client.subscribeResource({ uri });
  }
  await call('toggle-subscriber-updates');
  await sleep(6000);
  await call('toggle-subscriber-updates');
  if (subscription) await subscription.close();
  else await client.unsubscribeResource({ uri });
  const updated = [...new Set(drain('updated'))];
  return { updated };
});

await step('logging', 'simulated log messages', async () => {
  drain('logs');
  const level = await client.setLoggingLevel('debug').then(() => 'set', failure);
  await call('toggle-simulated-logging');
  // Only what arrives outside a call counts: the server sends a message every few seconds.
  drain('logs');
  await sleep(7000);
  const logs = drain('logs');
  await call('toggle-simulated-logging');
  return { level, received: logs.length > 0, loggers: [...new Set(logs.map((l) => l.logger))].sort() };
});

await step('tasks', 'simulate-research-query', () => call('simulate-research-query', { topic: 'fidelity', ambiguous: false }));

await listChanges?.close();
await client.close();
console.log(JSON.stringify({ protocolVersion, transcript }));
