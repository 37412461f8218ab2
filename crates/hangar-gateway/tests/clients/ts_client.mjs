// Runs a plan of MCP operations against a server with the official TypeScript
// SDK client (@modelcontextprotocol/client).
//
// Usage: node ts_client.mjs URL MODE < plan.json
// MODE is "legacy" (initialize handshake) or "auto" (server/discover, then stateless).
// A step with "timed": true reports how long it took in "ms".
// Resolves packages from NODE_PATH (the test-peers node_modules).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(join(process.env.NODE_PATH, 'noop.js'));
const { Client, StreamableHTTPClientTransport } = await import(
  require.resolve('@modelcontextprotocol/client')
);

const [url, mode] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(0, 'utf8'));

const versionNegotiation = { mode };
const client = new Client(
  { name: 'hangar-ts-test', version: '1.0.0' },
  { capabilities: { sampling: {}, elicitation: {} }, versionNegotiation },
);
client.setRequestHandler('sampling/createMessage', async () => ({
  role: 'assistant',
  content: { type: 'text', text: 'Paris' },
  model: 'ts-test-model',
  stopReason: 'endTurn',
}));
client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));

const summary = (block) =>
  Object.fromEntries(['type', 'text', 'mimeType'].filter((k) => k in block).map((k) => [k, block[k]]));

async function run(step) {
  switch (step.op) {
    case 'list_tools': {
      const tools = [];
      let cursor;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined);
        tools.push(...page.tools);
        cursor = page.nextCursor;
      } while (cursor);
      const keep = ['name', 'title', 'description', 'inputSchema', 'annotations'];
      return {
        names: tools.map((t) => t.name),
        tools: tools.map((t) => Object.fromEntries(keep.filter((k) => k in t).map((k) => [k, t[k]]))),
      };
    }
    case 'call_tool': {
      const result = await client.callTool({ name: step.name, arguments: step.arguments ?? {} });
      return {
        isError: result.isError === true,
        content: result.content.map(summary),
        structured: result.structuredContent ?? null,
      };
    }
    case 'list_prompts':
      return { names: (await client.listPrompts()).prompts.map((p) => p.name) };
    case 'get_prompt': {
      const result = await client.getPrompt({ name: step.name, arguments: step.arguments });
      return { messages: result.messages.map((m) => ({ role: m.role, ...summary(m.content) })) };
    }
    case 'list_resources':
      return { uris: (await client.listResources()).resources.map((r) => r.uri) };
    case 'list_resource_templates':
      return { uriTemplates: (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate) };
    case 'read_resource': {
      const first = (await client.readResource({ uri: step.uri })).contents[0];
      return Object.fromEntries(['text', 'blob', 'mimeType'].filter((k) => k in first).map((k) => [k, first[k]]));
    }
    default:
      throw new Error(`unknown op ${step.op}`);
  }
}

await client.connect(new StreamableHTTPClientTransport(new URL(url)));
const results = [];
for (const step of plan) {
  const started = performance.now();
  let result;
  try {
    result = await run(step);
  } catch (error) {
    if (typeof error?.code === 'number') {
      result = { error: { code: error.code, message: error.message } };
    } else {
      throw error;
    }
  }
  if (step.timed) {
    result.ms = performance.now() - started;
  }
  results.push(result);
}
console.log(
  JSON.stringify({
    protocolVersion: client.getNegotiatedProtocolVersion?.() ?? null,
    serverName: client.getServerVersion()?.name ?? null,
    results,
  }),
);
await client.close();
