#!/usr/bin/env node
// Checks provider.js and token.js end to end: starts the provider on a free port, gets tokens
// through the real code + PKCE flow, verifies them against the JWKS with node:crypto, rotates
// keys, and tries the ES256, custom-users and SIGTERM paths. Exits 0 when every check passed.
//
//   node selftest.js

import * as assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const children = new Set();
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    process.stdout.write(`ok   ${name}\n`);
  } catch (err) {
    failed += 1;
    process.stdout.write(`FAIL ${name}\n     ${String(err?.stack ?? err).split('\n').join('\n     ')}\n`);
  }
}

function startProvider(extra = []) {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(here, 'provider.js'), '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`provider not ready after 10 s; stderr:\n${stderr}`)), 10000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        const m = stdout.match(/^ready (http:\/\/127\.0\.0\.1:(\d+))\n$/);
        if (!m) reject(new Error(`unexpected first stdout line ${JSON.stringify(stdout)}`));
        else {
          resolve({
            child, issuer: m[1], port: Number(m[2]), startupMs: Date.now() - started,
            stdout: () => stdout, stderr: () => stderr,
          });
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`provider exited with ${code} before ready; stderr:\n${stderr}`));
    });
  });
}

function stop(p) {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null) return resolve(p.child.exitCode);
    const timer = setTimeout(() => { p.child.kill('SIGKILL'); }, 3000);
    p.child.once('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? signal); });
    p.child.kill('SIGTERM');
  });
}

function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function tokenCli(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(here, 'token.js'), ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function getTokens(issuer, email, extra = []) {
  const r = await tokenCli(['--issuer', issuer, '--email', email, ...extra]);
  assert.equal(r.code, 0, `token.js failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'token.js prints one line');
  return JSON.parse(lines[0]);
}

function decode(jwt) {
  const parts = jwt.split('.');
  assert.equal(parts.length, 3, 'a JWS has three parts');
  const [header, payload] = parts.slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  return { header, payload, parts };
}

async function jwks(issuer) {
  const res = await fetch(`${issuer}/jwks`);
  assert.equal(res.status, 200);
  const { keys } = await res.json();
  for (const k of keys) assert.equal(k.d, undefined, 'no private parts in the JWKS');
  return keys;
}

function verify(jwt, keys) {
  const { header, parts } = decode(jwt);
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `kid ${header.kid} is in the JWKS (${keys.map((k) => k.kid).join(', ')})`);
  assert.equal(jwk.alg, header.alg);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  let ok;
  if (header.alg === 'RS256') ok = crypto.verify('sha256', data, key, sig);
  else if (header.alg === 'ES256') ok = crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  else throw new Error(`unexpected alg ${header.alg}`);
  assert.ok(ok, `signature verifies with ${header.kid}`);
  // Tampering must break it.
  const forged = Buffer.from(JSON.stringify({ ...decode(jwt).payload, groups: ['admin'] })).toString('base64url');
  const bad = Buffer.from(`${parts[0]}.${forged}`);
  const badOk = header.alg === 'RS256'
    ? crypto.verify('sha256', bad, key, sig)
    : crypto.verify('sha256', bad, { key, dsaEncoding: 'ieee-p1363' }, sig);
  assert.equal(badOk, false, 'a forged payload does not verify');
  return header.kid;
}

function checkAccessToken(at, { issuer, sub, email, groups, ttl = 600, alg = 'RS256', client = 'cordon-cli' }) {
  const { header, payload } = decode(at);
  assert.equal(header.alg, alg);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.aud, 'cordon');
  assert.equal(payload.iss, issuer);
  assert.equal(payload.sub, sub);
  assert.equal(payload.email, email);
  assert.deepEqual(payload.groups, groups);
  assert.equal(payload.client_id, client);
  assert.equal(payload.exp - payload.iat, ttl);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, 'iat is now');
}

function checkIdToken(idt, { issuer, sub, email, groups, client = 'cordon-cli', alg = 'RS256' }) {
  const { header, payload } = decode(idt);
  assert.equal(header.alg, alg);
  assert.equal(payload.aud, client);
  assert.equal(payload.iss, issuer);
  assert.equal(payload.sub, sub);
  assert.equal(payload.email, email);
  assert.deepEqual(payload.groups, groups);
  assert.ok(payload.nonce, 'nonce present');
}

const NADIA = { sub: 'u-nadia', email: 'nadia@acme.example', groups: ['nhi-governance'] };
const IVAN = { sub: 'u-ivan', email: 'ivan@acme.example', groups: ['incident-response'] };
const MALLORY = { sub: 'u-mallory', email: 'mallory@acme.example', groups: [] };

async function main() {
  const p = await startProvider(['--console-redirect', 'http://127.0.0.1:8443/auth/callback']);
  const { issuer } = p;
  let nadiaTokens;
  let firstKid;

  await check(`ready within 2 s (${p.startupMs} ms)`, () => assert.ok(p.startupMs < 2000));

  await check('discovery', async () => {
    const d = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(d.issuer, issuer);
    assert.equal(d.jwks_uri, `${issuer}/jwks`);
    assert.equal(d.token_endpoint, `${issuer}/token`);
    assert.equal(d.authorization_endpoint, `${issuer}/auth`);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.ok(d.id_token_signing_alg_values_supported.includes('RS256'));
    assert.ok(d.id_token_signing_alg_values_supported.includes('ES256'));
    for (const c of ['email', 'groups']) assert.ok(d.claims_supported.includes(c));
  });

  await check('JWKS has one RS256 and one ES256 public key', async () => {
    const keys = await jwks(issuer);
    assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
    assert.equal(new Set(keys.map((k) => k.kid)).size, 2);
  });

  await check('nadia: code + PKCE flow gives a verifiable RS256 JWT for cordon', async () => {
    nadiaTokens = await getTokens(issuer, NADIA.email);
    assert.equal(nadiaTokens.token_type, 'Bearer');
    assert.equal(nadiaTokens.expires_in, 600);
    assert.equal(nadiaTokens.scope, 'cordon');
    checkAccessToken(nadiaTokens.access_token, { issuer, ...NADIA });
    checkIdToken(nadiaTokens.id_token, { issuer, ...NADIA });
    const keys = await jwks(issuer);
    firstKid = verify(nadiaTokens.access_token, keys);
    assert.equal(verify(nadiaTokens.id_token, keys), firstKid);
  });

  await check('ivan: his own claims', async () => {
    const t = await getTokens(issuer, IVAN.email);
    checkAccessToken(t.access_token, { issuer, ...IVAN });
    checkIdToken(t.id_token, { issuer, ...IVAN });
    verify(t.access_token, await jwks(issuer));
  });

  await check('mallory: groups is an empty array', async () => {
    const t = await getTokens(issuer, MALLORY.email);
    checkAccessToken(t.access_token, { issuer, ...MALLORY });
    checkIdToken(t.id_token, { issuer, ...MALLORY });
  });

  await check('--resource cordon and --resource none both give aud cordon', async () => {
    for (const r of ['cordon', 'none']) {
      const t = await getTokens(issuer, NADIA.email, ['--resource', r]);
      checkAccessToken(t.access_token, { issuer, ...NADIA });
    }
  });

  await check('loopback redirect on any port; offline_access gives a refresh token that works', async () => {
    const t = await getTokens(issuer, IVAN.email, ['--redirect-uri', 'http://127.0.0.1:49152/callback',
      '--scope', 'openid email groups cordon offline_access']);
    assert.ok(t.refresh_token, 'refresh_token present');
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'cordon-cli', refresh_token: t.refresh_token }),
    });
    const r = await res.json();
    assert.equal(res.status, 200, JSON.stringify(r));
    checkAccessToken(r.access_token, { issuer, ...IVAN });
  });

  await check('cordon-console with its --console-redirect', async () => {
    const t = await getTokens(issuer, NADIA.email, ['--client', 'cordon-console',
      '--redirect-uri', 'http://127.0.0.1:8443/auth/callback']);
    checkAccessToken(t.access_token, { issuer, ...NADIA, client: 'cordon-console' });
    checkIdToken(t.id_token, { issuer, ...NADIA, client: 'cordon-console' });
  });

  await check('failures exit non-zero with a message', async () => {
    const cases = [
      [['--issuer', issuer, '--email', 'nobody@acme.example'], /login refused for nobody@acme\.example/],
      [['--issuer', issuer, '--email', NADIA.email, '--client', 'nope'], /client/],
      [['--issuer', issuer, '--email', NADIA.email, '--resource', 'urn:other'], /invalid_target/],
      [['--issuer', issuer, '--email', NADIA.email, '--redirect-uri', 'http://127.0.0.1/elsewhere'], /redirect_uri/],
      [['--issuer', `http://127.0.0.1:${await closedPort()}`, '--email', NADIA.email], /ECONNREFUSED/],
      [['--email', NADIA.email], /--issuer is required/],
    ];
    for (const [args, pattern] of cases) {
      const r = await tokenCli(args);
      assert.notEqual(r.code, 0, `token.js ${args.join(' ')} must fail`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, pattern);
    }
  });

  await check('a code cannot be redeemed without the PKCE verifier', async () => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code', client_id: 'cordon-cli', code: 'x', redirect_uri: 'http://127.0.0.1/callback',
      }),
    });
    assert.equal(res.status, 400);
  });

  let rotated;
  await check('POST /test/rotate: new tokens use a new kid, old kid stays published', async () => {
    const res = await fetch(`${issuer}/test/rotate`, { method: 'POST' });
    assert.equal(res.status, 200);
    rotated = await res.json();
    assert.notEqual(rotated.kids.RS256, firstKid);
    assert.equal(rotated.added.length, 2);
    const t = await getTokens(issuer, NADIA.email);
    const keys = await jwks(issuer);
    assert.equal(keys.length, 4);
    const newKid = verify(t.access_token, keys);
    assert.equal(newKid, rotated.kids.RS256);
    assert.notEqual(newKid, firstKid);
    assert.equal(verify(t.id_token, keys), newKid);
    assert.equal(verify(nadiaTokens.access_token, keys), firstKid, 'a token from before still verifies');
    checkAccessToken(t.access_token, { issuer, ...NADIA });
  });

  await check('GET /test/rotate is refused', async () => {
    assert.equal((await fetch(`${issuer}/test/rotate`)).status, 405);
  });

  await check('POST /test/rotate?alg=RS256&retire=1 drops the old RS256 keys', async () => {
    const res = await fetch(`${issuer}/test/rotate?alg=RS256&retire=1`, { method: 'POST' });
    const r = await res.json();
    assert.equal(res.status, 200);
    assert.equal(r.added.length, 1);
    assert.deepEqual(r.retired.sort(), [firstKid, rotated.kids.RS256].sort());
    const keys = await jwks(issuer);
    assert.deepEqual(keys.filter((k) => k.alg === 'RS256').map((k) => k.kid), [r.kids.RS256]);
    assert.equal(keys.filter((k) => k.alg === 'ES256').length, 2);
    assert.equal(keys.find((k) => k.kid === firstKid), undefined);
    const t = await getTokens(issuer, IVAN.email);
    assert.equal(verify(t.access_token, keys), r.kids.RS256);
  });

  await check('stdout held only the ready line', () => {
    assert.equal(p.stdout(), `ready ${issuer}\n`);
  });

  await check('SIGTERM ends the provider with 0', async () => {
    assert.equal(await stop(p), 0);
  });

  await check('--alg ES256 --access-ttl 120 with a --users file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordon-oidc-'));
    const file = path.join(dir, 'users.json');
    const zoe = { sub: 'u-zoe', email: 'zoe@acme.example', groups: ['a', 'b'] };
    fs.writeFileSync(file, JSON.stringify([zoe]));
    const q = await startProvider(['--alg', 'ES256', '--access-ttl', '120', '--users', file]);
    try {
      const t = await getTokens(q.issuer, zoe.email);
      assert.equal(t.expires_in, 120);
      checkAccessToken(t.access_token, { issuer: q.issuer, ...zoe, ttl: 120, alg: 'ES256' });
      checkIdToken(t.id_token, { issuer: q.issuer, ...zoe, alg: 'ES256' });
      const keys = await jwks(q.issuer);
      verify(t.access_token, keys);
      verify(t.id_token, keys);
      const r = await tokenCli(['--issuer', q.issuer, '--email', NADIA.email]);
      assert.notEqual(r.code, 0, 'default users are not there with --users');
    } finally {
      assert.equal(await stop(q), 0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  await check('bad arguments exit 2 before listening', async () => {
    for (const args of [[], ['--port', 'x'], ['--port', '0', '--alg', 'HS256'], ['--port', '0', '--users', '/nonexistent.json']]) {
      const code = await new Promise((resolve) => {
        const c = spawn(process.execPath, [path.join(here, 'provider.js'), ...args], { stdio: 'ignore' });
        c.on('exit', resolve);
      });
      assert.equal(code, 2, `provider.js ${args.join(' ')}`);
    }
  });
}

try {
  await main();
} catch (err) {
  failed += 1;
  process.stdout.write(`FAIL setup\n     ${err?.stack ?? err}\n`);
} finally {
  for (const c of children) c.kill('SIGKILL');
}
process.stdout.write(`selftest: ${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
