import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PharosError, createMetricsRegistry, silentLogger } from '../lib/index.ts';
import { rawRequest, type RawReply } from '../../test/helpers.ts';
import { ApiServer, CLOUD_MAP_PREFIX, CLOUD_MAP_STYLE, ECS_PREFIX, ECS_STYLE, MAX_BODY_BYTES, MAX_DRAIN_BYTES } from './index.ts';

/** One request to the test server (the whole-system tests' raw HTTP helper). */
function call(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawReply> {
  return rawRequest(url, options.method ?? 'POST', options.path ?? '/', options.body, options.headers);
}

const target = (op: string, prefix = CLOUD_MAP_PREFIX) => ({ 'X-Amz-Target': `${prefix}.${op}`, 'Content-Type': 'application/x-amz-json-1.1' });

describe('ApiServer', () => {
  const api = new ApiServer({ logger: silentLogger(), metrics: createMetricsRegistry() });
  let url = '';

  api.addTarget({
    prefix: CLOUD_MAP_PREFIX,
    style: CLOUD_MAP_STYLE,
    operations: {
      Echo: (input) => ({ Input: input }),
      Empty: () => undefined,
      AsyncEcho: async (input) => ({ Input: input }),
      Exists: () => {
        throw new PharosError('ServiceAlreadyExists', 'Service already exists', {
          fields: { ServiceId: 'srv-1', ServiceArn: 'arn:x', __type: 'Evil', Message: 'evil' },
        });
      },
      AsyncNotFound: async () => {
        throw new PharosError('NamespaceNotFound', 'Namespace not found');
      },
      StoreBroke: () => {
        throw new PharosError('StoreClosed', 'store is closed');
      },
      Crash: () => {
        throw new TypeError('x is undefined');
      },
    },
  });
  api.addTarget({
    prefix: ECS_PREFIX,
    style: ECS_STYLE,
    operations: {
      DescribeClusters: () => {
        throw new PharosError('ClusterNotFoundException', 'Cluster not found.');
      },
      Boom: () => {
        throw new PharosError('ServerException', 'agent lost');
      },
    },
  });

  before(async () => {
    const addr = await api.listen('127.0.0.1', 0);
    url = `http://127.0.0.1:${addr.port}`;
  });
  after(() => api.close());

  test('ping answers 503 until ready, then 200', async () => {
    assert.equal((await call(url, { method: 'GET', path: '/ping' })).status, 503);
    api.setReady(true);
    const r = await call(url, { method: 'GET', path: '/ping' });
    assert.equal(r.status, 200);
    assert.equal((await call(url, { method: 'HEAD', path: '/ping' })).status, 200);
    assert.match(String(r.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
  });

  test('dispatches on X-Amz-Target with JSON 1.1 headers', async () => {
    const r = await call(url, { headers: target('Echo'), body: '{"A":1}' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
    assert.match(String(r.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(r.json, { Input: { A: 1 } });
    const a = await call(url, { headers: target('AsyncEcho'), body: '{"B":2}' });
    assert.deepEqual(a.json, { Input: { B: 2 } });
  });

  test('empty output is {} and an empty body is read as {}', async () => {
    const r = await call(url, { headers: target('Empty'), body: '' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '{}');
  });

  test('never routes on Host: a data- prefixed host works', async () => {
    const r = await call(url, { headers: { ...target('Echo'), Host: 'data-localhost:7700' }, body: '{}' });
    assert.equal(r.status, 200);
    const r2 = await call(url, { headers: { ...target('Echo'), Host: 'data-127.0.0.1' }, body: '{}' });
    assert.equal(r2.status, 200);
  });

  test('header names are case-insensitive (raw upper-case header)', async () => {
    const port = new URL(url).port;
    const text = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(port), '127.0.0.1', () => {
        sock.end(
          `POST / HTTP/1.1\r\nHOST: localhost\r\nX-AMZ-TARGET: ${CLOUD_MAP_PREFIX}.Echo\r\nCONTENT-LENGTH: 7\r\nCONNECTION: close\r\n\r\n{"C":3}`,
        );
      });
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('end', () => resolve(out));
      sock.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /\{"Input":\{"C":3\}\}$/);
  });

  const errorCases: { name: string; headers: Record<string, string>; body?: string; status: number; type: string; extra?: Record<string, unknown> }[] = [
    { name: 'unknown operation', headers: target('Nope'), body: '{}', status: 400, type: 'UnknownOperationException' },
    { name: 'unknown prefix', headers: target('Echo', 'Other_2020'), body: '{}', status: 400, type: 'UnknownOperationException' },
    { name: 'missing target', headers: {}, body: '{}', status: 400, type: 'UnknownOperationException' },
    { name: 'bad JSON', headers: target('Echo'), body: '{"A":', status: 400, type: 'SerializationException' },
    { name: 'JSON array', headers: target('Echo'), body: '[1]', status: 400, type: 'SerializationException' },
    { name: 'JSON null', headers: target('Echo'), body: 'null', status: 400, type: 'SerializationException' },
    { name: 'JSON string', headers: target('Echo'), body: '"x"', status: 400, type: 'SerializationException' },
    {
      name: 'modeled error with members',
      headers: target('Exists'),
      body: '{}',
      status: 400,
      type: 'ServiceAlreadyExists',
      extra: { Message: 'Service already exists', ServiceId: 'srv-1', ServiceArn: 'arn:x' },
    },
    { name: 'async modeled error', headers: target('AsyncNotFound'), body: '{}', status: 400, type: 'NamespaceNotFound', extra: { Message: 'Namespace not found' } },
    { name: 'unmodeled PharosError is a fault', headers: target('StoreBroke'), body: '{}', status: 500, type: 'InternalFailure' },
    { name: 'plain exception is a fault', headers: target('Crash'), body: '{}', status: 500, type: 'InternalFailure' },
    {
      name: 'ECS error style',
      headers: target('DescribeClusters', ECS_PREFIX),
      body: '{}',
      status: 400,
      type: 'ClusterNotFoundException',
      extra: { message: 'Cluster not found.' },
    },
    { name: 'ECS ServerException is 500', headers: target('Boom', ECS_PREFIX), body: '{}', status: 500, type: 'ServerException', extra: { message: 'agent lost' } },
    { name: 'ECS unknown op keeps ECS style', headers: target('Nope', ECS_PREFIX), body: '{}', status: 400, type: 'UnknownOperationException' },
  ];
  for (const c of errorCases) {
    test(`error: ${c.name}`, async () => {
      const r = await call(url, { headers: c.headers, body: c.body });
      assert.equal(r.status, c.status);
      assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
      assert.equal(r.headers['x-amzn-errortype'], c.type);
      assert.ok(r.headers['x-amzn-requestid']);
      assert.equal(r.json?.['__type'], c.type);
      for (const [k, v] of Object.entries(c.extra ?? {})) assert.equal(r.json?.[k], v, k);
      const messageKey = c.headers['X-Amz-Target']?.startsWith(ECS_PREFIX) ? 'message' : 'Message';
      assert.equal(typeof r.json?.[messageKey], 'string');
      if (c.status === 500) assert.doesNotMatch(r.text, /undefined|store is closed/, 'internals do not leak');
    });
  }

  test('a body over the limit gets 413; the connection stays usable', async () => {
    const r = await call(url, { headers: target('Echo'), body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20) });
    assert.equal(r.status, 413);
    assert.equal(r.json?.['__type'], 'RequestEntityTooLargeException');
    assert.notEqual(r.headers['connection'], 'close');
  });

  test('a huge declared body gets 413 at once and the connection is closed without reading it', async () => {
    const port = Number(new URL(url).port);
    const text = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.write(`POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: ${CLOUD_MAP_PREFIX}.Echo\r\nContent-Length: ${MAX_DRAIN_BYTES + 1}\r\n\r\n{"A":`);
      });
      let out = '';
      sock.on('data', (d) => (out += d.toString()));
      sock.on('close', () => resolve(out));
      sock.on('error', reject);
    });
    assert.match(text, /^HTTP\/1\.1 413/);
    assert.match(text, /connection: close/i);
    assert.match(text, /RequestEntityTooLargeException/);
  });

  test('metrics count requests by operation and code', async () => {
    const r = await call(url, { method: 'GET', path: '/metrics' });
    assert.equal(r.status, 200);
    assert.match(r.text, /pharos_api_requests_total\{operation="Echo",code="OK"\} \d+/);
    assert.match(r.text, /pharos_api_requests_total\{operation="Exists",code="ServiceAlreadyExists"\} 1/);
    assert.match(r.text, /pharos_api_requests_total\{operation="unknown",code="UnknownOperationException"\} \d+/);
    assert.match(r.text, /pharos_api_request_duration_seconds_bucket\{le="0.005",operation="Echo"\} \d+/);
  });

  test('unknown paths are 404', async () => {
    assert.equal((await call(url, { method: 'GET', path: '/nope' })).status, 404);
  });
});

test('close lets an in-flight request finish and closes idle keep-alive sockets', async () => {
  const api = new ApiServer({ logger: silentLogger(), metrics: createMetricsRegistry() });
  let release: () => void = () => undefined;
  let started: () => void = () => undefined;
  const slowStarted = new Promise<void>((resolve) => (started = resolve));
  api.addTarget({
    prefix: CLOUD_MAP_PREFIX,
    style: CLOUD_MAP_STYLE,
    operations: {
      Slow: () => {
        started();
        return new Promise((resolve) => (release = () => resolve({ Done: true })));
      },
      Fast: () => ({}),
    },
  });
  const { port } = await api.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;
  // An idle keep-alive connection: one request done, socket left open.
  const { Agent } = await import('node:http');
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    request(`${url}/`, { method: 'POST', agent, headers: target('Fast') }, (res) => res.resume().on('end', resolve)).on('error', reject).end('{}');
  });
  const inFlight = call(url, { headers: target('Slow'), body: '{}' });
  await slowStarted;
  const closed = api.close();
  let closedYet = false;
  void closed.then(() => (closedYet = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closedYet, false, 'close waits for the in-flight request');
  release();
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { Done: true });
  await closed;
  assert.equal(api.close(), closed, 'close is repeatable');
  await assert.rejects(call(url, { headers: target('Fast'), body: '{}' }), /ECONNREFUSED/);
  agent.destroy();
});
