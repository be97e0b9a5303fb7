/**
 * One client cannot fill the API's connections with watches. Every watch holds a connection and
 * counts as busy, so the connection cap's eviction of idle connections never frees one: before
 * the per-client cap (`--watch-max-per-client`), a client opening watches until the cap locked every
 * other client out. The cap is per access key id when requests are signed (whatever address they
 * come from), else per address; past it a watch gets ThrottlingException (429, Retry-After).
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ServiceDiscovery } from '@aws-sdk/client-servicediscovery';
import { eventually } from '../src/lib/index.ts';
import { httpNamespace, rawRequest, startTestServer, type RawReply, type TestServer } from './helpers.ts';

const PATH = '/v1/namespaces/wc/services/web/instances';
/** Another loopback address (all of 127.0.0.0/8 is local on Linux): a second client. */
const OTHER = '127.0.0.2';

interface Watch {
  /** Resolves with the answer (a refusal comes at once; a held watch when it ends). */
  reply: Promise<RawReply>;
  close(): void;
}

/** A GET on its own connection from `localAddress`, kept open until answered or closed. */
function watch(s: TestServer, path: string, o: { localAddress?: string; headers?: Record<string, string> } = {}): Watch {
  let req!: ReturnType<typeof request>;
  const reply = new Promise<RawReply>((resolve, reject) => {
    req = request(new URL(path, s.apiUrl), { agent: false, localAddress: o.localAddress ?? '127.0.0.1', headers: o.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        // An event stream never ends: its first event is enough.
        if (res.headers['content-type'] === 'text/event-stream') resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
  reply.catch(() => undefined);
  return { reply, close: () => req.destroy() };
}

async function metric(s: TestServer, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)`, 'm').exec((await rawRequest(s.apiUrl, 'GET', '/metrics')).text);
  assert.ok(m, `${name} is exported`);
  return Number(m[1]);
}

function assertThrottled(r: RawReply, who: RegExp): void {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(r.headers['x-amzn-errortype'], 'ThrottlingException');
  const body = JSON.parse(r.text) as { __type: string; Message: string };
  assert.equal(body.__type, 'ThrottlingException');
  assert.match(body.Message, who);
  assert.match(body.Message, /already holds 3 watches \(--watch-max-per-client\)/);
}

describe('watches per client, by address (unsigned)', () => {
  let s: TestServer;
  let index = '';
  const open: Watch[] = [];

  before(async () => {
    // Six connections in all: without the per-client cap, one client's watches took every one.
    s = await startTestServer({ watchMaxPerClient: 3, httpMaxConnections: 6 });
    const ns = await httpNamespace(s.sd, 'wc');
    await s.sd.createService({ Name: 'web', NamespaceId: ns });
    index = (await rawRequest(s.apiUrl, 'GET', PATH)).headers['x-pharos-index'] as string;
  });

  after(async () => {
    for (const w of open) w.close();
    await s?.destroy();
  });

  test('a client opening watches until the connection cap gets 3, and 429 ThrottlingException for the rest', async () => {
    // Blocking queries and an event stream count alike.
    open.push(watch(s, `${PATH}?index=${index}&wait=1m`), watch(s, `${PATH}?index=${index}&wait=1m`));
    open.push(watch(s, PATH, { headers: { Accept: 'text/event-stream' } }));
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 3);
    for (let i = 0; i < 6; i++) {
      const extra = watch(s, `${PATH}?index=${index}&wait=1m`);
      open.push(extra);
      assertThrottled(await extra.reply, /address 127\.0\.0\.1 /);
    }
    assert.equal(await metric(s, 'pharos_watch_waiters'), 3);
    assert.ok((await metric(s, 'pharos_watch_refused_total')) >= 6);
  });

  test('another client still gets in: the SDK, and its own watches', async () => {
    const sd = new ServiceDiscovery({
      endpoint: s.apiUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      disableHostPrefix: true,
      maxAttempts: 1,
      requestHandler: { httpAgent: new Agent({ localAddress: OTHER }) },
    });
    try {
      const { Instances } = await sd.discoverInstances({ NamespaceName: 'wc', ServiceName: 'web' });
      assert.deepEqual(Instances, []);
    } finally {
      sd.destroy();
    }
    const theirs = watch(s, `${PATH}?index=${index}&wait=1m`, { localAddress: OTHER });
    open.push(theirs);
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 4);
  });

  test('a watch that ends gives its place back', async () => {
    open[0]!.close();
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 3);
    const again = watch(s, `${PATH}?index=${index}&wait=1m`);
    open.push(again);
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 4);
    assertThrottled(await watch(s, PATH).reply, /address 127\.0\.0\.1 /);
  });
});

const KEY_A = { accessKeyId: 'AKIDWATCHA', secretAccessKey: 'secret-a' };
const KEY_B = { accessKeyId: 'AKIDWATCHB', secretAccessKey: 'secret-b' };

/** SigV4 headers for a GET of `path` (query sorted as SigV4 wants), the way the SDKs sign. */
function signedGet(s: TestServer, path: string, key: typeof KEY_A): Record<string, string> {
  const url = new URL(path, s.apiUrl);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const headers: Record<string, string> = { host: url.host, 'x-amz-date': amzDate };
  const names = Object.keys(headers).sort();
  const query = [...url.searchParams].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).sort().join('&');
  const canonical = ['GET', url.pathname, query, ...names.map((n) => `${n}:${headers[n]}`), '', names.join(';'), createHash('sha256').update('').digest('hex')].join('\n');
  const scope = `${amzDate.slice(0, 8)}/us-east-1/servicediscovery/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const h = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d).digest();
  const kSigning = h(h(h(h(`AWS4${key.secretAccessKey}`, amzDate.slice(0, 8)), 'us-east-1'), 'servicediscovery'), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${key.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}

describe('watches per client, by access key (signed)', () => {
  let s: TestServer;
  let held = '';
  const open: Watch[] = [];

  before(async () => {
    s = await startTestServer({ watchMaxPerClient: 3, credentials: [KEY_A, KEY_B] });
    const sd = new ServiceDiscovery({ endpoint: s.apiUrl, region: 'us-east-1', credentials: KEY_A, disableHostPrefix: true, maxAttempts: 1 });
    const ns = await httpNamespace(sd, 'wc');
    await sd.createService({ Name: 'web', NamespaceId: ns });
    const { InstancesRevision } = await sd.discoverInstancesRevision({ NamespaceName: 'wc', ServiceName: 'web' });
    sd.destroy();
    held = `${PATH}?index=${InstancesRevision}&wait=1m`;
  });

  after(async () => {
    for (const w of open) w.close();
    await s?.destroy();
  });

  test("one key's cap holds across addresses; another key from the same address is not held to it", async () => {
    // Key A from two addresses: one client.
    open.push(watch(s, held, { headers: signedGet(s, held, KEY_A) }));
    open.push(watch(s, held, { headers: signedGet(s, held, KEY_A), localAddress: OTHER }));
    open.push(watch(s, held, { headers: signedGet(s, held, KEY_A) }));
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 3);
    assertThrottled(await watch(s, held, { headers: signedGet(s, held, KEY_A), localAddress: OTHER }).reply, /access key AKIDWATCHA /);
    // Key B, from the address key A used: its own cap.
    for (let i = 0; i < 3; i++) open.push(watch(s, held, { headers: signedGet(s, held, KEY_B) }));
    await eventually(async () => (await metric(s, 'pharos_watch_waiters')) === 6);
    assertThrottled(await watch(s, held, { headers: signedGet(s, held, KEY_B) }).reply, /access key AKIDWATCHB /);
  });
});
