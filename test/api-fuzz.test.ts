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
import { httpNamespace, rawRequest, startTestServer, type TestServer } from './helpers.ts';

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
