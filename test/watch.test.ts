/**
 * The watch API over plain HTTP (node's http client and curl): blocking queries on a service's
 * InstancesRevision, the event stream, filters, errors, SigV4, and that waiters go away with
 * their clients and with the server.
 */
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { DUMMY_CREDENTIALS, haveCommand, httpNamespace, rawRequest, register, requireOrSkip, runChild, startTestServer, type TestServer } from './helpers.ts';

const PATH = '/v1/namespaces/watchns/services/web/instances';

interface Answer {
  status: number;
  index: string | undefined;
  json: Record<string, unknown>;
}

async function get(s: TestServer, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await rawRequest(s.apiUrl, 'GET', path, undefined, headers);
  return { status: r.status, index: r.headers['x-pharos-index'] as string | undefined, json: r.json ?? {} };
}

/** Watchers waiting right now, read from /metrics as any operator would. */
async function waiters(s: TestServer): Promise<number> {
  const r = await rawRequest(s.apiUrl, 'GET', '/metrics');
  const m = /^pharos_watch_waiters (\d+)/m.exec(r.text);
  assert.ok(m, 'pharos_watch_waiters is exported');
  return Number(m[1]);
}

/** Opens an event stream; `events` fills as they arrive. */
function openStream(s: TestServer, path: string, headers: Record<string, string> = {}) {
  const events: { id: string; event: string; data: Record<string, unknown> }[] = [];
  let response: IncomingMessage | undefined;
  const req = request(new URL(path, s.apiUrl), { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
    response = res;
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(': ');
          fields[line.slice(0, colon)] = line.slice(colon + 2);
        }
        if (fields['data']) events.push({ id: fields['id'] ?? '', event: fields['event'] ?? '', data: JSON.parse(fields['data']) });
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { events, response: () => response, close: () => req.destroy() };
}

describe('watch (GET /v1/namespaces/{ns}/services/{svc}/instances)', () => {
  let s: TestServer;
  let web = '';
  let api = '';

  before(async () => {
    s = await startTestServer();
    const ns = await httpNamespace(s.sd, 'watchns');
    web = (await s.sd.createService({ Name: 'web', NamespaceId: ns, HealthCheckCustomConfig: {} })).Service!.Id!;
    api = (await s.sd.createService({ Name: 'api', NamespaceId: ns })).Service!.Id!;
    await register(s.sd, web, 'w1', { AWS_INSTANCE_IPV4: '198.18.130.1', zone: 'a' });
  });
  after(() => s.destroy());

  test('without index: the DiscoverInstances answer at once, revision in X-Pharos-Index', async () => {
    const a = await get(s, PATH);
    const direct = await s.sd.discoverInstances({ NamespaceName: 'watchns', ServiceName: 'web' });
    assert.equal(a.status, 200);
    assert.equal(a.index, String(direct.InstancesRevision));
    assert.equal(a.json['InstancesRevision'], direct.InstancesRevision);
    assert.deepEqual((a.json['Instances'] as { InstanceId: string }[]).map((i) => i.InstanceId), ['w1']);
  });

  test('an index that differs from the current revision answers at once', async () => {
    const a = await get(s, `${PATH}?index=1&wait=5m`);
    assert.equal(a.status, 200);
    assert.notEqual(a.index, '1');
  });

  test('the current index holds the request until a registration, which it then returns', async () => {
    const { index } = await get(s, PATH);
    const held = get(s, `${PATH}?index=${index}&wait=30s`);
    let settled = false;
    void held.then(() => (settled = true));
    await eventually(async () => (await waiters(s)) === 1, { message: 'the watch is waiting' });
    assert.equal(settled, false);
    await register(s.sd, web, 'w2', { AWS_INSTANCE_IPV4: '198.18.130.2', zone: 'b' });
    const a = await held;
    assert.equal(a.status, 200);
    assert.ok(Number(a.index) > Number(index), `index ${a.index} > ${index}`);
    assert.deepEqual((a.json['Instances'] as { InstanceId: string }[]).map((i) => i.InstanceId).sort(), ['w1', 'w2']);
    assert.equal(await waiters(s), 0);
  });

  test('wait passes without a change: the same index again', async () => {
    const { index } = await get(s, PATH);
    const started = Date.now();
    const a = await get(s, `${PATH}?index=${index}&wait=200ms`);
    assert.ok(Date.now() - started >= 190, 'held for the wait');
    assert.equal(a.status, 200);
    assert.equal(a.index, index);
  });

  test("a change to another service does not wake this service's watchers", async () => {
    const { index } = await get(s, PATH);
    const held = get(s, `${PATH}?index=${index}&wait=30s`);
    let settled = false;
    void held.then(() => (settled = true));
    await eventually(async () => (await waiters(s)) === 1);
    await register(s.sd, api, 'a1', { AWS_INSTANCE_IPV4: '198.18.130.9' });
    const other = await get(s, '/v1/namespaces/watchns/services/api/instances');
    assert.equal((other.json['Instances'] as unknown[]).length, 1, 'the other service changed');
    assert.equal(settled, false, 'this watcher still waits');
    assert.equal(await waiters(s), 1);
    await s.sd.deregisterInstance({ ServiceId: web, InstanceId: 'w2' });
    const a = await held;
    assert.deepEqual((a.json['Instances'] as { InstanceId: string }[]).map((i) => i.InstanceId), ['w1']);
    // A deregistration moves the revision twice (the delete, then its marker): the answer, the
    // header and DiscoverInstancesRevision all give the final one, so the next watch holds.
    const { InstancesRevision } = await s.sd.discoverInstancesRevision({ NamespaceName: 'watchns', ServiceName: 'web' });
    assert.equal(a.index, String(InstancesRevision));
    assert.equal(a.json['InstancesRevision'], InstancesRevision);
    assert.equal((await s.sd.discoverInstances({ NamespaceName: 'watchns', ServiceName: 'web' })).InstancesRevision, InstancesRevision);
    const next = get(s, `${PATH}?index=${a.index}&wait=30s`);
    await eventually(async () => (await waiters(s)) === 1, { message: 'the next watch holds' });
    await register(s.sd, web, 'w2', { AWS_INSTANCE_IPV4: '198.18.130.2', zone: 'b' });
    assert.ok(Number((await next).index) > InstancesRevision!);
    await s.sd.deregisterInstance({ ServiceId: web, InstanceId: 'w2' });
  });

  test('a health change wakes HEALTHY watchers with the new answer (the index does not move)', async () => {
    const { index } = await get(s, PATH);
    const held = get(s, `${PATH}?index=${index}&wait=30s&health=HEALTHY`);
    await eventually(async () => (await waiters(s)) === 1);
    await s.sd.updateInstanceCustomHealthStatus({ ServiceId: web, InstanceId: 'w1', Status: 'UNHEALTHY' });
    const a = await held;
    assert.equal(a.index, index);
    assert.deepEqual(a.json['Instances'], []);
    await s.sd.updateInstanceCustomHealthStatus({ ServiceId: web, InstanceId: 'w1', Status: 'HEALTHY' });
    await eventually(async () => ((await get(s, PATH)).json['Instances'] as unknown[]).length === 1);
  });

  test('filters: health, max-results and attr.KEY=VALUE as DiscoverInstances has them', async () => {
    await register(s.sd, web, 'w3', { AWS_INSTANCE_IPV4: '198.18.130.3', zone: 'b' });
    const ids = (a: Answer) => (a.json['Instances'] as { InstanceId: string }[]).map((i) => i.InstanceId).sort();
    assert.deepEqual(ids(await get(s, `${PATH}?attr.zone=b`)), ['w3']);
    assert.deepEqual(ids(await get(s, `${PATH}?attr.zone=a&health=ALL`)), ['w1']);
    assert.equal(ids(await get(s, `${PATH}?max-results=1`)).length, 1);
    assert.deepEqual(ids(await get(s, `${PATH}?health=UNHEALTHY`)), []);
    // An attribute named like an Object.prototype member filters like any other (it matched everything).
    assert.deepEqual(ids(await get(s, `${PATH}?attr.__proto__=x&health=ALL`)), []);
    await s.sd.deregisterInstance({ ServiceId: web, InstanceId: 'w3' });
  });

  test('errors: Cloud Map codes in JSON, 404 for a missing namespace or service, 400 for bad input', async () => {
    const cases: [string, string, number, string, RegExp?][] = [
      ['GET', '/v1/namespaces/nope/services/web/instances', 404, 'NamespaceNotFound'],
      ['GET', '/v1/namespaces/watchns/services/nope/instances', 404, 'ServiceNotFound'],
      ['GET', `${PATH}?wait=forever`, 400, 'InvalidInput', /wait must be a duration/],
      ['GET', `${PATH}?index=-1`, 400, 'InvalidInput', /index must be/],
      ['GET', `${PATH}?health=GOOD`, 400, 'InvalidInput', /health must be one of/],
      ['GET', `${PATH}?max-results=0`, 400, 'InvalidInput'],
      ['GET', `${PATH}?max-results=x`, 400, 'InvalidInput'],
      ['GET', `${PATH}?colour=red`, 400, 'InvalidInput', /unknown query parameter/],
      ['GET', `${PATH}?attr.zone=a&attr.zone=b`, 400, 'InvalidInput', /query parameter "attr.zone" appears more than once/],
      ['GET', `${PATH}?index=1&wait=1s&index=2`, 400, 'InvalidInput', /query parameter "index" appears more than once/],
      ['GET', '/v1/namespaces/watchns/services/web', 400, 'InvalidInput', /no such watch path/],
      ['GET', '/v1/namespaces/%E0%A4%A/services/web/instances', 400, 'InvalidInput', /percent-encoding/],
      ['POST', PATH, 400, 'InvalidInput', /not supported/],
    ];
    for (const [method, path, status, code, message] of cases) {
      const r = await rawRequest(s.apiUrl, method, path);
      assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
      assert.equal(r.json?.['__type'], code, `${method} ${path}`);
      assert.equal(r.headers['x-amzn-errortype'], code);
      if (message) assert.match(String(r.json?.['Message']), message);
    }
  });

  test('a client that goes away leaves no waiter behind', async () => {
    const { index } = await get(s, PATH);
    const req = request(new URL(`${PATH}?index=${index}&wait=5m`, s.apiUrl));
    req.on('error', () => undefined);
    req.end();
    await eventually(async () => (await waiters(s)) === 1);
    req.destroy();
    await eventually(async () => (await waiters(s)) === 0, { message: 'the waiter is removed' });
  });

  test('event stream: the current answer, then one event per change, ids are the revision', async () => {
    const stream = openStream(s, PATH);
    try {
      await eventually(() => stream.events.length === 1);
      assert.equal(stream.response()?.headers['content-type'], 'text/event-stream');
      const first = stream.events[0]!;
      assert.equal(first.event, 'instances');
      assert.equal(first.id, String(first.data['InstancesRevision']));
      await register(s.sd, web, 'w4', { AWS_INSTANCE_IPV4: '198.18.130.4' });
      await eventually(() => stream.events.some((e) => (e.data['Instances'] as { InstanceId: string }[]).some((i) => i.InstanceId === 'w4')));
      assert.ok(Number(stream.events.at(-1)!.id) > Number(first.id));
      await s.sd.deregisterInstance({ ServiceId: web, InstanceId: 'w4' });
      await eventually(() => !(stream.events.at(-1)!.data['Instances'] as { InstanceId: string }[]).some((i) => i.InstanceId === 'w4'));
    } finally {
      stream.close();
    }
    await eventually(async () => (await waiters(s)) === 0);
  });

  test('event stream with Last-Event-ID equal to the revision sends nothing until a change', async () => {
    const { index } = await get(s, PATH);
    const stream = openStream(s, PATH, { 'Last-Event-ID': index! });
    try {
      await eventually(async () => (await waiters(s)) === 1);
      assert.equal(stream.events.length, 0);
      await register(s.sd, web, 'w5', { AWS_INSTANCE_IPV4: '198.18.130.5' });
      await eventually(() => stream.events.length >= 1);
      assert.ok(Number(stream.events[0]!.id) > Number(index));
    } finally {
      stream.close();
    }
    await s.sd.deregisterInstance({ ServiceId: web, InstanceId: 'w5' });
  });

  test('deleting the service ends a stream with an error event', async () => {
    const ns = await httpNamespace(s.sd, 'watchgone');
    const gone = (await s.sd.createService({ Name: 'gone', NamespaceId: ns })).Service!.Id!;
    const stream = openStream(s, '/v1/namespaces/watchgone/services/gone/instances');
    await eventually(() => stream.events.length === 1);
    await s.sd.deleteService({ Id: gone });
    await eventually(() => stream.events.some((e) => e.data['__type'] === 'ServiceNotFound'));
    await eventually(() => stream.response()?.complete === true, { message: 'the stream ends' });
  });
});

describe('watch with --credentials (SigV4)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ credentials: [DUMMY_CREDENTIALS] });
    const ns = await httpNamespace(s.sd, 'watchns');
    await s.sd.createService({ Name: 'web', NamespaceId: ns });
  });
  after(() => s.destroy());

  test('an unsigned watch is refused before anything is looked up', async () => {
    const r = await rawRequest(s.apiUrl, 'GET', '/v1/namespaces/nope/services/web/instances');
    assert.equal(r.status, 403);
    assert.equal(r.json?.['__type'], 'MissingAuthenticationTokenException');
  });

  test('curl --aws-sigv4 watches', { skip: requireOrSkip(haveCommand('curl'), 'curl') }, async () => {
    const run = (url: string, user: string) => runChild('curl', ['-s', '--aws-sigv4', 'aws:amz:us-east-1:servicediscovery', '--user', user, url]);
    const ok = await run(`${s.apiUrl}${PATH}?wait=1s`, `${DUMMY_CREDENTIALS.accessKeyId}:${DUMMY_CREDENTIALS.secretAccessKey}`);
    assert.equal(ok.code, 0);
    assert.deepEqual(JSON.parse(ok.stdout)['Instances'], []);
    const bad = await run(`${s.apiUrl}${PATH}`, `${DUMMY_CREDENTIALS.accessKeyId}:wrong`);
    assert.equal(JSON.parse(bad.stdout)['__type'], 'InvalidSignatureException');
  });
});

describe('watch and shutdown', () => {
  test('closing the server answers held watches at once instead of waiting out their wait', async () => {
    const s = await startTestServer();
    const ns = await httpNamespace(s.sd, 'watchns');
    await s.sd.createService({ Name: 'web', NamespaceId: ns });
    const { index } = await get(s, PATH);
    const held = get(s, `${PATH}?index=${index}&wait=5m`).catch(() => undefined);
    await eventually(async () => (await waiters(s)) === 1);
    const started = Date.now();
    await s.destroy();
    await held;
    assert.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`);
  });
});
