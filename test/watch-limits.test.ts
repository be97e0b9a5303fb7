/**
 * The watch next to the API's client limits: the header and body timeouts end once a request
 * has arrived, so a watch may wait past them for its full `wait`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpNamespace, rawRequest, startTestServer, type TestServer } from './helpers.ts';

const PATH = '/v1/namespaces/limits/services/web/instances';

describe('watch and the HTTP timeouts', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ httpHeaderTimeoutMs: 200, httpBodyTimeoutMs: 200 });
    const ns = await httpNamespace(s.sd, 'limits');
    await s.sd.createService({ Name: 'web', NamespaceId: ns });
  });
  after(() => s.destroy());

  test('a watch waits its full wait, past the header and body timeouts', async () => {
    const index = (await rawRequest(s.apiUrl, 'GET', PATH)).headers['x-pharos-index'];
    const started = Date.now();
    const r = await rawRequest(s.apiUrl, 'GET', `${PATH}?index=${index}&wait=1500ms`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['x-pharos-index'], index);
    assert.ok(Date.now() - started >= 1400, `held ${Date.now() - started} ms, beyond the 400 ms of timeouts`);
  });
});
