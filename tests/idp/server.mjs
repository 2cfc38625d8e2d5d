// OpenID provider for the end-to-end tests (node-oidc-provider), bound to 127.0.0.1 only.
//
//   PORT=3000 KEYS_FILE=/tmp/keys.json TOKEN_TTL=300 node tests/idp/server.mjs
//
// Client `test-client` / `test-secret` gets access tokens with the client_credentials grant.
// The `resource` parameter picks the token format: https://api.test/<alg> for a JWT signed
// with RS256, PS256, ES256 or EdDSA (audience = the resource), https://api.test/opaque for an
// opaque token (introspection). Signing keys persist in KEYS_FILE: delete it and restart to
// rotate them. Prints `ready <issuer>` once listening.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';
import { CompactSign, importJWK } from 'jose';

const port = Number(process.env.PORT || 3000);
const keysFile = process.env.KEYS_FILE;
const ttl = Number(process.env.TOKEN_TTL || 300);
const issuer = `http://127.0.0.1:${port}`;

function newKeys() {
  const jwk = (type, opts) => generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...jwk('rsa', { modulusLength: 2048 }), use: 'sig' },
      { ...jwk('ec', { namedCurve: 'P-256' }), use: 'sig' },
      { ...jwk('ed25519'), use: 'sig' },
    ],
  };
}

let jwks;
if (keysFile && existsSync(keysFile)) {
  jwks = JSON.parse(readFileSync(keysFile, 'utf8'));
} else {
  jwks = newKeys();
  if (keysFile) writeFileSync(keysFile, JSON.stringify(jwks));
}

const algs = { rs256: 'RS256', ps256: 'PS256', es256: 'ES256', eddsa: 'EdDSA' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'test-client',
      client_secret: 'test-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      scope: 'read write admin',
    },
  ],
  jwks,
  scopes: ['read', 'write', 'admin'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.test/opaque',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        const kind = resource.replace('https://api.test/', '');
        const info = { scope: 'read write admin', audience: resource, accessTokenTTL: ttl };
        if (kind === 'opaque') return { ...info, accessTokenFormat: 'opaque' };
        const alg = algs[kind];
        if (!alg) throw new Error(`unknown resource ${resource}`);
        return { ...info, accessTokenFormat: 'jwt', jwt: { sign: { alg } } };
      },
    },
  },
  extraTokenClaims: () => ({ email: 'robot@example.com', groups: ['ops', 'dev'] }),
});
provider.proxy = false;

// Test-only: POST /test/sign {"alg": "RS256", "header": {...}, "payload": {...}} signs any header
// and claims with this provider's key for `alg` (kid added unless the header sets one; a kid of
// null leaves it out).
const keyFor = { RS256: 'RSA', PS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' };
async function sign(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  try {
    const { alg, header = {}, payload } = JSON.parse(body);
    const jwk = jwks.keys.find((k) => k.kty === keyFor[alg]);
    const publicKids = (await (await fetch(`${issuer}/jwks`)).json()).keys;
    const kid = publicKids.find((k) => k.kty === jwk.kty).kid;
    const key = await importJWK(jwk, alg);
    const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const protectedHeader = { alg, kid, ...header };
    if (protectedHeader.kid === null) delete protectedHeader.kid; // a token without a kid
    const token = await new CompactSign(new TextEncoder().encode(text))
      .setProtectedHeader(protectedHeader)
      .sign(key, { crit: Object.fromEntries((header.crit || []).map((c) => [c, true])) });
    res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
  } catch (e) {
    res.writeHead(400).end(String(e));
  }
}

// Test-only: POST /test/introspect with `Authorization: Bearer <client-credentials token>` (the
// way Oathkeeper's pre_authorization calls Hydra): the caller's token must be active, then the
// form's `token` is introspected with this provider's own client authentication.
async function introspect(token) {
  const r = await fetch(`${issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('test-client:test-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  return r.json();
}
async function bearerIntrospection(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const caller = (req.headers.authorization || '').replace(/^Bearer /, '');
  if (!caller || !(await introspect(caller)).active) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
    return;
  }
  const token = new URLSearchParams(body).get('token') || '';
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await introspect(token)));
}

// Test-only: POST /test/hydra-introspect, introspection as ORY Hydra answers it: a `scope` form
// field asks the endpoint itself to check scopes (Oathkeeper sends it with `scope_strategy:
// none`); a token without every asked scope is inactive.
async function hydraIntrospection(req, res) {
  let body = '';
  for await (const chunk of req) body += chunk;
  const form = new URLSearchParams(body);
  const result = await introspect(form.get('token') || '');
  const asked = (form.get('scope') || '').split(' ').filter(Boolean);
  const granted = (result.scope || '').split(' ');
  const answer = result.active && asked.every((s) => granted.includes(s)) ? result : { active: false };
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
}

const app = provider.callback();
const routes = {
  '/test/sign': sign,
  '/test/introspect': bearerIntrospection,
  '/test/hydra-introspect': hydraIntrospection,
};
http.createServer((req, res) => (req.method === 'POST' && routes[req.url] ? routes[req.url](req, res) : app(req, res))).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
