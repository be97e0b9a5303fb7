import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../lib/index.ts';
import { HttpProbe, sanitizePath } from './http.ts';
import type { Probe, ProbeResult } from './probe.ts';
import { TcpProbe } from './tcp.ts';
import { activeResources, closedPort, createNetns, selfSignedCert, startEndpoint, type Endpoint, type TestNetns, type TlsMaterial } from './testing.ts';

const HTTP_MODULE = new URL('./http.ts', import.meta.url).href;

/** Runs one HttpProbe in a child process inside the namespace; returns its result and the handles left after it. */
async function probeInNetns(ns: TestNetns, host: string, port: number): Promise<{ result: ProbeResult; leaked: string[] }> {
  const script = `
    const { HttpProbe } = await import(${JSON.stringify(HTTP_MODULE)});
    const result = await new HttpProbe({ host: ${JSON.stringify(host)}, port: ${port}, timeoutMs: ${TIMEOUT_MS} }).check();
    const open = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout');
    // Closing a handle completes on a later turn of the loop: give it a few.
    for (let i = 0; i < 50 && open().length > 0; i++) await new Promise((r) => setImmediate(r));
    const leaked = open();
    process.stdout.write(JSON.stringify({ result, leaked }));`;
  const out = await ns.exec([process.execPath, '--import', 'tsx', '--input-type=module', '-e', script]);
  return JSON.parse(out) as { result: ProbeResult; leaked: string[] };
}

const HOST = '127.0.0.1';
/** Short, so the "never answers" cases finish fast. */
const TIMEOUT_MS = 300;

/**
 * Runs a probe and checks that nothing it opened outlives it: no client socket, no timer, and the
 * server sees every connection closed.
 */
async function probeWithoutLeaks(probe: Probe, endpoint?: Endpoint): Promise<ProbeResult> {
  const before = activeResources();
  const result = await probe.check();
  if (endpoint) await eventually(() => endpoint.openConnections() === 0, { message: 'server-side connection closed' });
  await eventually(() => {
    const now = activeResources();
    for (const kind of ['TCPSocketWrap', 'TLSWrap', 'Timeout']) {
      assert.ok((now.get(kind) ?? 0) <= (before.get(kind) ?? 0), `${kind} leaked: ${now.get(kind)} > ${before.get(kind) ?? 0}`);
    }
    return true;
  });
  return result;
}

describe('HttpProbe', () => {
  const endpoints: Endpoint[] = [];
  let tlsMaterial: TlsMaterial | undefined;
  before(async () => {
    tlsMaterial = await selfSignedCert();
  });
  after(async () => {
    await Promise.all(endpoints.map((e) => e.close()));
  });
  const start = async (...args: Parameters<typeof startEndpoint>): Promise<Endpoint> => {
    const e = await startEndpoint(...args);
    endpoints.push(e);
    return e;
  };

  const statusCases: { status: number; ok: boolean }[] = [
    { status: 200, ok: true },
    { status: 204, ok: true },
    { status: 301, ok: true },
    { status: 399, ok: true },
    { status: 400, ok: false },
    { status: 404, ok: false },
    { status: 503, ok: false },
  ];
  for (const c of statusCases) {
    test(`HTTP ${c.status} is ${c.ok ? 'healthy' : 'unhealthy'}`, async () => {
      const e = await start('http', { status: c.status });
      const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port: e.port, timeoutMs: TIMEOUT_MS }), e);
      assert.equal(r.ok, c.ok);
      assert.equal(r.reason, `HTTP ${c.status}`);
      assert.equal(r.cause, c.ok ? 'ok' : 'http_status');
      assert.ok(r.latencyMs >= 0);
    });
  }

  test('an IPv6 endpoint is probed with a bracketed Host header', async () => {
    const e = await start('http', { host: '::1' });
    const r = await probeWithoutLeaks(new HttpProbe({ host: '::1', port: e.port, path: '/v6' }), e);
    assert.deepEqual([r.ok, r.reason], [true, 'HTTP 200']);
    assert.equal(e.lastPath, '/v6');
  });

  test('requests ResourcePath', async () => {
    const e = await start('http');
    const r = await new HttpProbe({ host: HOST, port: e.port, path: '/health?deep=1' }).check();
    assert.equal(r.reason, 'HTTP 200');
    assert.equal(e.lastPath, '/health?deep=1');
  });

  test('HTTPS with a self-signed certificate is healthy (certificates are not verified)', async (t) => {
    if (!tlsMaterial) {
      if (process.env.CI === 'true') assert.fail('openssl is required in CI');
      t.skip('openssl CLI not installed: cannot make a test certificate');
      return;
    }
    const e = await start('https', { tls: tlsMaterial });
    const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port: e.port, tls: true, path: '/tls' }), e);
    assert.deepEqual([r.ok, r.reason], [true, 'HTTP 200']);
    assert.equal(e.lastPath, '/tls');
    e.setStatus(500);
    const bad = await new HttpProbe({ host: HOST, port: e.port, tls: true }).check();
    assert.deepEqual([bad.ok, bad.reason], [false, 'HTTP 500']);
  });

  test('HTTPS against a plain-HTTP server fails with a TLS reason', async () => {
    const e = await start('http');
    const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port: e.port, tls: true, timeoutMs: TIMEOUT_MS }), e);
    assert.equal(r.ok, false);
    assert.match(r.reason, /^tls: |connection reset|closed/);
  });

  test('a 1xx interim response is skipped', async () => {
    const e = await start('interim');
    const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port: e.port, timeoutMs: TIMEOUT_MS }), e);
    assert.deepEqual([r.ok, r.reason], [true, 'HTTP 204']);
  });

  test('an endless body is not read: the probe ends at the status line', async () => {
    const e = await start('endless');
    const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port: e.port, timeoutMs: TIMEOUT_MS }), e);
    assert.deepEqual([r.ok, r.reason], [true, 'HTTP 200']);
  });

  const badCases: { name: string; kind: Parameters<typeof startEndpoint>[0] | 'closed'; reason: RegExp; cause: string }[] = [
    { name: 'a closed port', kind: 'closed', reason: /^connect ECONNREFUSED$/, cause: 'refused' },
    { name: 'a port that resets', kind: 'reset', reason: /^connection reset$/, cause: 'reset' },
    { name: 'a server that never answers', kind: 'silent', reason: new RegExp(`^timeout after ${TIMEOUT_MS}ms$`), cause: 'timeout' },
    { name: 'a server that sends garbage', kind: 'garbage', reason: /^invalid HTTP response: "SSH-2\.0/, cause: 'protocol' },
    { name: 'a server that hangs up', kind: 'hangup', reason: /^connection closed before response$/, cause: 'protocol' },
  ];
  for (const c of badCases) {
    test(`${c.name} is unhealthy with a reason, and nothing leaks`, async () => {
      const e = c.kind === 'closed' ? undefined : await start(c.kind);
      const port = e?.port ?? (await closedPort());
      const r = await probeWithoutLeaks(new HttpProbe({ host: HOST, port, timeoutMs: TIMEOUT_MS }), e);
      assert.equal(r.ok, false);
      assert.match(r.reason, c.reason);
      assert.equal(r.cause, c.cause);
    });
  }

  test('an unroutable address is unhealthy with the reason, and nothing leaks', async (t) => {
    // This host's default route leads to a gateway that accepts any TCP connection, so "nothing
    // answers" is made real inside a namespace the test owns: with no route the connect fails at
    // once; with an on-link address that nobody has, the SYN goes nowhere and the probe times out.
    const ns = await createNetns();
    if (typeof ns === 'string') {
      if (process.env.CI === 'true') assert.fail(ns);
      t.skip(ns);
      return;
    }
    try {
      const noRoute = await probeInNetns(ns, '198.18.255.254', 80);
      assert.equal(noRoute.result.ok, false);
      assert.equal(noRoute.result.reason, 'connect ENETUNREACH');
      assert.equal(noRoute.result.cause, 'unreachable');
      assert.deepEqual(noRoute.leaked, []);

      // A veth pair whose far end has no address: ARP for .254 is never answered.
      await ns.ip('link', 'add', 'hc0', 'type', 'veth', 'peer', 'name', 'hc1');
      await ns.ip('addr', 'add', '198.18.255.1/24', 'dev', 'hc0');
      await ns.ip('link', 'set', 'hc0', 'up');
      await ns.ip('link', 'set', 'hc1', 'up');
      const silent = await probeInNetns(ns, '198.18.255.254', 80);
      assert.equal(silent.result.ok, false);
      assert.equal(silent.result.reason, `timeout after ${TIMEOUT_MS}ms`);
      assert.ok(silent.result.latencyMs < TIMEOUT_MS + 200, `took ${silent.result.latencyMs}ms`);
      assert.deepEqual(silent.leaked, []);
    } finally {
      await ns.destroy();
    }
  });

  test('an aborted probe ends at once and releases everything', async () => {
    const e = await start('silent');
    const controller = new AbortController();
    const before = activeResources();
    const pending = new HttpProbe({ host: HOST, port: e.port, timeoutMs: 60_000 }).check(controller.signal);
    await eventually(() => e.openConnections() === 1);
    controller.abort();
    const r = await pending;
    assert.deepEqual([r.ok, r.cause], [false, 'aborted']);
    await eventually(() => e.openConnections() === 0);
    assert.ok((activeResources().get('Timeout') ?? 0) <= (before.get('Timeout') ?? 0));
  });

  test('ResourcePath cannot split the request', () => {
    assert.equal(sanitizePath(undefined), '/');
    assert.equal(sanitizePath('health'), '/health');
    assert.equal(sanitizePath('/a b\r\nHost: evil'), '/a%20b%0D%0AHost:%20evil');
    assert.equal(sanitizePath('/é'), '/%C3%A9');
  });
});

describe('TcpProbe', () => {
  test('a listening port is healthy; a closed one is not', async () => {
    const e = await startEndpoint('tcp');
    try {
      const ok = await probeWithoutLeaks(new TcpProbe({ host: HOST, port: e.port }), e);
      assert.deepEqual([ok.ok, ok.reason], [true, 'connected']);
      await e.down();
      const down = await probeWithoutLeaks(new TcpProbe({ host: HOST, port: e.port }));
      assert.deepEqual([down.ok, down.reason, down.cause], [false, 'connect ECONNREFUSED', 'refused']);
      await e.up();
      const back = await new TcpProbe({ host: HOST, port: e.port }).check();
      assert.equal(back.ok, true);
    } finally {
      await e.close();
    }
  });

  test('a port that resets right after accepting is never a leak: healthy if the connect completed first, else reset', async () => {
    const e = await startEndpoint('reset');
    try {
      const r = await probeWithoutLeaks(new TcpProbe({ host: HOST, port: e.port }), e);
      assert.ok(r.ok || r.reason === 'connection reset', r.reason);
    } finally {
      await e.close();
    }
  });
});
