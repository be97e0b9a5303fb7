/**
 * `pharos cluster status` against a server started with --credentials: the request is signed with
 * the AWS environment variables (SigV4, as the agent signs), refused without them with a hint,
 * and refused with a wrong secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { main } from '../src/cli/main.ts';
import { DUMMY_CREDENTIALS, startTestServer, type TestServer } from './helpers.ts';

async function clusterStatus(server: string, env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['cluster', 'status', '--server', server], { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) }, env });
  return { code, out, err };
}

describe('pharos cluster status against a server with --credentials', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ credentials: [DUMMY_CREDENTIALS] });
  });
  after(() => s?.destroy());

  test('signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: the status is printed', async () => {
    const r = await clusterStatus(s.apiUrl, { AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: DUMMY_CREDENTIALS.secretAccessKey, AWS_REGION: 'eu-west-1' });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^store: sqlite, revision \d+; leader: \S+/);
  });

  test('without credentials: refused, and the message says what to set', async () => {
    const r = await clusterStatus(s.apiUrl, {});
    assert.equal(r.code, 1);
    assert.match(r.err, /HTTP 403: .*MissingAuthenticationTokenException/s);
    assert.match(r.err, /set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });

  test('a wrong secret: refused with InvalidSignatureException', async () => {
    const r = await clusterStatus(s.apiUrl, { AWS_ACCESS_KEY_ID: DUMMY_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong' });
    assert.equal(r.code, 1);
    assert.match(r.err, /InvalidSignatureException/);
    assert.doesNotMatch(r.err, /set AWS_ACCESS_KEY_ID/);
  });
});
