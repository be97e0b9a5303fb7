import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ManualClock, PharosError, createMetricsRegistry, silentLogger } from '../lib/index.ts';
import {
  ApiServer,
  BOUNDARY_ERRORS,
  CLOUD_MAP_PREFIX,
  CLOUD_MAP_STYLE,
  ECS_PREFIX,
  ECS_STYLE,
  FixedKeyHmac,
  INCOMPLETE_SIGNATURE,
  INVALID_SIGNATURE,
  MAX_CLOCK_SKEW_MS,
  MISSING_AUTHENTICATION_TOKEN,
  SigV4Verifier,
  UNRECOGNIZED_CLIENT,
  deriveSigningKey,
  type SignedRequest,
} from './index.ts';

// ---- the AWS Signature Version 4 test suite ----------------------------------------------------
// Vectors from the AWS SigV4 test suite (formerly docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html):
// access key AKIDEXAMPLE, the documented example secret, 2015-08-30T12:36:00Z, us-east-1, service "service",
// host example.amazonaws.com, only host and x-amz-date signed, empty body.

const SUITE_KEY = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SUITE_TIME = Date.UTC(2015, 7, 30, 12, 36, 0);
const SUITE_DATE = '20150830T123600Z';

const suite: { name: string; method: string; url: string; signature: string }[] = [
  { name: 'get-vanilla', method: 'GET', url: '/', signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'post-vanilla', method: 'POST', url: '/', signature: '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
  { name: 'get-vanilla-query-order-key-case', method: 'GET', url: '/?Param2=value2&Param1=value1', signature: 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500' },
  { name: 'post-vanilla-query', method: 'POST', url: '/?Param1=value1', signature: '28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11' },
  { name: 'get-utf8', method: 'GET', url: '/%E1%88%B4', signature: '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85' },
  { name: 'get-space', method: 'GET', url: '/example%20space/', signature: '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741' },
];

function suiteRequest(method: string, url: string, signature: string): SignedRequest {
  return {
    method,
    url,
    body: Buffer.alloc(0),
    rawHeaders: [
      'Host', 'example.amazonaws.com',
      'X-Amz-Date', SUITE_DATE,
      'Authorization', `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    ],
  };
}

/** Expects `fn` to throw the boundary error `code` (message matching `message` when given). */
function throwsCode(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PharosError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('SigV4: the AWS test suite', () => {
  const verifier = new SigV4Verifier({ credentials: [SUITE_KEY], clock: new ManualClock(SUITE_TIME), services: ['service'] });

  for (const v of suite) {
    test(`${v.name}: the published signature verifies; one changed digit does not`, () => {
      assert.deepEqual(verifier.verify(suiteRequest(v.method, v.url, v.signature)), { accessKeyId: 'AKIDEXAMPLE', region: 'us-east-1', service: 'service' });
      const flipped = (v.signature[0] === '0' ? '1' : '0') + v.signature.slice(1);
      throwsCode(() => verifier.verify(suiteRequest(v.method, v.url, flipped)), INVALID_SIGNATURE, /^The request signature we calculated does not match/);
    });
  }

  test('FixedKeyHmac equals createHmac (RFC 2104), for keys of 0-64 bytes and UTF-8 messages', () => {
    for (const length of [0, 1, 32, 63, 64]) {
      const key = Buffer.alloc(length, 0xa5);
      for (const message of ['', 'AWS4-HMAC-SHA256\n20150830T123600Z', 'ሴ example space'.repeat(40)]) {
        assert.deepEqual(new FixedKeyHmac(key).digest(message), createHmac('sha256', key).update(message, 'utf8').digest());
      }
    }
    assert.throws(() => new FixedKeyHmac(Buffer.alloc(65)), RangeError);
  });

  test('signing key of the AWS documentation example (iam, us-east-1, 20150830)', () => {
    // docs.aws.amazon.com "Examples of how to derive a signing key for Signature Version 4".
    assert.equal(
      deriveSigningKey(SUITE_KEY.secretAccessKey, '20150830', 'us-east-1', 'iam').toString('hex'),
      'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9',
    );
  });
});

// ---- JSON API requests, signed here with node:crypto the way the SDKs do ---------------------------

const KEY = { accessKeyId: 'AKIDPHAROS', secretAccessKey: 'pharos/secret+KEY' };
const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

interface SignOptions {
  method?: string;
  host?: string;
  target?: string;
  body?: string;
  amzDate?: string;
  accessKeyId?: string;
  secret?: string;
  scopeDate?: string;
  region?: string;
  service?: string;
  /** Extra headers, signed unless listed in `unsigned`. */
  headers?: Record<string, string>;
  unsigned?: string[];
}

/** An independent SigV4 signer (the documented algorithm, written out), returning what node would hand the server. */
function sign(o: SignOptions = {}): SignedRequest {
  const body = o.body ?? '{"NamespaceName":"demo","ServiceName":"web"}';
  const amzDate = o.amzDate ?? '20261125T120000Z';
  const headers: Record<string, string> = {
    'Content-Type': 'application/x-amz-json-1.1',
    Host: o.host ?? 'localhost:7700',
    'X-Amz-Date': amzDate,
    'X-Amz-Target': o.target ?? `${CLOUD_MAP_PREFIX}.DiscoverInstances`,
    ...o.headers,
  };
  const signedNames = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .filter((h) => !(o.unsigned ?? []).includes(h))
    .sort();
  const value = (name: string) => Object.entries(headers).find(([h]) => h.toLowerCase() === name)![1].trim().replace(/\s+/g, ' ');
  const canonical = [
    o.method ?? 'POST',
    '/',
    '',
    ...signedNames.map((h) => `${h}:${value(h)}`),
    '',
    signedNames.join(';'),
    // As the SDKs do: a given X-Amz-Content-Sha256 is the payload hash that is signed.
    o.headers?.['X-Amz-Content-Sha256'] ?? createHash('sha256').update(body).digest('hex'),
  ].join('\n');
  const scope = `${o.scopeDate ?? amzDate.slice(0, 8)}/${o.region ?? 'us-east-1'}/${o.service ?? 'servicediscovery'}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const h = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const [date, region, service] = scope.split('/') as [string, string, string];
  const kSigning = h(h(h(h(`AWS4${o.secret ?? KEY.secretAccessKey}`, date), region), service), 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(toSign).digest('hex');
  const rawHeaders = Object.entries(headers).flat();
  rawHeaders.push('Authorization', `AWS4-HMAC-SHA256 Credential=${o.accessKeyId ?? KEY.accessKeyId}/${scope}, SignedHeaders=${signedNames.join(';')}, Signature=${signature}`);
  return { method: o.method ?? 'POST', url: '/', rawHeaders, body: Buffer.from(body) };
}

/** `req` with one header's value replaced (or removed with `undefined`). */
function withHeader(req: SignedRequest, name: string, value: string | undefined): SignedRequest {
  const raw: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() !== name.toLowerCase()) raw.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  if (value !== undefined) raw.push(name, value);
  return { ...req, rawHeaders: raw };
}

describe('SigV4Verifier', () => {
  const clock = new ManualClock(NOW);
  const verifier = new SigV4Verifier({ credentials: [{ accessKeyId: 'other', secretAccessKey: 'x' }, KEY], clock });

  test('a correctly signed JSON request verifies, for servicediscovery and ecs scopes', () => {
    assert.deepEqual(verifier.verify(sign()), { accessKeyId: KEY.accessKeyId, region: 'us-east-1', service: 'servicediscovery' });
    assert.equal(verifier.verify(sign({ service: 'ecs', target: `${ECS_PREFIX}.ListClusters` }), 'ecs').service, 'ecs');
    assert.equal(verifier.verify(sign({ region: 'eu-north-1' })).region, 'eu-north-1');
  });

  test('the Host header counts exactly as it arrived (data- prefix)', () => {
    const req = sign({ host: 'data-localhost:7700' });
    verifier.verify(req);
    throwsCode(() => verifier.verify(withHeader(req, 'Host', 'localhost:7700')), INVALID_SIGNATURE, /host:localhost:7700/);
  });

  test('header values are trimmed and inner whitespace collapsed; header name case does not matter', () => {
    verifier.verify(sign({ headers: { 'X-Custom': '  a   b\tc ' } }));
    const req = sign();
    const lower = { ...req, rawHeaders: req.rawHeaders.map((v, i) => (i % 2 === 0 ? v.toLowerCase() : v)) };
    verifier.verify(lower);
  });

  test('a signed X-Amz-Content-Sha256 of the body verifies; UNSIGNED-PAYLOAD or another hash does not', () => {
    const body = '{"a":1}';
    verifier.verify(sign({ body, headers: { 'X-Amz-Content-Sha256': createHash('sha256').update(body).digest('hex') } }));
    throwsCode(() => verifier.verify(sign({ body, headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } })), INVALID_SIGNATURE);
  });

  const failures: [string, () => SignedRequest, string, RegExp, string?][] = [
    ['no Authorization header', () => withHeader(sign(), 'Authorization', undefined), MISSING_AUTHENTICATION_TOKEN, /Missing Authentication Token/],
    ['another scheme', () => withHeader(sign(), 'Authorization', 'Basic cGhhcm9zOnBoYXJvcw=='), INCOMPLETE_SIGNATURE, /only AWS4-HMAC-SHA256/],
    ['no Signature part', () => withHeader(sign(), 'Authorization', 'AWS4-HMAC-SHA256 Credential=AKIDPHAROS/20261125/us-east-1/servicediscovery/aws4_request, SignedHeaders=host;x-amz-date'), INCOMPLETE_SIGNATURE, /requires 'Signature' parameter/],
    ['a short Credential', () => withHeader(sign(), 'Authorization', 'AWS4-HMAC-SHA256 Credential=AKIDPHAROS/20261125, SignedHeaders=host;x-amz-date, Signature=00'), INCOMPLETE_SIGNATURE, /Credential must be/],
    ['no X-Amz-Date', () => withHeader(sign(), 'X-Amz-Date', undefined), INCOMPLETE_SIGNATURE, /X-Amz-Date/],
    ['a malformed X-Amz-Date', () => withHeader(sign(), 'X-Amz-Date', '2026-11-25T12:00:00Z'), INCOMPLETE_SIGNATURE, /X-Amz-Date must be/],
    ['an impossible X-Amz-Date', () => withHeader(sign(), 'X-Amz-Date', '20261345T120000Z'), INCOMPLETE_SIGNATURE, /X-Amz-Date must be/],
    ['Host not signed', () => sign({ unsigned: ['host'] }), INCOMPLETE_SIGNATURE, /'Host' must be a 'SignedHeader'/],
    ['X-Amz-Target not signed', () => sign({ unsigned: ['x-amz-target'] }), INCOMPLETE_SIGNATURE, /'X-Amz-Target' must be a 'SignedHeader'/],
    ['an unknown access key', () => sign({ accessKeyId: 'AKIDNOBODY' }), UNRECOGNIZED_CLIENT, /security token included in the request is invalid/],
    ['a wrong secret', () => sign({ secret: 'not-the-secret' }), INVALID_SIGNATURE, /^The request signature we calculated does not match/],
    ['a tampered body', () => ({ ...sign(), body: Buffer.from('{"NamespaceName":"demo","ServiceName":"db"}') }), INVALID_SIGNATURE, /does not match/],
    ['a tampered target', () => withHeader(sign(), 'X-Amz-Target', `${CLOUD_MAP_PREFIX}.DeleteNamespace`), INVALID_SIGNATURE, /does not match/],
    ['a scope date that is not the request date', () => sign({ scopeDate: '20261124' }), INVALID_SIGNATURE, /Date in Credential scope does not match/],
    ['another service', () => sign({ service: 's3' }), INVALID_SIGNATURE, /scoped to correct service: 'servicediscovery' or 'ecs'/],
    ['the other API’s service', () => sign({ service: 'servicediscovery' }), INVALID_SIGNATURE, /scoped to correct service: 'ecs'/, 'ecs'],
    ['a signature of the wrong length', () => withHeader(sign(), 'Authorization', 'AWS4-HMAC-SHA256 Credential=AKIDPHAROS/20261125/us-east-1/servicediscovery/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abcd'), INVALID_SIGNATURE, /does not match/],
    ['signed 15 min 1 s ago', () => sign({ amzDate: '20261125T114459Z' }), INVALID_SIGNATURE, /^Signature expired: 20261125T114459Z is now earlier than 20261125T114500Z \(20261125T120000Z - 15 min\.\)$/],
    ['signed 15 min 1 s ahead', () => sign({ amzDate: '20261125T121501Z' }), INVALID_SIGNATURE, /^Signature not yet current: 20261125T121501Z is still later than 20261125T121500Z/],
  ];
  for (const [name, build, code, message, service] of failures) {
    test(`${name} → ${code}`, () => throwsCode(() => verifier.verify(build(), service), code, message));
  }

  test('exactly 15 minutes either way is still accepted (the injected clock decides)', () => {
    verifier.verify(sign({ amzDate: '20261125T114500Z' }));
    verifier.verify(sign({ amzDate: '20261125T121500Z' }));
    const later = new ManualClock(NOW + MAX_CLOCK_SKEW_MS + 1000);
    throwsCode(() => new SigV4Verifier({ credentials: [KEY], clock: later }).verify(sign()), INVALID_SIGNATURE, /Signature expired/);
  });

  test('the message never contains the secret', () => {
    try {
      verifier.verify(sign({ secret: 'wrong' }));
      assert.fail('verified');
    } catch (err) {
      assert.ok(!(err as Error).message.includes(KEY.secretAccessKey));
    }
  });

  test('needs at least one key', () => {
    assert.throws(() => new SigV4Verifier({ credentials: [], clock }), TypeError);
  });
});

// ---- the boundary: ApiServer with credentials --------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

/** Sends `req` as it is (headers in order, Host included) to the server at `port`. */
function send(port: number, req: SignedRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: [...req.rawHeaders, 'Content-Length', String(req.body.length)] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

describe('ApiServer with credentials', () => {
  const api = new ApiServer({ logger: silentLogger(), metrics: createMetricsRegistry(), credentials: [KEY], clock: new ManualClock(NOW) });
  let port = 0;
  before(async () => {
    port = (await api.listen('127.0.0.1', 0)).port;
  });
  after(() => api.close());
  api.addTarget({ prefix: CLOUD_MAP_PREFIX, style: CLOUD_MAP_STYLE, signingName: 'servicediscovery', operations: { DiscoverInstances: (input) => ({ Input: input }) } });
  api.addTarget({ prefix: ECS_PREFIX, style: ECS_STYLE, signingName: 'ecs', operations: { ListClusters: () => ({ clusterArns: [] }) } });

  test('signed requests reach their operation', async () => {
    assert.equal(api.authenticates, true);
    const r = await send(port, sign({ host: `data-localhost:${port}` }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { Input: { NamespaceName: 'demo', ServiceName: 'web' } });
    assert.equal((await send(port, sign({ service: 'ecs', target: `${ECS_PREFIX}.ListClusters`, body: '{}' }))).status, 200);
  });

  test('errors go through the one table: status, __type, x-amzn-ErrorType and the target’s message key', async () => {
    const missing = await send(port, withHeader(sign(), 'Authorization', undefined));
    assert.equal(missing.status, BOUNDARY_ERRORS[MISSING_AUTHENTICATION_TOKEN]);
    assert.equal(missing.status, 403);
    assert.equal(missing.json['__type'], MISSING_AUTHENTICATION_TOKEN);
    assert.equal(missing.headers['x-amzn-errortype'], MISSING_AUTHENTICATION_TOKEN);
    assert.match(String(missing.json['Message']), /Missing Authentication Token/);

    const ecsWrongScope = await send(port, sign({ target: `${ECS_PREFIX}.ListClusters`, body: '{}' }));
    assert.equal(ecsWrongScope.status, 400);
    assert.equal(ecsWrongScope.json['__type'], INVALID_SIGNATURE);
    assert.match(String(ecsWrongScope.json['message']), /scoped to correct service: 'ecs'/);

    const unknownKey = await send(port, sign({ accessKeyId: 'nobody' }));
    assert.deepEqual([unknownKey.status, unknownKey.json['__type']], [400, UNRECOGNIZED_CLIENT]);
  });

  test('an unknown operation without a signature is refused as unauthenticated, not as unknown', async () => {
    const r = await send(port, withHeader(sign({ target: `${CLOUD_MAP_PREFIX}.NoSuchThing` }), 'Authorization', undefined));
    assert.equal(r.json['__type'], MISSING_AUTHENTICATION_TOKEN);
    const signed = await send(port, sign({ target: `${CLOUD_MAP_PREFIX}.NoSuchThing` }));
    assert.equal(signed.json['__type'], 'UnknownOperationException');
  });
});
