#!/usr/bin/env node
// A real OpenID Connect provider (panva's oidc-provider) for Cordon's end-to-end tests.
//
//   node provider.js --port PORT [--users users.json] [--access-ttl SECONDS] [--id-ttl SECONDS]
//                    [--alg RS256|ES256] [--console-redirect URL]... [--exit-with-stdin]
//
// Listens on 127.0.0.1:PORT (PORT 0 picks a free port), issuer http://127.0.0.1:PORT, and prints
// exactly one line on stdout, `ready http://127.0.0.1:PORT`, once it accepts connections. Every
// other message goes to stderr. Exits 0 on SIGTERM or SIGINT. See README.md.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

// oidc-provider prints its notices with console.info, i.e. on stdout: stdout is reserved for the
// ready line, so everything the library (or this file) logs goes to stderr.
console.info = console.error;
console.log = console.error;

// The resource indicator (RFC 8707 requires an absolute URI) and the `aud` of its access tokens.
const RESOURCE = 'urn:cordon';
const AUDIENCE = 'cordon';

const DEFAULT_USERS = [
  { sub: 'u-nadia', email: 'nadia@acme.example', name: 'Nadia', groups: ['nhi-governance'] },
  { sub: 'u-ivan', email: 'ivan@acme.example', name: 'Ivan', groups: ['incident-response'] },
  { sub: 'u-mallory', email: 'mallory@acme.example', name: 'Mallory', groups: [] },
  // In no team of the test models by name: only her group can make her a member.
  { sub: 'u-olga', email: 'olga@acme.example', name: 'Olga', groups: ['nhi-governance'] },
];

function fail(message) {
  process.stderr.write(`provider.js: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      port: { type: 'string' },
      users: { type: 'string' },
      'access-ttl': { type: 'string', default: '600' },
      'id-ttl': { type: 'string', default: '3600' },
      alg: { type: 'string', default: 'RS256' },
      'console-redirect': { type: 'string', multiple: true, default: [] },
      'exit-with-stdin': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail(err.message);
}
if (args.help) {
  process.stderr.write('usage: node provider.js --port PORT [--users users.json] [--access-ttl SECONDS] '
    + '[--id-ttl SECONDS] [--alg RS256|ES256] [--console-redirect URL]... [--exit-with-stdin]\n');
  process.exit(0);
}

function positiveInt(name, value, allowZero = false) {
  if (!/^\d+$/.test(value ?? '') || (!allowZero && Number(value) === 0) || !Number.isSafeInteger(Number(value))) {
    fail(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

if (args.port === undefined) fail('--port PORT is required (0 picks a free port)');
const port = positiveInt('port', args.port, true);
if (port > 65535) fail('--port must be at most 65535');
const accessTtl = positiveInt('access-ttl', args['access-ttl']);
const idTtl = positiveInt('id-ttl', args['id-ttl']);
const ALGS = ['RS256', 'ES256'];
if (!ALGS.includes(args.alg)) fail(`--alg must be one of ${ALGS.join(', ')}`);
const signingAlg = args.alg;
for (const uri of args['console-redirect']) {
  if (!URL.canParse(uri)) fail(`--console-redirect must be an absolute URL, got ${JSON.stringify(uri)}`);
}

function loadUsers(file) {
  if (!file) return DEFAULT_USERS;
  let users;
  try {
    users = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`cannot read --users ${file}: ${err.message}`);
  }
  if (!Array.isArray(users)) fail('--users must hold a JSON array of {sub, email, groups}');
  const subs = new Set();
  const emails = new Set();
  for (const [i, user] of users.entries()) {
    if (typeof user?.sub !== 'string' || !user.sub) fail(`users[${i}].sub must be a non-empty string`);
    if (typeof user.email !== 'string' || !user.email) fail(`users[${i}].email must be a non-empty string`);
    if (user.groups !== undefined && !(Array.isArray(user.groups) && user.groups.every((g) => typeof g === 'string'))) {
      fail(`users[${i}].groups must be an array of strings`);
    }
    if (subs.has(user.sub)) fail(`duplicate sub ${user.sub}`);
    if (emails.has(user.email.toLowerCase())) fail(`duplicate email ${user.email}`);
    subs.add(user.sub);
    emails.add(user.email.toLowerCase());
  }
  return users.map((u) => ({ ...u, groups: u.groups ?? [] }));
}

const users = loadUsers(args.users);
const bySub = new Map(users.map((u) => [u.sub, u]));
const byEmail = new Map(users.map((u) => [u.email.toLowerCase(), u]));

// ---------------------------------------------------------------------------------------------
// Keys. The JWKS is an ordered list: oidc-provider signs with the FIRST key that fits the
// algorithm, so a rotation puts the new keys in front. Old keys stay published unless the
// rotation asks to retire them.

let keyCounter = 0;

async function generateKey(alg) {
  keyCounter += 1;
  const kid = `${alg.toLowerCase()}-${keyCounter}-${crypto.randomBytes(4).toString('hex')}`;
  const { privateKey } = alg === 'RS256'
    ? await new Promise((resolve, reject) => crypto.generateKeyPair('rsa', { modulusLength: 2048 },
      (err, publicKey, key) => (err ? reject(err) : resolve({ publicKey, privateKey: key }))))
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

let keys = await Promise.all(ALGS.map(generateKey));

// ---------------------------------------------------------------------------------------------
// Provider. Imported after console is redirected, so its notices land on stderr.

const { default: Provider, errors } = await import('oidc-provider');

const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

function findUser(sub) {
  return bySub.get(sub);
}

function clients() {
  const consoleRedirects = args['console-redirect'].length
    ? args['console-redirect']
    : ['http://127.0.0.1/console/callback'];
  return [
    {
      client_id: 'cordon-cli',
      application_type: 'native', // RFC 8252: any port on a loopback redirect URI is accepted
      token_endpoint_auth_method: 'none', // public, so PKCE (S256) is required
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
      id_token_signed_response_alg: signingAlg,
    },
    {
      client_id: 'cordon-console',
      application_type: 'web',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: consoleRedirects,
      post_logout_redirect_uris: consoleRedirects,
      id_token_signed_response_alg: signingAlg,
    },
  ];
}

function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    clients: clients(),
    jwks: { keys },
    cookies: { keys: cookieKeys },
    clientDefaults: { id_token_signed_response_alg: signingAlg },
    // The user's claims go into the ID token even though an access token is issued alongside.
    conformIdTokenClaims: false,
    // email and groups belong to the `openid` scope too, so they are always in ID tokens and at
    // userinfo; the usual `email` and `groups` scopes may be asked for as well.
    claims: {
      openid: ['sub', 'email', 'email_verified', 'groups', 'name'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      profile: ['name'],
    },
    scopes: ['openid', 'offline_access', 'email', 'groups', 'profile'],
    async findAccount(ctx, sub) {
      const user = findUser(sub);
      if (!user) return undefined;
      return {
        accountId: user.sub,
        async claims() {
          return {
            sub: user.sub,
            email: user.email,
            email_verified: true,
            groups: [...user.groups],
            ...(user.name ? { name: user.name } : {}),
          };
        },
      };
    },
    // Access tokens (JWTs for urn:cordon) carry the user's email and groups.
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const user = findUser(token.accountId);
      if (!user) return undefined;
      return { email: user.email, groups: [...user.groups] };
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A client that sends no resource parameter still gets a JWT for Cordon.
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}, only ${RESOURCE}`);
          return {
            scope: 'cordon',
            audience: AUDIENCE,
            accessTokenTTL: accessTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: signingAlg } },
          };
        },
      },
    },
    pkce: { required: () => true },
    clientBasedCORS: () => true,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: 60,
      IdToken: idTtl,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
      RefreshToken: 86400,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>oidc error</title><h1>${esc(out.error)}</h1><p id="error_description">${esc(out.error_description ?? '')}</p>`;
    },
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`provider.js: server_error: ${err?.stack ?? err}\n`));
  return { provider, handler: provider.callback() };
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------------------------
// Interactions: login by email (no password), consent granted without asking.

function loginPage(uid, details, error) {
  const hint = details.params.login_hint ?? '';
  const options = users.map((u) => `<li><code>${esc(u.email)}</code> (${esc(u.groups.join(', ') || 'no groups')})</li>`).join('');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Cordon test IdP: sign in</title></head>
<body>
<h1>Cordon test IdP</h1>
<p>Client <code>${esc(details.params.client_id)}</code> asks you to sign in. No password: this is a test identity provider.</p>
${error ? `<p id="error" role="alert">${esc(error)}</p>` : ''}
<form id="login" method="post" action="/interaction/${esc(uid)}/login">
  <label>Email <input type="email" name="email" autofocus required value="${esc(hint)}"></label>
  <button type="submit">Sign in</button>
</form>
<p>Known users:</p><ul>${options}</ul>
</body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 65536) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function grantConsent(provider, details) {
  const { prompt: { details: missing }, params, session: { accountId }, grantId } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  return grant.save();
}

async function interaction(provider, req, res, url) {
  const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!m) return send(res, 404, 'text/plain', 'not found\n');
  const [, uid, login] = m;
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, 'text/html', `<!doctype html><h1>interaction expired or unknown</h1><p>${esc(err.message)}</p>`);
  }
  if (details.uid !== uid) return send(res, 400, 'text/plain', 'interaction mismatch\n');

  if (req.method === 'GET' && !login) {
    if (details.prompt.name === 'login') return send(res, 200, 'text/html', loginPage(uid, details));
    if (details.prompt.name === 'consent') {
      const consentGrantId = await grantConsent(provider, details);
      return provider.interactionFinished(req, res, { consent: { grantId: consentGrantId } }, { mergeWithLastSubmission: true });
    }
    return send(res, 400, 'text/plain', `unsupported prompt ${details.prompt.name}\n`);
  }

  if (req.method === 'POST' && login) {
    if (details.prompt.name !== 'login') return send(res, 400, 'text/plain', 'not a login prompt\n');
    const form = await readForm(req);
    const email = (form.get('email') ?? '').trim().toLowerCase();
    const user = byEmail.get(email);
    if (!user) {
      return send(res, 403, 'text/html', loginPage(uid, details, `unknown user ${email || '(empty)'}`));
    }
    process.stderr.write(`provider.js: ${user.email} signed in for ${details.params.client_id}\n`);
    return provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }

  return send(res, 405, 'text/plain', 'method not allowed\n');
}

// ---------------------------------------------------------------------------------------------
// Test-only endpoints.
//
// POST /test/rotate[?alg=RS256|ES256|all][&retire=1]
//   Generates a new key for each selected algorithm (default: all) with a fresh kid and puts it
//   first, so newly issued tokens are signed with it. Old keys stay in the JWKS (tokens they
//   signed still verify) unless retire=1, which drops the old keys of the rotated algorithms.
//   Answers {"kids": {"RS256": kid, "ES256": kid}, "added": [...], "retired": [...], "jwks": [...]}.
// GET /test/keys: the same shape, without rotating.

let current;

function keysReport(added = [], retired = []) {
  const kids = {};
  for (const alg of ALGS) kids[alg] = keys.find((k) => k.alg === alg)?.kid;
  return {
    signing_alg: signingAlg, kids, added, retired, jwks: keys.map((k) => k.kid),
  };
}

async function rotate(url, issuer) {
  const which = url.searchParams.get('alg') ?? 'all';
  const algs = which === 'all' ? ALGS : [which];
  if (!algs.every((a) => ALGS.includes(a))) return [400, { error: `alg must be one of ${ALGS.join(', ')} or all` }];
  const retire = ['1', 'true', 'yes'].includes(url.searchParams.get('retire') ?? '');
  const fresh = await Promise.all(algs.map(generateKey));
  const retired = retire ? keys.filter((k) => algs.includes(k.alg)).map((k) => k.kid) : [];
  keys = [...fresh, ...keys.filter((k) => !retired.includes(k.kid))];
  // oidc-provider fixes its keystore when it is built: build a new one around the new keys. The
  // in-memory store of sessions, grants and codes is shared, so flows in progress carry on.
  current = makeProvider(issuer);
  const report = keysReport(fresh.map((k) => k.kid), retired);
  process.stderr.write(`provider.js: rotated keys, now signing with ${report.kids[signingAlg]}\n`);
  return [200, report];
}

// ---------------------------------------------------------------------------------------------

let issuer;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  const route = async () => {
    if (url.pathname === '/test/rotate') {
      if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST only\n');
      const [status, body] = await rotate(url, issuer);
      return send(res, status, 'application/json', `${JSON.stringify(body)}\n`);
    }
    if (url.pathname === '/test/console-redirect') {
      // POST /test/console-redirect?uri=URL: the console's redirect URI, once the server under
      // test knows its port. The client list is fixed when a provider is built: build it again.
      if (req.method !== 'POST') return send(res, 405, 'text/plain', 'POST only\n');
      const uri = url.searchParams.get('uri') ?? '';
      if (!URL.canParse(uri)) return send(res, 400, 'application/json', '{"error":"uri must be an absolute URL"}\n');
      args['console-redirect'].push(uri);
      current = makeProvider(issuer);
      return send(res, 200, 'application/json', `${JSON.stringify({ redirect_uris: args['console-redirect'] })}\n`);
    }
    if (url.pathname === '/test/keys' && req.method === 'GET') {
      return send(res, 200, 'application/json', `${JSON.stringify(keysReport())}\n`);
    }
    if (url.pathname === '/test/users' && req.method === 'GET') {
      return send(res, 200, 'application/json', `${JSON.stringify(users)}\n`);
    }
    if (url.pathname.startsWith('/interaction/')) return interaction(current.provider, req, res, url);
    return current.handler(req, res);
  };
  route().catch((err) => {
    process.stderr.write(`provider.js: ${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    else res.destroy();
  });
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
server.listen(port, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  current = makeProvider(issuer);
  if (args['exit-with-stdin']) {
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }
  process.stdout.write(`ready ${issuer}\n`);
});

