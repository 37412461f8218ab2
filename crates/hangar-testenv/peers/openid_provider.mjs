// A certified OpenID Provider we did not write (the `oidc-provider` package)
// for the gateway's tests: OpenID discovery, a JWKS, and JWT access tokens from
// the client credentials grant with resource indicators (RFC 8707), and from
// OAuth 2.0 Token Exchange (RFC 8693), which the package leaves to its
// configuration: registered below as a grant type that takes a JWT access
// token this provider signed and issues one for the requested resource, with
// the same subject and the exchanging client as `act`.
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
const jose = await import(
  pathToFileURL(join(process.env.HANGAR_NODE_MODULES, 'jose', 'dist', 'webapi', 'index.js')).href
);

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

let keys = existsSync(keysFile) ? JSON.parse(readFileSync(keysFile, 'utf8')).keys : [];
if (keys.length === 0 || mode === 'rotate') keys = [newKey(), ...keys];
writeFileSync(keysFile, JSON.stringify({ keys }));

const issuer = `http://127.0.0.1:${port}`;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

function resourceServer(indicator) {
  const resource = config.resources.find((r) => indicator.startsWith(r.prefix));
  if (!resource) throw new errors.InvalidTarget(`no resource server at ${indicator}`);
  return {
    audience: resource.audience,
    scope: resource.scope,
    accessTokenTTL: resource.ttl,
    accessTokenFormat: 'jwt',
  };
}
const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    ...client,
    grant_types: ['client_credentials', TOKEN_EXCHANGE],
    redirect_uris: [],
    response_types: [],
  })),
  jwks: { keys },
  scopes: ['openid', ...new Set(config.resources.map((r) => r.scope))],
  extraTokenClaims: async (_ctx, token) => exchanged.get(token),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async getResourceServerInfo(_ctx, indicator) {
        return resourceServer(indicator);
      },
    },
  },
});
// The extra claims of exchanged tokens (RFC 8693 §4.1 `act`).
const exchanged = new WeakMap();
provider.registerGrantType(
  TOKEN_EXCHANGE,
  async (ctx) => {
    const { subject_token: subjectToken, subject_token_type: subjectType, resource } = ctx.oidc.params;
    if (subjectType !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
    }
    if (!resource) throw new errors.InvalidTarget('a resource indicator is required');
    const publicKeys = jose.createLocalJWKSet({
      keys: keys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub),
    });
    let subject;
    try {
      ({ payload: subject } = await jose.jwtVerify(subjectToken, publicKeys, { issuer }));
    } catch (e) {
      throw new errors.InvalidGrant(`subject_token: ${e.message}`);
    }
    const info = resourceServer(resource);
    const token = new ctx.oidc.provider.AccessToken({
      accountId: subject.sub,
      client: ctx.oidc.client,
      grantId: randomUUID(),
      gty: 'token_exchange',
      scope: info.scope,
    });
    token.resourceServer = new ctx.oidc.provider.ResourceServer(resource, info);
    exchanged.set(token, { act: { sub: ctx.oidc.client.clientId } });
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: token.expiration,
      scope: token.scope,
    };
  },
  ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'scope', 'audience'],
);
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
