// A certified OpenID Provider we did not write (the `oidc-provider` package)
// for the gateway's tests: OpenID discovery, a JWKS, and JWT access tokens from
// the client credentials grant with resource indicators (RFC 8707).
//
// Usage: node openid_provider.mjs PORT KEYS_FILE CONFIG_JSON [rotate]
//   KEYS_FILE   its private signing keys (a JWKS). Created with one key when
//               missing; with `rotate`, a new key is put first (it signs from
//               now on) and the old ones stay published.
//   CONFIG_JSON {"clients": [{"client_id", "client_secret", "scope"}],
//                "resources": [{"prefix", "audience", "scope", "ttl"}]}
//               a resource indicator starting with `prefix` gets tokens for
//               `audience`, valid `ttl` seconds.
// Environment: HANGAR_NODE_MODULES (where oidc-provider is installed).
// Prints "ready" once it listens on 127.0.0.1:PORT.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, keysFile, configJson, mode] = process.argv.slice(2);
const config = JSON.parse(configJson);
const entry = join(process.env.HANGAR_NODE_MODULES, 'oidc-provider', 'lib', 'index.js');
const { default: Provider, errors } = await import(pathToFileURL(entry).href);

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let keys = existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')).keys : [];
if (keys.length === 0 || mode === 'rotate') keys = [newKey(), ...keys];
writeFileSync(keysFile, JSON.stringify({ keys }));

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    ...client,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  })),
  jwks: { keys },
  scopes: ['openid', ...new Set(config.resources.map((r) => r.scope))],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(_ctx, indicator) {
        const resource = config.resources.find((r) => indicator.startsWith(r.prefix));
        if (!resource) throw new errors.InvalidTarget(`no resource server at ${indicator}`);
        return {
          audience: resource.audience,
          scope: resource.scope,
          accessTokenTTL: resource.ttl,
          accessTokenFormat: 'jwt',
        };
      },
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
