#!/usr/bin/env node
// Gets tokens from the test provider through the real authorization-code + PKCE flow, with no
// browser and nothing listening on the redirect URI:
//
//   node token.js --issuer http://127.0.0.1:PORT --email nadia@acme.example
//                 [--client cordon-cli] [--resource urn:cordon] [--scope "openid email groups cordon"]
//                 [--redirect-uri URI]
//
// It reads discovery, GETs the authorization endpoint, follows redirects with a cookie jar,
// submits the login form with the email, lets the provider's automatic consent through, takes the
// `code` from the redirect to the redirect URI without following it, and redeems it at the token
// endpoint with the code_verifier and the resource. Prints the token endpoint's JSON response on
// stdout (one line); on any failure prints `token.js: ...` on stderr and exits 1 (2 for usage).
//
// --resource: an absolute URI (RFC 8707); a bare name such as `cordon` is taken as `urn:cordon`.
// --resource none sends no resource parameter (the provider then defaults to urn:cordon).

import * as crypto from 'node:crypto';
import { parseArgs } from 'node:util';

class Failure extends Error {}

function usage(message) {
  process.stderr.write(`token.js: ${message}\n`
    + 'usage: node token.js --issuer URL --email EMAIL [--client cordon-cli] [--resource urn:cordon] '
    + '[--scope "openid email groups cordon"] [--redirect-uri URI]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      issuer: { type: 'string' },
      email: { type: 'string' },
      client: { type: 'string', default: 'cordon-cli' },
      resource: { type: 'string', default: 'urn:cordon' },
      scope: { type: 'string', default: 'openid email groups cordon' },
      'redirect-uri': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  usage(err.message);
}
if (!args.issuer) usage('--issuer is required');
if (!args.email) usage('--email is required');

const DEFAULT_REDIRECTS = {
  'cordon-cli': 'http://127.0.0.1/callback',
  'cordon-console': 'http://127.0.0.1/console/callback',
};
const redirectUri = args['redirect-uri'] ?? DEFAULT_REDIRECTS[args.client];
if (!redirectUri) usage(`--redirect-uri is required for client ${args.client}`);

let resource = args.resource;
if (resource === 'none' || resource === '') resource = undefined;
else if (!/^[a-z][a-z0-9+.-]*:/i.test(resource)) resource = `urn:${resource}`;

// A cookie jar keyed by name and path, enough for one host.
class CookieJar {
  #cookies = new Map();

  store(response, url) {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = '/';
      let expired = value === '';
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=');
        const key = k.trim().toLowerCase();
        if (key === 'path') path = v.trim() || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      if (!attrs.some((a) => a.trim().toLowerCase().startsWith('path='))) {
        const dir = new URL(url).pathname.replace(/\/[^/]*$/, '');
        path = dir || '/';
      }
      const id = `${name}\0${path}`;
      if (expired) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, path });
    }
  }

  header(url) {
    const { pathname } = new URL(url);
    const matching = [...this.#cookies.values()].filter((c) => pathname === c.path
      || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`));
    matching.sort((a, b) => b.path.length - a.path.length);
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

const jar = new CookieJar();

async function request(url, init = {}) {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  let response;
  try {
    response = await fetch(url, {
      ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10000),
    });
  } catch (err) {
    throw new Failure(`${init.method ?? 'GET'} ${url}: ${err.cause?.message ?? err.message}`);
  }
  jar.store(response, url);
  return response;
}

function isRedirectTarget(location) {
  // The redirect URI, on any port for loopback (the provider allows that for native clients).
  const a = new URL(location);
  const b = new URL(redirectUri);
  return a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname
    && (a.port === b.port || ['127.0.0.1', '[::1]', 'localhost'].includes(a.hostname));
}

function htmlText(html) {
  const m = html.match(/id="(?:error|error_description)"[^>]*>([^<]*)</) ?? html.match(/<h1>([^<]*)</);
  const text = m ? m[1] : html.slice(0, 200);
  return text.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(c));
}

async function main() {
  const issuer = args.issuer.replace(/\/$/, '');
  const discoveryResponse = await request(`${issuer}/.well-known/openid-configuration`);
  if (!discoveryResponse.ok) throw new Failure(`discovery answered HTTP ${discoveryResponse.status}`);
  const discovery = await discoveryResponse.json();
  if (discovery.issuer !== issuer) throw new Failure(`discovery issuer ${discovery.issuer} is not ${issuer}`);

  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const state = crypto.randomBytes(16).toString('base64url');
  const nonce = crypto.randomBytes(16).toString('base64url');

  const scopes = args.scope.split(' ').filter(Boolean);
  const auth = new URL(discovery.authorization_endpoint);
  auth.search = new URLSearchParams({
    client_id: args.client,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: args.scope,
    state,
    ...(scopes.includes('openid') ? { nonce } : {}),
    code_challenge: challenge,
    code_challenge_method: 'S256',
    login_hint: args.email,
    ...(resource ? { resource } : {}),
    ...(scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
  }).toString();

  let url = auth.href;
  let init = {};
  let submittedLogin = false;
  let callback;
  for (let hop = 0; hop < 20 && !callback; hop += 1) {
    const response = await request(url, init);
    init = {};
    if ([301, 302, 303, 307, 308].includes(response.status)) {
      const location = new URL(response.headers.get('location'), url).href;
      await response.arrayBuffer();
      if (isRedirectTarget(location)) {
        callback = new URL(location);
        break;
      }
      url = location;
      continue;
    }
    const body = await response.text();
    if (response.status === 200 && /<form[^>]*id="login"/.test(body)) {
      if (submittedLogin) throw new Failure('login form shown again after submitting it');
      const action = body.match(/<form[^>]*id="login"[^>]*action="([^"]+)"/)?.[1];
      if (!action) throw new Failure('login form has no action');
      url = new URL(action.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(c)), url).href;
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ email: args.email }).toString(),
      };
      submittedLogin = true;
      continue;
    }
    if (response.status === 403 && submittedLogin) {
      throw new Failure(`login refused for ${args.email}: ${htmlText(body)}`);
    }
    throw new Failure(`unexpected HTTP ${response.status} from ${url}: ${htmlText(body)}`);
  }
  if (!callback) throw new Failure('too many redirects before reaching the redirect URI');

  const params = callback.searchParams;
  if (params.get('error')) {
    throw new Failure(`authorization failed: ${params.get('error')}: ${params.get('error_description') ?? ''}`);
  }
  if (params.get('state') !== state) throw new Failure('state mismatch in the authorization response');
  if (params.get('iss') && params.get('iss') !== issuer) throw new Failure(`iss ${params.get('iss')} in the authorization response is not ${issuer}`);
  const code = params.get('code');
  if (!code) throw new Failure(`no code in the redirect to ${callback.href}`);

  const tokenResponse = await request(discovery.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: args.client,
      code_verifier: verifier,
      ...(resource ? { resource } : {}),
    }).toString(),
  });
  const text = await tokenResponse.text();
  let tokens;
  try {
    tokens = JSON.parse(text);
  } catch {
    throw new Failure(`token endpoint answered HTTP ${tokenResponse.status} with non-JSON: ${text.slice(0, 200)}`);
  }
  if (!tokenResponse.ok || tokens.error) {
    throw new Failure(`token endpoint answered HTTP ${tokenResponse.status}: ${tokens.error}: ${tokens.error_description ?? ''}`);
  }
  if (!tokens.access_token) throw new Failure('token response has no access_token');
  process.stdout.write(`${JSON.stringify(tokens)}\n`);
}

main().catch((err) => {
  process.stderr.write(`token.js: ${err instanceof Failure ? err.message : err?.stack ?? err}\n`);
  process.exit(1);
});
