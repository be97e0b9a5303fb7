/**
 * Hostile API requests against a real server (test/fuzzkit.ts): random members with hostile
 * values for every Cloud Map and ECS operation, malformed and cut-short JSON, deep and huge
 * bodies, unicode, NUL and invalid UTF-8, wrong targets, and races of creates and deletes on one
 * name. None may get a 5xx; the server answers correctly afterwards. The seed is in the test name
 * (replay with API_FUZZ_SEED); bench/fuzz.ts runs the long pass.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { prng, runApiFuzz } from './fuzzkit.ts';
import { httpNamespace, rawPost, rawRequest, startTestServer, type TestServer } from './helpers.ts';

/** A few seconds of requests: every operation many times over. */
const REQUESTS = 1500;
const SEED = Number(process.env.API_FUZZ_SEED ?? Date.now() % 1_000_000);

let s: TestServer;
before(async () => {
  s = await startTestServer({ maxNamespaces: 1000 });
});
after(() => s.destroy());

test(`hostile API requests get 4xx, never 5xx (seed ${SEED})`, async () => {
  const r = await runApiFuzz(s.apiUrl, prng(SEED), REQUESTS, 16);
  assert.equal(r.serverErrors, 0, `5xx answers: ${r.examples.join('\n')}`);
  assert.ok(r.requests >= REQUESTS);
  assert.ok((r.statuses[400] ?? 0) > REQUESTS / 2, `statuses ${JSON.stringify(r.statuses)}`);
  // Still healthy, and still correct.
  assert.equal((await rawRequest(s.apiUrl, 'GET', '/ping')).status, 200);
  const id = await httpNamespace(s.sd, 'after-the-fuzz');
  assert.match(id, /^ns-/);
});

test('names with a NUL or an unpaired surrogate are invalid input, not a fault (found by bench/fuzz.ts)', async () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['AmazonEC2ContainerServiceV20141113.ListTasks', { serviceName: 'a\u0000b' }, 'InvalidParameterException'],
    ['AmazonEC2ContainerServiceV20141113.ListTasks', { serviceName: '\uD800' }, 'InvalidParameterException'],
    ['AmazonEC2ContainerServiceV20141113.DescribeServices', { services: ['x\u0000'] }, 'InvalidParameterException'],
    ['Route53AutoNaming_v20170314.GetNamespace', { Id: 'ns-\u0000' }, 'InvalidInput'],
    ['Route53AutoNaming_v20170314.GetService', { Id: '\uDC00' }, 'InvalidInput'],
  ];
  for (const [target, body, code] of cases) {
    const r = await rawPost(s.apiUrl, target, JSON.stringify(body));
    assert.ok(r.status < 500, `${target} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
    if (r.status === 400 && r.json?.['__type'] !== code) {
      // Another client error (e.g. not found) is fine too: what matters is that it is not a fault.
      assert.match(String(r.json?.['__type']), /Exception|NotFound|Invalid/);
    }
  }
});
