import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { PharosError, createMetricsRegistry, silentLogger, type Registry } from '../lib/index.ts';
import { requireOrSkip, sdClient } from '../../test/helpers.ts';
import { ApiServer, CLOUD_MAP_PREFIX, CLOUD_MAP_STYLE, MAX_BODY_BYTES } from './index.ts';
import { parseHead } from './http1.ts';

/**
 * The fast path (fastpath.ts, http1.ts) against node:http: the same raw bytes go to a server with
 * the fast path and to one without (`fastPath: false`), whole, split at every byte boundary and
 * pipelined, and the answers must be the same bytes (Date and request ids aside). Each case also
 * says whether the fast path must answer it itself, checked with `pharos_api_http_handoffs_total`,
 * so a fast path that handed everything to node:http would fail.
 */

const TARGET = `${CLOUD_MAP_PREFIX}.Echo`;

function post(body: string, extra = '', target = TARGET): string {
  return `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${target}\r\nContent-Type: application/x-amz-json-1.1\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

interface Case {
  name: string;
  bytes: string | Buffer;
  /** True: the fast path answers it all itself; false: node:http gets the connection. */
  fast: boolean;
}

const CASES: Case[] = [
  { name: 'one request', bytes: post('{"a":1}'), fast: true },
  { name: 'Connection: close', bytes: post('{"a":1}', 'Connection: close\r\n'), fast: true },
  { name: 'Connection: Keep-Alive', bytes: post('{"a":1}', 'Connection: Keep-Alive\r\n'), fast: true },
  { name: 'pipelined three', bytes: post('{"a":1}') + post('{"a":2}', '', `${CLOUD_MAP_PREFIX}.AsyncEcho`) + post('{"a":3}'), fast: true },
  { name: 'pipelined 100 (more than are read ahead)', bytes: Array.from({ length: 100 }, (_, i) => post(`{"n":${i}}`, '', i % 2 === 0 ? TARGET : `${CLOUD_MAP_PREFIX}.AsyncEcho`)).join(''), fast: true },
  { name: 'close, then more (node: 400)', bytes: post('{}', 'Connection: close\r\n') + post('{"a":2}'), fast: false },
  { name: 'header case and spaces', bytes: 'POST / HTTP/1.1\r\nhOsT:localhost:1\r\nx-amz-TARGET: \t' + TARGET + ' \t\r\ncontent-length: 2\r\n\r\n{}', fast: true },
  { name: 'empty body', bytes: post(''), fast: true },
  { name: 'Content-Length with leading zeros', bytes: post('{}').replace('Content-Length: 2', 'Content-Length: 0002'), fast: true },
  { name: 'unknown target', bytes: post('{}', '', 'Nope.Nope'), fast: true },
  { name: 'not JSON', bytes: post('{x'), fast: true },
  { name: 'JSON array', bytes: post('[1]'), fast: true },
  { name: 'modeled error, async', bytes: post('{}', '', `${CLOUD_MAP_PREFIX}.AsyncNotFound`), fast: true },
  { name: 'a bug (500)', bytes: post('{}', '', `${CLOUD_MAP_PREFIX}.Crash`), fast: true },
  { name: 'UTF-8 body', bytes: post('{"name":"żółw ✓"}'), fast: true },
  { name: 'incomplete body then end', bytes: post('{"a":1}').slice(0, -2), fast: true },
  { name: 'incomplete head then end', bytes: 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le', fast: true },
  { name: 'trailing garbage after a request', bytes: post('{}') + 'XYZ\r\n\r\n', fast: false },
  { name: 'CL and TE (smuggling)', bytes: post('{}', 'Transfer-Encoding: chunked\r\n'), fast: false },
  { name: 'TE chunked', bytes: `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${TARGET}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, fast: false },
  { name: 'TE chunked, then a fast one', bytes: `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${TARGET}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n` + post('{"b":2}'), fast: false },
  { name: 'fast one, then TE chunked', bytes: post('{"b":2}') + `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${TARGET}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, fast: false },
  { name: 'two Content-Lengths, same', bytes: post('{}', 'Content-Length: 2\r\n'), fast: false },
  { name: 'two Content-Lengths, different', bytes: post('{}', 'Content-Length: 5\r\n'), fast: false },
  { name: 'Content-Length +2', bytes: post('{}').replace('Content-Length: 2', 'Content-Length: +2'), fast: false },
  { name: 'Content-Length 1 0', bytes: post('{}').replace('Content-Length: 2', 'Content-Length: 1 0'), fast: false },
  { name: 'Content-Length -1', bytes: post('{}').replace('Content-Length: 2', 'Content-Length: -1'), fast: false },
  { name: 'Content-Length huge', bytes: post('{}').replace('Content-Length: 2', 'Content-Length: 99999999999999999999'), fast: false },
  { name: 'space before colon', bytes: post('{}').replace('Content-Length:', 'Content-Length :'), fast: false },
  { name: 'obs-fold', bytes: post('{}', 'X-Folded: a\r\n b\r\n'), fast: false },
  { name: 'bare LF', bytes: post('{}').replace(/\r\n/g, '\n'), fast: false },
  { name: 'bare LF in a header line', bytes: post('{}').replace('application/x-amz-json-1.1\r\n', 'application/x-amz-json-1.1\n'), fast: false },
  { name: 'bare CR in a value', bytes: post('{}', 'X-A: a\rb\r\n'), fast: false },
  { name: 'NUL in a value', bytes: post('{}', 'X-A: a\u0000b\r\n'), fast: false },
  { name: 'obs-text in a value', bytes: Buffer.from(post('{}', 'X-A: caf\u00e9\r\n'), 'latin1'), fast: false },
  { name: 'bad header name', bytes: post('{}', 'X(A): 1\r\n'), fast: false },
  { name: 'empty header name', bytes: post('{}', ': 1\r\n'), fast: false },
  { name: 'Expect: 100-continue', bytes: post('{}', 'Expect: 100-continue\r\n'), fast: false },
  { name: 'Upgrade', bytes: post('{}', 'Connection: Upgrade\r\nUpgrade: websocket\r\n'), fast: false },
  { name: 'Connection: keep-alive, Upgrade', bytes: post('{}', 'Connection: keep-alive, Upgrade\r\n'), fast: false },
  { name: 'HTTP/1.0', bytes: post('{}').replace('HTTP/1.1', 'HTTP/1.0'), fast: false },
  { name: 'HTTP/1.2', bytes: post('{}').replace('HTTP/1.1', 'HTTP/1.2'), fast: false },
  { name: 'no Host', bytes: post('{}').replace('Host: 127.0.0.1\r\n', ''), fast: false },
  { name: 'no Content-Length', bytes: `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ${TARGET}\r\n\r\n`, fast: false },
  { name: 'lower-case method', bytes: post('{}').replace('POST', 'post'), fast: false },
  { name: 'double space in the request line', bytes: post('{}').replace('POST /', 'POST  /'), fast: false },
  { name: 'absolute URI', bytes: post('{}').replace('POST /', 'POST http://127.0.0.1/'), fast: false },
  { name: 'query string', bytes: post('{}').replace('POST /', 'POST /?a=1'), fast: false },
  { name: 'leading empty line', bytes: '\r\n' + post('{}'), fast: false },
  { name: 'GET /ping, then a fast one', bytes: 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' + post('{}'), fast: false },
  { name: 'fast one, then GET /ping', bytes: post('{}') + 'GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', fast: false },
  { name: 'foreign Host (browser guard)', bytes: post('{}').replace('Host: 127.0.0.1', 'Host: evil.example'), fast: false },
  { name: 'foreign Origin (browser guard)', bytes: post('{}', 'Origin: http://evil.example\r\n'), fast: false },
  { name: 'a cookie (console session)', bytes: post('{}', 'Cookie: pharos_session=x\r\n'), fast: false },
  { name: 'body over the limit', bytes: post('{}').replace('Content-Length: 2', `Content-Length: ${MAX_BODY_BYTES + 1}`), fast: false },
  { name: 'head over 16 KiB', bytes: post('{}', `X-Big: ${'a'.repeat(17 * 1024)}\r\n`), fast: false },
  { name: 'many headers', bytes: post('{}', Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')), fast: false },
  { name: 'duplicate Host', bytes: post('{}', 'Host: 127.0.0.1\r\n'), fast: false },
];

/** Writes `chunks` (a pause between them, so they arrive apart), half-closes, returns all the server wrote. */
function exchange(port: number, chunks: Buffer[], gapMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const got: Buffer[] = [];
    const guard = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (d) => got.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(Buffer.concat(got).toString('latin1'));
    });
    socket.on('connect', async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (!socket.destroyed) socket.write(chunks[i]!);
      }
      if (!socket.destroyed) socket.end();
    });
  });
}

/** Date and request ids differ from one answer to the next. */
function normalized(reply: string): string {
  return reply.replace(/\r\nDate: [^\r]+/g, '\r\nDate: <date>').replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>');
}

function testServer(fastPath: boolean): { api: ApiServer; metrics: Registry } {
  const metrics = createMetricsRegistry();
  const api = new ApiServer({ logger: silentLogger(), metrics, fastPath });
  api.addTarget({
    prefix: CLOUD_MAP_PREFIX,
    style: CLOUD_MAP_STYLE,
    operations: {
      Echo: (input) => ({ Input: input }),
      AsyncEcho: async (input) => ({ Input: input }),
      AsyncNotFound: async () => {
        throw new PharosError('NamespaceNotFound', 'Namespace not found');
      },
      Crash: () => {
        throw new TypeError('x is undefined');
      },
      ListNamespaces: (input) => ({ Namespaces: [{ Id: 'ns-1', Name: JSON.stringify(input) }] }),
      GetNamespace: async () => {
        throw new PharosError('NamespaceNotFound', 'Namespace not found');
      },
    },
  });
  api.setReady(true);
  return { api, metrics };
}

async function handoffs(metrics: Registry): Promise<number> {
  const m = await metrics.getSingleMetric('pharos_api_http_handoffs_total')!.get();
  return m.values[0]?.value ?? 0;
}

describe('API fast path vs node:http', () => {
  const fast = testServer(true);
  const node = testServer(false);
  let fastPort = 0;
  let nodePort = 0;

  before(async () => {
    fastPort = (await fast.api.listen('127.0.0.1', 0)).port;
    nodePort = (await node.api.listen('127.0.0.1', 0)).port;
  });
  after(() => Promise.all([fast.api.close(), node.api.close()]));

  test('every case whole: the same answer, and answered by the fast path exactly when it should be', async () => {
    for (const c of CASES) {
      const bytes = Buffer.from(c.bytes);
      const before = await handoffs(fast.metrics);
      const [a, b] = await Promise.all([exchange(fastPort, [bytes], 0), exchange(nodePort, [bytes], 0)]);
      assert.equal(normalized(a), normalized(b), c.name);
      assert.ok(b.length > 0 || c.name.includes('then end') || c.name.includes('head'), `${c.name}: node:http answered nothing`);
      assert.equal((await handoffs(fast.metrics)) - before, c.fast ? 0 : 1, `${c.name}: ${c.fast ? 'handed to node:http' : 'answered by the fast path'}`);
    }
  });

  test('split at every byte boundary: the same answers', async () => {
    const picked = ['one request', 'pipelined three', 'CL and TE (smuggling)', 'fast one, then TE chunked', 'obs-fold', 'bare LF in a header line', 'incomplete body then end', 'Connection: close'];
    for (const name of picked) {
      const bytes = Buffer.from(CASES.find((c) => c.name === name)!.bytes);
      const splits = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
      const answers = await Promise.all(
        splits.flatMap((at) => [exchange(fastPort, [bytes.subarray(0, at), bytes.subarray(at)], 15), exchange(nodePort, [bytes.subarray(0, at), bytes.subarray(at)], 15)]),
      );
      for (let i = 0; i < splits.length; i++) assert.equal(normalized(answers[2 * i]!), normalized(answers[2 * i + 1]!), `${name} split at ${splits[i]}`);
    }
  });

  test('the AWS SDK for JavaScript and boto3 are answered by the fast path', async (t) => {
    const before = await handoffs(fast.metrics);
    const sd = sdClient(`http://127.0.0.1:${fastPort}`);
    for (let i = 0; i < 3; i++) {
      const out = await sd.listNamespaces({ MaxResults: 5 + i });
      assert.equal(out.Namespaces?.[0]?.Name, JSON.stringify({ MaxResults: 5 + i }));
    }
    await assert.rejects(sd.getNamespace({ Id: 'ns-x' }), { name: 'NamespaceNotFound' });
    sd.destroy();
    assert.equal(await handoffs(fast.metrics), before, 'the SDK was answered by node:http');
    const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;
    const skip = requireOrSkip(hasBoto3, 'python3 with boto3');
    if (skip) return t.skip(skip);
    const script = `
import sys, boto3
from botocore.config import Config
sd = boto3.client('servicediscovery', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='a', aws_secret_access_key='b', config=Config(inject_host_prefix=False, retries={'max_attempts': 1}))
for i in range(3):
    print(sd.list_namespaces(MaxResults=5 + i)['Namespaces'][0]['Name'])
try:
    sd.get_namespace(Id='ns-x')
except sd.exceptions.NamespaceNotFound as e:
    print(e.response['Error']['Code'])
`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('python3', ['-c', script, `http://127.0.0.1:${fastPort}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString()));
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`boto3 exited ${code}`))));
    });
    assert.deepEqual(out.trim().split('\n'), ['{"MaxResults":5}', '{"MaxResults":6}', '{"MaxResults":7}', 'NamespaceNotFound']);
    assert.equal(await handoffs(fast.metrics), before, 'boto3 was answered by node:http');
  });

  test('close(): an idle fast-path connection is closed at once, one in progress gets its answer with Connection: close', async () => {
    const server = testServer(true);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => (started = resolve));
    server.api.addTarget({
      prefix: 'Held',
      style: CLOUD_MAP_STYLE,
      operations: {
        Wait: async () => {
          started();
          await held;
          return { done: true };
        },
      },
    });
    const port = (await server.api.listen('127.0.0.1', 0)).port;
    const open = (bytes: string) =>
      new Promise<{ reply: Promise<string> }>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        const got: Buffer[] = [];
        socket.on('data', (d) => got.push(d));
        socket.on('error', () => undefined);
        const reply = new Promise<string>((r) => socket.on('close', () => r(Buffer.concat(got).toString('latin1'))));
        socket.on('connect', () => {
          socket.write(bytes);
          resolve({ reply });
        });
      });
    const idle = await open(post('{}'));
    const busy = await open(post('{}', '', 'Held.Wait'));
    // Both requests arrived and the idle one was answered.
    await waiting;
    for (let i = 0; i < 100 && !(await server.metrics.metrics()).includes('operation="Echo"'); i++) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    const closed = server.api.close();
    assert.match(await idle.reply, /^HTTP\/1.1 200 OK\r\n[\s\S]*Connection: keep-alive/);
    assert.ok(performance.now() - t0 < 1_000, 'the idle connection was not closed at once');
    release();
    assert.match(await busy.reply, /^HTTP\/1.1 200 OK\r\n[\s\S]*Connection: close\r\n[\s\S]*\{"done":true\}$/);
    await closed;
  });

  test('a 900 KB body in 1 KiB pieces, and a head a byte at a time: answered by the fast path, as node:http answers', async () => {
    const before = await handoffs(fast.metrics);
    const body = JSON.stringify({ big: 'x'.repeat(900_000) });
    const bytes = Buffer.from(post(body));
    const headEnd = bytes.indexOf('\r\n\r\n') + 4;
    const chunks = [...Array.from(bytes.subarray(0, headEnd), (b) => Buffer.from([b]))];
    for (let i = headEnd; i < bytes.length; i += 1024) chunks.push(bytes.subarray(i, i + 1024));
    const [a, b] = await Promise.all([exchange(fastPort, chunks, 0), exchange(nodePort, chunks, 0)]);
    assert.equal(normalized(a), normalized(b));
    assert.match(a, /^HTTP\/1.1 200 OK\r\n/);
    assert.ok(a.endsWith(`${'x'.repeat(1000)}"}}`));
    assert.equal(await handoffs(fast.metrics), before);
  });

  test('one byte at a time: the same answers', async () => {
    const bytes = Buffer.from(post('{"a":1}') + post('{"a":2}', 'Connection: close\r\n'));
    const chunks = Array.from(bytes, (b) => Buffer.from([b]));
    const [a, b] = await Promise.all([exchange(fastPort, chunks, 1), exchange(nodePort, chunks, 1)]);
    assert.equal(normalized(a), normalized(b));
    assert.match(a, /"a":2/);
  });
});

describe('API fast path: slow clients, as node:http treats them', () => {
  const LIMIT_MS = 300;
  const servers = [true, false].map((fastPath) => {
    const metrics = createMetricsRegistry();
    const api = new ApiServer({ logger: silentLogger(), metrics, fastPath, limits: { headerTimeoutMs: LIMIT_MS, bodyTimeoutMs: LIMIT_MS } });
    api.addTarget({ prefix: CLOUD_MAP_PREFIX, style: CLOUD_MAP_STYLE, operations: { Echo: (input) => ({ Input: input }) } });
    return { fastPath, api, metrics, port: 0 };
  });
  before(async () => {
    for (const s of servers) s.port = (await s.api.listen('127.0.0.1', 0)).port;
  });
  after(() => Promise.all(servers.map((s) => s.api.close())));

  /** Sends `chunks[i]` at `i * everyMs`, never half-closes; resolves with what came back and when the server closed. */
  function slowClient(port: number, chunks: string[], everyMs: number): Promise<{ reply: string; ms: number }> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      const got: Buffer[] = [];
      const t0 = performance.now();
      let i = 0;
      const timer = setInterval(() => {
        if (i < chunks.length && !socket.destroyed) socket.write(chunks[i++]!);
      }, everyMs);
      socket.on('connect', () => chunks.length > 0 && socket.write(chunks[i++]!));
      socket.on('data', (d) => got.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        resolve({ reply: Buffer.concat(got).toString('latin1'), ms: performance.now() - t0 });
      });
      setTimeout(() => socket.destroy(), 20 * LIMIT_MS).unref();
    });
  }

  const head = 'POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: ' + TARGET + '\r\nContent-Length: 20\r\n\r\n';
  // The upper bounds leave room for a loaded 2-core CI machine (node checks deadlines every 250 ms,
  // and timers run late under load); the lower bounds are what each case is about.
  const SLACK_MS = 2500;
  const cases: { name: string; chunks: string[]; everyMs: number; minMs: number; maxMs: number }[] = [
    { name: 'silent connection', chunks: [], everyMs: 50, minMs: LIMIT_MS, maxMs: LIMIT_MS + SLACK_MS },
    { name: 'head never finished', chunks: ['POST / HTTP/1.1\r\nHost: 1'], everyMs: 50, minMs: LIMIT_MS, maxMs: LIMIT_MS + SLACK_MS },
    { name: 'slowloris: a header byte every 40 ms', chunks: ['POST / HTTP/1.1\r\n', ...'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'], everyMs: 40, minMs: LIMIT_MS, maxMs: LIMIT_MS + SLACK_MS },
    { name: 'body never finished', chunks: [head + '{"a":'], everyMs: 50, minMs: 2 * LIMIT_MS, maxMs: 2 * LIMIT_MS + SLACK_MS },
  ];
  for (const c of cases) {
    test(`${c.name}: 408 and closed after the limit, on both`, async () => {
      const results = await Promise.all(servers.map((s) => slowClient(s.port, c.chunks, c.everyMs)));
      for (const [i, r] of results.entries()) {
        const which = servers[i]!.fastPath ? 'fast path' : 'node:http';
        assert.equal(r.reply, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', which);
        assert.ok(r.ms >= c.minMs - 20 && r.ms <= c.maxMs, `${which}: closed after ${Math.round(r.ms)} ms`);
      }
      for (const s of servers) assert.match(await s.metrics.metrics(), /pharos_api_refused_total\{reason="timeout"\} [1-9]/);
    });
  }

  test('an idle keep-alive connection outlives the header timeout, on both', async () => {
    for (const s of servers) {
      const reply = await new Promise<string>((resolve) => {
        const socket = connect(s.port, '127.0.0.1');
        const got: Buffer[] = [];
        socket.on('data', (d) => got.push(d));
        socket.on('connect', () => socket.write(post('{"n":1}')));
        setTimeout(() => socket.write(post('{"n":2}', 'Connection: close\r\n')), 2 * LIMIT_MS + 200);
        socket.on('close', () => resolve(Buffer.concat(got).toString('latin1')));
      });
      assert.match(reply, /"n":1[\s\S]*"n":2/, s.fastPath ? 'fast path' : 'node:http');
    }
  });
});

describe('http1 parseHead', () => {
  test('header names in any case: lower-cased in headers, as sent in rawHeaders (what SigV4 signs)', () => {
    const bytes = Buffer.from('POST / HTTP/1.1\r\nHOST: a\r\nX-Amz-TARGET: t\r\nx-amz-date: d\r\nX-Custom-Thing: c\r\nContent-Length: 0\r\n\r\n', 'latin1');
    const head = parseHead(bytes, 0, 16 * 1024, 1024);
    assert.ok(typeof head === 'object');
    assert.deepEqual({ ...head.headers }, { host: 'a', 'x-amz-target': 't', 'x-amz-date': 'd', 'x-custom-thing': 'c', 'content-length': '0' });
    assert.deepEqual(head.rawHeaders, ['HOST', 'a', 'X-Amz-TARGET', 't', 'x-amz-date', 'd', 'X-Custom-Thing', 'c', 'Content-Length', '0']);
    // A name of a known one's length that differs in one byte is not taken for it.
    const near = parseHead(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nX-Amz-Targex: t\r\nContent-Length: 0\r\n\r\n', 'latin1'), 0, 16 * 1024, 1024);
    assert.ok(typeof near === 'object');
    assert.equal(near.headers['x-amz-target'], undefined);
    assert.equal(near.headers['x-amz-targex'], 't');
  });
});
