/**
 * The console's server side without a browser: sessions (sign-in, expiry on the injected clock,
 * tampering, sign-out), CSRF on API writes, the change-event stream and the static files, through
 * a real `pharos server` on a free port.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../lib/index.ts';
import { ManualClock } from '../lib/clock.ts';
import { ConsoleSessions, SESSION_TTL_MS } from './session.ts';
import { rawRequest, register, sdClient, startTestServer, type TestServer } from '../../test/helpers.ts';

const KEYS = { accessKeyId: 'AKIDCONSOLE', secretAccessKey: 'console-secret-1234567890' };

describe('ConsoleSessions', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const sessions = new ConsoleSessions({ credentials: [KEYS], clock });
  const cookieOf = (token: string) => `other=1; pharos_session=${token}`;

  test('a right key pair gets a session; a wrong secret or unknown key none', () => {
    assert.ok(sessions.signIn(KEYS.accessKeyId, KEYS.secretAccessKey));
    assert.equal(sessions.signIn(KEYS.accessKeyId, 'wrong'), undefined);
    assert.equal(sessions.signIn('AKIDOTHER', KEYS.secretAccessKey), undefined);
  });

  test('the token is accepted until it expires, and not once changed or signed out', async () => {
    const s = sessions.signIn(KEYS.accessKeyId, KEYS.secretAccessKey)!;
    assert.equal(sessions.fromCookie(cookieOf(s.token))?.accessKeyId, KEYS.accessKeyId);
    assert.ok(!s.token.includes(KEYS.secretAccessKey) && !s.csrf.includes(KEYS.secretAccessKey));
    const parts = s.token.split('.');
    const later = [parts[0], String(Number(parts[1]) + SESSION_TTL_MS), parts[2], parts[3]].join('.');
    assert.equal(sessions.fromCookie(cookieOf(later)), undefined, 'a longer expiry breaks the MAC');
    assert.equal(sessions.fromCookie(cookieOf(`${s.token.slice(0, -2)}AA`)), undefined);
    assert.equal(sessions.fromCookie(undefined), undefined);
    assert.equal(sessions.fromCookie('pharos_session=a.b'), undefined);
    await clock.advance(SESSION_TTL_MS - 1);
    assert.ok(sessions.fromCookie(cookieOf(s.token)));
    await clock.advance(1);
    assert.equal(sessions.fromCookie(cookieOf(s.token)), undefined, 'expired');
    const t = sessions.signIn(KEYS.accessKeyId, KEYS.secretAccessKey)!;
    sessions.revoke(t);
    assert.equal(sessions.fromCookie(cookieOf(t.token)), undefined, 'signed out');
  });

  test('another server with the same credentials accepts the session; one with another secret does not', () => {
    const s = sessions.signIn(KEYS.accessKeyId, KEYS.secretAccessKey)!;
    const twin = new ConsoleSessions({ credentials: [KEYS], clock });
    assert.equal(twin.fromCookie(cookieOf(s.token))?.csrf, s.csrf);
    const rotated = new ConsoleSessions({ credentials: [{ ...KEYS, secretAccessKey: 'rotated' }], clock });
    assert.equal(rotated.fromCookie(cookieOf(s.token)), undefined);
  });

  test('the cookie is HttpOnly, SameSite=Strict, expiring, on every path; Secure over TLS', () => {
    const s = sessions.signIn(KEYS.accessKeyId, KEYS.secretAccessKey)!;
    const cookie = sessions.cookie(s, false);
    assert.match(cookie, /^pharos_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    assert.match(sessions.cookie(s, true), /; Secure$/);
  });
});

function get(url: string, path: string, headers: Record<string, string> = {}) {
  return rawRequest(url, 'GET', path, undefined, headers);
}

/** The status of a GET that may be an endless event stream: read on the response head, then dropped. */
function statusOf(url: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { headers }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

describe('console endpoints without credentials', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s?.destroy());

  test('/ links to the console; /console redirects; files come with a strict CSP; unknown files 404', async () => {
    const root = await get(s.apiUrl, '/');
    assert.equal(root.status, 200);
    assert.match(root.text, /href="\/console\/"/);
    const bare = await get(s.apiUrl, '/console');
    assert.equal(bare.status, 308);
    assert.equal(bare.headers['location'], '/console/');
    const index = await get(s.apiUrl, '/console/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-security-policy']), /script-src 'self'/);
    assert.match(index.text, /<script type="module" src="app.js">/);
    const preact = await get(s.apiUrl, '/console/vendor/hooks.mjs', { 'Accept-Encoding': 'gzip' });
    assert.equal(preact.headers['content-encoding'], 'gzip');
    const again = await get(s.apiUrl, '/console/', { 'If-None-Match': String(index.headers['etag']) });
    assert.equal(again.status, 304);
    assert.equal((await get(s.apiUrl, '/console/../package.json')).status, 404);
    assert.equal((await get(s.apiUrl, '/console/nope.js')).status, 404);
    assert.equal((await rawRequest(s.apiUrl, 'PUT', '/console/app.js')).status, 405);
  });

  test('the session says no sign-in is needed', async () => {
    const r = await get(s.apiUrl, '/console/session');
    assert.deepEqual(JSON.parse(r.text), { authRequired: false, signedIn: true });
  });

  test('the event stream announces a registration with its service scope, and health details follow', async () => {
    const sd = sdClient(s.apiUrl);
    const { OperationId } = await sd.createHttpNamespace({ Name: 'events' });
    const nsId = await eventually(async () => (await sd.getOperation({ OperationId })).Operation?.Targets?.['NAMESPACE']);
    const { Service } = await sd.createService({ Name: 'svc', NamespaceId: nsId, HealthCheckCustomConfig: { FailureThreshold: 1 } });
    const frames: string[] = [];
    const req = request(`${s.apiUrl}/console/events`);
    const opened = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => frames.push(chunk));
        resolve();
      });
    });
    req.end();
    await opened;
    await eventually(() => frames.join('').includes('event: hello'));
    await register(sd, Service!.Id!, 'i-1', { AWS_INSTANCE_IPV4: '198.18.140.9' });
    await eventually(() => frames.join('').includes(`"svc:${Service!.Id}"`), { message: 'a change event for the service' });
    await sd.updateInstanceCustomHealthStatus({ ServiceId: Service!.Id, InstanceId: 'i-1', Status: 'UNHEALTHY' });
    const health = await eventually(async () => {
      const r = JSON.parse((await get(s.apiUrl, `/console/health?serviceId=${Service!.Id}`)).text);
      return r.instances['i-1']?.status === 'UNHEALTHY' ? r.instances['i-1'] : undefined;
    });
    assert.equal(health.reason, 'custom');
    assert.equal(typeof health.since, 'number');
    assert.equal((await get(s.apiUrl, '/console/health?serviceId=srv-nope')).status, 404);
    req.destroy();
    sd.destroy();
  });
});

describe('console endpoints with --credentials', () => {
  let s: TestServer;
  before(async () => (s = await startTestServer({ credentials: [KEYS] })));
  after(() => s?.destroy());

  const signIn = (body: unknown, headers: Record<string, string> = {}) =>
    rawRequest(s.apiUrl, 'POST', '/console/session', JSON.stringify(body), { 'Content-Type': 'application/json', ...headers });
  const listNamespaces = (headers: Record<string, string>) =>
    rawRequest(s.apiUrl, 'POST', '/', '{}', { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Route53AutoNaming_v20170314.ListNamespaces', ...headers });

  test('events and health need a session; a wrong secret gets 401 and no cookie', async () => {
    assert.equal(await statusOf(s.apiUrl, '/console/events'), 401);
    assert.equal((await get(s.apiUrl, '/console/health?serviceId=x')).status, 401);
    assert.deepEqual(JSON.parse((await get(s.apiUrl, '/console/session')).text), { authRequired: true, signedIn: false });
    const bad = await signIn({ accessKeyId: KEYS.accessKeyId, secretAccessKey: 'nope' });
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['set-cookie'], undefined);
    assert.equal((await signIn({ accessKeyId: 1 })).status, 400);
    assert.equal((await rawRequest(s.apiUrl, 'POST', '/console/session', 'accessKeyId=a', { 'Content-Type': 'application/x-www-form-urlencoded' })).status, 415);
    assert.equal((await signIn(KEYS, { Origin: 'http://evil.example' })).status, 403);
  });

  test('a session cookie with its CSRF token calls the API; without the token, or with another, it does not', async () => {
    const ok = await signIn(KEYS, { Origin: s.apiUrl });
    assert.equal(ok.status, 200);
    const session = JSON.parse(ok.text);
    assert.ok(!ok.text.includes(KEYS.secretAccessKey));
    const cookie = String(ok.headers['set-cookie']).split(';')[0]!;
    assert.equal(await statusOf(s.apiUrl, '/console/events', { Cookie: cookie }), 200);
    assert.equal((await listNamespaces({ Cookie: cookie, 'X-Pharos-Csrf': session.csrf })).status, 200);
    const noToken = await listNamespaces({ Cookie: cookie });
    assert.equal(noToken.status, 403);
    assert.match(noToken.text, /MissingAuthenticationTokenException/);
    assert.equal((await listNamespaces({ Cookie: cookie, 'X-Pharos-Csrf': `${session.csrf}x` })).status, 403);
    assert.equal((await listNamespaces({ 'X-Pharos-Csrf': session.csrf })).status, 403);

    // Sign-out needs the token too; afterwards the cookie is worthless on this server.
    assert.equal((await rawRequest(s.apiUrl, 'DELETE', '/console/session', undefined, { Cookie: cookie })).status, 403);
    const out = await rawRequest(s.apiUrl, 'DELETE', '/console/session', undefined, { Cookie: cookie, 'X-Pharos-Csrf': session.csrf });
    assert.equal(out.status, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await listNamespaces({ Cookie: cookie, 'X-Pharos-Csrf': session.csrf })).status, 403);
  });
});
