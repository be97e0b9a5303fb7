import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMetricsRegistry, eventually, silentLogger } from '../lib/index.ts';
import { rawRequest } from '../../test/helpers.ts';
import { ApiServer, CLOUD_MAP_PREFIX, CLOUD_MAP_STYLE } from './index.ts';
import type { BoundaryError } from './errors.ts';
import type { PathOutcome } from './server.ts';

const HEADER_TIMEOUT_MS = 300;
const BODY_TIMEOUT_MS = 300;
const headers = { 'X-Amz-Target': `${CLOUD_MAP_PREFIX}.Hold`, 'Content-Type': 'application/x-amz-json-1.1' };

/** A socket that connects and writes `data` (if any), then resolves `closed` with the time the server closed it. */
function slowClient(port: number, data?: string): { socket: Socket; closed: Promise<number> } {
  const socket = connect(port, '127.0.0.1', () => data !== undefined && socket.write(data));
  socket.on('error', () => undefined);
  socket.resume();
  return { socket, closed: new Promise((resolve) => socket.on('close', () => resolve(Date.now()))) };
}

describe('API limits', () => {
  const metrics = createMetricsRegistry();
  const api = new ApiServer({
    logger: silentLogger(),
    metrics,
    limits: { headerTimeoutMs: HEADER_TIMEOUT_MS, bodyTimeoutMs: BODY_TIMEOUT_MS, maxConnections: 8, maxInFlightPerClient: 2 },
  });
  const held: (() => void)[] = [];
  api.addTarget({ prefix: CLOUD_MAP_PREFIX, style: CLOUD_MAP_STYLE, operations: { Hold: () => new Promise<object>((resolve) => held.push(() => resolve({}))) } });
  let port = 0;
  before(async () => {
    port = (await api.listen('127.0.0.1', 0)).port;
    api.setReady(true);
  });
  after(() => api.close());
  const refused = async (reason: string) => {
    const text = await metrics.metrics();
    return Number(new RegExp(`pharos_api_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
  };

  test('a client that sends no headers, half the headers, or half the body is cut off after its timeout', async () => {
    const started = Date.now();
    const clients = [
      slowClient(port),
      slowClient(port, 'POST / HTTP/1.1\r\nHost: localhost\r\n'),
      slowClient(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{"a":'),
    ];
    const [idle, header, body] = (await Promise.all(clients.map((c) => c.closed))).map((t) => t - started);
    // Node checks deadlines every 250 ms (limits.ts TIMEOUT_CHECK_INTERVAL_MS).
    for (const [name, ms, limit] of [['idle', idle!, HEADER_TIMEOUT_MS], ['headers', header!, HEADER_TIMEOUT_MS], ['body', body!, HEADER_TIMEOUT_MS + BODY_TIMEOUT_MS]] as const) {
      assert.ok(ms >= limit - 50 && ms < limit + 600, `${name} closed after ${ms} ms (limit ${limit})`);
    }
    assert.equal(await refused('timeout'), 3);
  });

  test('one address gets at most maxInFlightPerClient requests in progress; the next is throttled, then admitted again', async () => {
    const first = rawRequest(`http://127.0.0.1:${port}`, 'POST', '/', '{}', headers);
    const second = rawRequest(`http://127.0.0.1:${port}`, 'POST', '/', '{}', headers);
    await eventually(() => held.length === 2);
    const third = await rawRequest(`http://127.0.0.1:${port}`, 'POST', '/', '{}', headers);
    assert.equal(third.status, 400);
    assert.equal(third.json?.['__type'], 'ThrottlingException');
    assert.equal(await refused('client_in_flight'), 1);
    held.splice(0).forEach((release) => release());
    assert.deepEqual([(await first).status, (await second).status], [200, 200]);
    const ping = await rawRequest(`http://127.0.0.1:${port}`, 'GET', '/ping');
    assert.equal(ping.status, 200);
  });

  test('path routes (Route 53, /cluster) count against the same limit; routes held open by design (watches) do not', { timeout: 10_000 }, async () => {
    const registry = createMetricsRegistry();
    const paths = new ApiServer({ logger: silentLogger(), metrics: registry, limits: { maxInFlightPerClient: 2 } });
    const pathHeld: (() => void)[] = [];
    const hold = (res: ServerResponse) =>
      new Promise<PathOutcome>((resolve) =>
        pathHeld.push(() => {
          res.end('ok');
          resolve({ operation: 'Hold', code: 'OK' });
        }),
      );
    const reject = (res: ServerResponse, err: BoundaryError) => {
      res.writeHead(400, { 'x-code': err.code }).end();
      return err.code;
    };
    paths.addPathRoute({ prefix: '/r53/', handle: (_req, res) => hold(res), reject });
    paths.addPathRoute({ prefix: '/watchlike/', heldOpen: true, handle: (_req, res) => hold(res), reject });
    const url = `http://127.0.0.1:${(await paths.listen('127.0.0.1', 0)).port}`;
    paths.setReady(true);
    try {
      const watches = [0, 1, 2].map(() => rawRequest(url, 'GET', '/watchlike/x'));
      const first = rawRequest(url, 'GET', '/r53/a');
      const second = rawRequest(url, 'GET', '/r53/b');
      await eventually(() => pathHeld.length === 5);
      // Before path routes were counted, this third Route 53 request was served like the first two.
      const third = await rawRequest(url, 'GET', '/r53/c');
      assert.equal(third.status, 400);
      assert.equal(third.headers['x-code'], 'ThrottlingException');
      assert.match(await registry.metrics(), /pharos_api_refused_total\{reason="client_in_flight"\} 1/);
      pathHeld.splice(0).forEach((release) => release());
      assert.deepEqual((await Promise.all([...watches, first, second])).map((r) => r.status), [200, 200, 200, 200, 200]);
      const fourth = rawRequest(url, 'GET', '/r53/d');
      await eventually(() => pathHeld.length === 1);
      pathHeld.splice(0).forEach((release) => release());
      assert.equal((await fourth).status, 200, 'admitted again once the others answered');
    } finally {
      await paths.close();
    }
  });

  const connections = () => new Promise<number>((r) => (api as unknown as { server: { getConnections(cb: (e: unknown, n: number) => void): void } }).server.getConnections((_e, n) => r(n)));

  test('past maxConnections a new connection closes the oldest idle one, never one with a request in progress', async () => {
    // The two oldest connections hold requests; six more are idle: 8, the cap.
    const heldReplies = [0, 1].map(() => rawRequest(`http://127.0.0.1:${port}`, 'POST', '/', '{}', { ...headers, Connection: 'close' }));
    await eventually(() => held.length === 2);
    const idle: ReturnType<typeof slowClient>[] = [];
    for (let i = 0; i < 6; i++) {
      idle.push(slowClient(port));
      await eventually(async () => (await connections()) === 3 + i);
    }
    // A ninth connection closes the oldest idle one and is served (before this, Node refused the
    // ninth: silent connections locked everyone out until their header timeout).
    const ninth = slowClient(port);
    let reply = '';
    ninth.socket.on('data', (d: Buffer) => (reply += d.toString()));
    await idle[0]!.closed;
    assert.equal(idle[1]!.socket.destroyed, false, 'only the oldest idle connection is closed');
    assert.ok((await refused('max_connections')) >= 1);
    held.splice(0).forEach((release) => release());
    assert.deepEqual((await Promise.all(heldReplies)).map((r) => r.status), [200, 200]);
    ninth.socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await ninth.closed;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    idle.forEach((c) => c.socket.destroy());
  });

  test('with every connection busy (an API call, a held plain-HTTP request like a watch), a new one is closed as it arrives', async () => {
    const busyApi = new ApiServer({ logger: silentLogger(), metrics: createMetricsRegistry(), limits: { maxConnections: 2 } });
    const release: (() => void)[] = [];
    busyApi.addTarget({ prefix: CLOUD_MAP_PREFIX, style: CLOUD_MAP_STYLE, operations: { Hold: () => new Promise<object>((resolve) => release.push(() => resolve({}))) } });
    // Watches and the console are not counted per client, but their connections are busy all the same.
    busyApi.mount('/held/', (_req, res) => release.push(() => res.end('{}')));
    const busyPort = (await busyApi.listen('127.0.0.1', 0)).port;
    busyApi.setReady(true);
    try {
      const replies = [
        rawRequest(`http://127.0.0.1:${busyPort}`, 'POST', '/', '{}', { ...headers, Connection: 'close' }),
        rawRequest(`http://127.0.0.1:${busyPort}`, 'GET', '/held/x', undefined, { Connection: 'close' }),
      ];
      await eventually(() => release.length === 2);
      const extra = slowClient(busyPort);
      await extra.closed;
      release.splice(0).forEach((r) => r());
      assert.deepEqual((await Promise.all(replies)).map((r) => r.status), [200, 200]);
    } finally {
      await busyApi.close();
    }
  });
});
