/**
 * Without --credentials, requests a browser sends for another site are refused: DNS rebinding (a
 * page's own name in Host) and cross-site POSTs (an Origin that is not the server). A whole
 * `pharos server`, raw HTTP; the SDK-facing names (localhost, data-localhost, 127.x, ::1) still work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { browserRefusal } from '../src/api/browserguard.ts';
import { rawRequest, startTestServer, privateNamespace, type TestServer } from './helpers.ts';

const CLOUD_MAP = (op: string) => ({ 'X-Amz-Target': `Route53AutoNaming_v20170314.${op}`, 'Content-Type': 'application/x-amz-json-1.1' });

describe('browser guard (no credentials)', () => {
  let s: TestServer;
  let port = 0;
  before(async () => {
    s = await startTestServer();
    port = Number(new URL(s.apiUrl).port);
  });
  after(() => s.destroy());

  test('which Host and Origin headers pass', () => {
    for (const host of ['localhost', 'localhost:7700', 'LOCALHOST:1', 'data-localhost:7700', 'pharos.localhost', '127.0.0.1:7700', '127.1.2.3', 'data-127.0.0.1:7700', '[::1]:7700', undefined]) {
      assert.equal(browserRefusal({ host }), undefined, `Host ${host}`);
    }
    for (const host of ['evil.example:7700', 'evil.example', 'localhost.evil.example', '128.0.0.1', '0.0.0.0:7700', '[::2]:7700', '127.0.0.1.evil.example']) {
      assert.match(browserRefusal({ host }) ?? '', /is not a loopback name/, `Host ${host}`);
    }
    assert.equal(browserRefusal({ host: 'localhost:7700', origin: 'http://localhost:7700' }), undefined);
    assert.equal(browserRefusal({ host: 'localhost', origin: 'http://localhost:80' }), undefined, 'default port');
    for (const origin of ['http://evil.example', 'http://localhost:3000', 'null', 'file://', 'not a url']) {
      assert.match(browserRefusal({ host: 'localhost:7700', origin }) ?? '', /is not this server/, `Origin ${origin}`);
    }
  });

  test('a rebound name in Host gets 403 AccessDeniedException; nothing is created', async () => {
    const r = await rawRequest(s.apiUrl, 'POST', '/', JSON.stringify({ Name: 'rebound' }), { ...CLOUD_MAP('CreateHttpNamespace'), Host: `attacker.example:${port}` });
    assert.equal(r.status, 403);
    assert.equal((r.json as { __type: string }).__type, 'AccessDeniedException');
    assert.match((r.json as { Message: string }).Message, /not a loopback name/);
    for (const path of ['/metrics', '/console/', '/cluster', `/v1/namespaces/x/services/y/instances`]) {
      assert.equal((await rawRequest(s.apiUrl, 'GET', path, undefined, { Host: 'attacker.example' })).status, 403, path);
    }
    assert.equal((await s.sd.listNamespaces({})).Namespaces!.length, 0);
  });

  test("a cross-site form POST to Route 53's REST API gets Route 53's AccessDenied; the zone is unchanged", async () => {
    await privateNamespace(s.sd, 'guard.local');
    const zones = (await rawRequest(s.apiUrl, 'GET', '/2013-04-01/hostedzone')).text;
    const zoneId = /<Id>\/hostedzone\/([^<]+)<\/Id>/.exec(zones)![1]!;
    const xml = `<?xml version="1.0"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>csrf.guard.local</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"x"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`;
    const path = `/2013-04-01/hostedzone/${zoneId}/rrset/`;
    // What a form on another site sends: a simple request (text/plain), no preflight, with its Origin.
    const refused = await rawRequest(s.apiUrl, 'POST', path, xml, { 'Content-Type': 'text/plain', Origin: 'http://evil.example' });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /<Code>AccessDenied<\/Code>/);
    assert.doesNotMatch((await rawRequest(s.apiUrl, 'GET', path)).text, /csrf\.guard\.local/);
    // The same request from a client (no Origin), or from the console's own origin, goes through.
    const same = await rawRequest(s.apiUrl, 'POST', path, xml, { 'Content-Type': 'text/xml', Origin: s.apiUrl });
    assert.equal(same.status, 200, same.text);
    assert.match((await rawRequest(s.apiUrl, 'GET', path)).text, /csrf\.guard\.local/);
  });

  test('the SDK-facing names still work: data-localhost and 127.x', async () => {
    for (const host of [`data-localhost:${port}`, `localhost:${port}`, `127.0.0.5:${port}`]) {
      const r = await rawRequest(s.apiUrl, 'POST', '/', '{}', { ...CLOUD_MAP('ListNamespaces'), Host: host });
      assert.equal(r.status, 200, host);
    }
  });
});

describe('browser guard with credentials', () => {
  test('is off: SigV4 decides (an unsigned request is refused for want of a signature, whatever its Host)', async () => {
    const s = await startTestServer({ credentials: [{ accessKeyId: 'AKIDGUARD', secretAccessKey: 'secret' }] });
    try {
      const r = await rawRequest(s.apiUrl, 'POST', '/', '{}', { ...CLOUD_MAP('ListNamespaces'), Host: 'pharos.example' });
      assert.equal((r.json as { __type: string }).__type, 'MissingAuthenticationTokenException');
    } finally {
      await s.destroy();
    }
  });
});
