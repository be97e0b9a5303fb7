/**
 * Route 53 through `@aws-sdk/client-route-53`, every operation: the hosted zone behind each DNS
 * namespace, its record sets (Cloud Map's and users'), paging, changes and their refusals, errors
 * and SigV4. DNS agreement is checked with `dig` in route53-cli.test.ts.
 */
import { Route53, type ResourceRecordSet } from '@aws-sdk/client-route-53';
import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { DUMMY_CREDENTIALS, httpNamespace, privateNamespace, register, startTestServer, waitOp, type TestServer } from './helpers.ts';
import { eventually } from '../src/lib/index.ts';

function r53Client(endpoint: string, credentials = DUMMY_CREDENTIALS, region = 'eu-west-1'): Route53 {
  // One attempt: a 5xx must fail the test, not be retried into a pass.
  return new Route53({ endpoint, region, credentials, maxAttempts: 1 });
}

/** Runs `fn`, expects a modeled error `name` with HTTP `status`; returns it. */
async function fails(fn: () => Promise<unknown>, name: string, status: number, message?: RegExp): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    assert.equal(e.name, name, `expected ${name}, got ${e.name}: ${e.message}`);
    assert.equal((e['$metadata'] as { httpStatusCode?: number }).httpStatusCode, status);
    if (message) assert.match(e.message, message);
    return e;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
}

const bare = (id: string | undefined) => id!.replace(/^\/hostedzone\//, '');

describe('Route 53 (SDK v3)', () => {
  let s: TestServer;
  let r53: Route53;
  let privId = '';
  let pubId = '';
  let webId = '';
  let zone = '';
  let pubZone = '';

  before(async () => {
    s = await startTestServer();
    r53 = r53Client(s.apiUrl);
    privId = await privateNamespace(s.sd, 'r53.local', 'vpc-0abc');
    const op = await s.sd.createPublicDnsNamespace({ Name: 'pub.example', Properties: { DnsProperties: { SOA: { TTL: 120 } } } });
    pubId = (await waitOp(s.sd, op.OperationId)).Targets!['NAMESPACE']!;
    await httpNamespace(s.sd, 'r53http');
    webId = (
      await s.sd.createService({
        Name: 'web',
        NamespaceId: privId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 60 }, { Type: 'SRV', TTL: 30 }] },
        HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/', FailureThreshold: 1 },
      })
    ).Service!.Id!;
    const api = (await s.sd.createService({ Name: 'api', NamespaceId: privId, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'A', TTL: 10 }] } })).Service!.Id!;
    await register(s.sd, webId, 'web-1', { AWS_INSTANCE_IPV4: '198.18.130.1', AWS_INSTANCE_PORT: '8080' });
    await register(s.sd, webId, 'web-2', { AWS_INSTANCE_IPV4: '198.18.130.2', AWS_INSTANCE_PORT: '8081' });
    await register(s.sd, api, 'api-1', { AWS_INSTANCE_IPV4: '198.18.130.5' });
    zone = (await s.sd.getNamespace({ Id: privId })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
    pubZone = (await s.sd.getNamespace({ Id: pubId })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
  });
  after(async () => {
    r53.destroy();
    await s.destroy();
  });

  test("GetHostedZone: the namespace's HostedZoneId, with what Cloud Map gives its zone", async () => {
    const ns = (await s.sd.getNamespace({ Id: privId })).Namespace!;
    const got = await r53.getHostedZone({ Id: zone });
    const hz = got.HostedZone!;
    assert.equal(hz.Id, `/hostedzone/${zone}`);
    assert.equal(hz.Name, 'r53.local.');
    assert.deepEqual(hz.Config, { Comment: `Created by AWS Cloud Map namespace with ARN ${ns.Arn}`, PrivateZone: true });
    assert.deepEqual(hz.LinkedService, { ServicePrincipal: 'servicediscovery.amazonaws.com', Description: ns.Arn });
    assert.match(hz.CallerReference!, /^[0-9a-f]{32}-[0-9a-f]{8}$/);
    assert.deepEqual(got.VPCs, [{ VPCRegion: 'us-east-1', VPCId: 'vpc-0abc' }]);
    const sets = (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!;
    assert.equal(hz.ResourceRecordSetCount, sets.length);

    const pub = await r53.getHostedZone({ Id: `/hostedzone/${pubZone}` }); // the SDK strips the prefix
    assert.equal(pub.HostedZone!.Config!.PrivateZone, false);
    assert.deepEqual(pub.DelegationSet!.NameServers, ['ns.dns.pub.example']);
    assert.equal(pub.HostedZone!.ResourceRecordSetCount, 3, 'an empty zone: SOA, NS and the name server address');

    await fails(() => r53.getHostedZone({ Id: 'ZNOSUCHZONE1' }), 'NoSuchHostedZone', 404, /No hosted zone found with ID: ZNOSUCHZONE1/);
    await fails(() => r53.getHostedZone({ Id: 'not-a-zone' }), 'NoSuchHostedZone', 404);
  });

  test('ListHostedZones: DNS namespaces only, paged by marker, filtered by type', async () => {
    const all = await r53.listHostedZones({});
    assert.deepEqual(all.HostedZones!.map((z) => bare(z.Id)).sort(), [zone, pubZone].sort());
    assert.equal(all.IsTruncated, false);
    assert.equal(Number(all.MaxItems), 100);
    const first = await r53.listHostedZones({ MaxItems: 1 });
    assert.equal(first.IsTruncated, true);
    const second = await r53.listHostedZones({ MaxItems: 1, Marker: first.NextMarker });
    assert.equal(second.IsTruncated, false);
    assert.deepEqual([...first.HostedZones!, ...second.HostedZones!].map((z) => z.Id), all.HostedZones!.map((z) => z.Id));
    const priv = await r53.listHostedZones({ HostedZoneType: 'PrivateHostedZone' });
    assert.deepEqual(priv.HostedZones!.map((z) => bare(z.Id)), [zone]);
    await fails(() => r53.listHostedZones({ MaxItems: 0 }), 'InvalidInput', 400);
    await fails(() => r53.listHostedZones({ DelegationSetId: 'N123' }), 'InvalidInput', 400);
  });

  test('ListHostedZonesByName: ordered by reversed labels, paged by name and id', async () => {
    const all = await r53.listHostedZonesByName({});
    assert.deepEqual(all.HostedZones!.map((z) => z.Name), ['pub.example.', 'r53.local.']);
    const first = await r53.listHostedZonesByName({ MaxItems: 1 });
    assert.equal(first.IsTruncated, true);
    assert.equal(first.NextDNSName, 'r53.local.');
    assert.equal(first.NextHostedZoneId, zone);
    const next = await r53.listHostedZonesByName({ DNSName: first.NextDNSName, HostedZoneId: first.NextHostedZoneId });
    assert.deepEqual(next.HostedZones!.map((z) => z.Name), ['r53.local.']);
    assert.equal(next.DNSName, 'r53.local.');
    const from = await r53.listHostedZonesByName({ DNSName: 'q.local' });
    assert.deepEqual(from.HostedZones!.map((z) => z.Name), ['r53.local.']);
    await fails(() => r53.listHostedZonesByName({ DNSName: 'bad name!' }), 'InvalidDomainName', 400);
    // A name with escapes, as NextDNSName writes one of a zone named `q@.local` (it was refused).
    assert.deepEqual((await r53.listHostedZonesByName({ DNSName: 'q\\100.local.' })).HostedZones!.map((z) => z.Name), ['r53.local.']);
    await fails(() => r53.listHostedZonesByName({ HostedZoneId: zone }), 'InvalidInput', 400);
  });

  test('GetHostedZoneCount', async () => {
    assert.equal((await r53.getHostedZoneCount({})).HostedZoneCount, 2);
  });

  test("ListResourceRecordSets: exactly what DNS serves for Cloud Map's records, in Route 53's order", async () => {
    const sets = (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!;
    const hc = (id: string) => sets.find((x) => x.SetIdentifier === id && x.Type === 'A')!.HealthCheckId;
    assert.match(hc('web-1')!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const expected: ResourceRecordSet[] = [
      { Name: 'r53.local.', Type: 'NS', TTL: 900, ResourceRecords: [{ Value: 'ns.dns.r53.local.' }] },
      { Name: 'r53.local.', Type: 'SOA', TTL: 900, ResourceRecords: [{ Value: 'ns.dns.r53.local. hostmaster.r53.local. 1 7200 900 1209600 900' }] },
      { Name: 'api.r53.local.', Type: 'A', SetIdentifier: 'api-1', Weight: 1, TTL: 10, ResourceRecords: [{ Value: '198.18.130.5' }] },
      { Name: 'api-1.api.r53.local.', Type: 'A', TTL: 10, ResourceRecords: [{ Value: '198.18.130.5' }] },
      { Name: 'ns.dns.r53.local.', Type: 'A', TTL: 900, ResourceRecords: [{ Value: '127.0.0.1' }] },
      { Name: 'web.r53.local.', Type: 'A', SetIdentifier: 'web-1', MultiValueAnswer: true, TTL: 60, ResourceRecords: [{ Value: '198.18.130.1' }], HealthCheckId: hc('web-1') },
      { Name: 'web.r53.local.', Type: 'A', SetIdentifier: 'web-2', MultiValueAnswer: true, TTL: 60, ResourceRecords: [{ Value: '198.18.130.2' }], HealthCheckId: hc('web-2') },
      { Name: 'web.r53.local.', Type: 'SRV', SetIdentifier: 'web-1', MultiValueAnswer: true, TTL: 30, ResourceRecords: [{ Value: '1 1 8080 web-1.web.r53.local' }], HealthCheckId: hc('web-1') },
      { Name: 'web.r53.local.', Type: 'SRV', SetIdentifier: 'web-2', MultiValueAnswer: true, TTL: 30, ResourceRecords: [{ Value: '1 1 8081 web-2.web.r53.local' }], HealthCheckId: hc('web-2') },
      { Name: 'web-1.web.r53.local.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '198.18.130.1' }] },
      { Name: 'web-2.web.r53.local.', Type: 'A', TTL: 60, ResourceRecords: [{ Value: '198.18.130.2' }] },
    ];
    assert.deepEqual(sets, expected);
  });

  test('ListResourceRecordSets: pages of any size add up to the whole list; start at name, type, identifier', async () => {
    const all = (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!;
    const paged: ResourceRecordSet[] = [];
    let start: { StartRecordName?: string; StartRecordType?: 'A'; StartRecordIdentifier?: string } = {};
    for (let pages = 0; pages < 20; pages++) {
      const page = await r53.listResourceRecordSets({ HostedZoneId: zone, MaxItems: 2, ...start });
      assert.equal(Number(page.MaxItems), 2);
      paged.push(...page.ResourceRecordSets!);
      if (!page.IsTruncated) break;
      start = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType as 'A', StartRecordIdentifier: page.NextRecordIdentifier };
    }
    assert.deepEqual(paged, all);
    // Names with escapes (an instance id with ':' is listed as `x\0721.api...`) page on too: the
    // NextRecordName the listing gives is taken back (it was refused as an invalid name).
    const api = (await s.sd.listServices({})).Services!.find((x) => x.Name === 'api')!.Id!;
    await register(s.sd, api, 'x:1', { AWS_INSTANCE_IPV4: '198.18.130.6' });
    const withEscapes = (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!;
    assert.ok(withEscapes.some((r) => r.Name === 'x\\0721.api.r53.local.'), 'the escaped host name is listed');
    const single: ResourceRecordSet[] = [];
    for (let next: typeof start = {}, pages = 0; pages < 40; pages++) {
      const page = await r53.listResourceRecordSets({ HostedZoneId: zone, MaxItems: 1, ...next });
      single.push(...page.ResourceRecordSets!);
      if (!page.IsTruncated) break;
      next = { StartRecordName: page.NextRecordName, StartRecordType: page.NextRecordType as 'A', StartRecordIdentifier: page.NextRecordIdentifier };
    }
    assert.deepEqual(single, withEscapes);
    await s.sd.deregisterInstance({ ServiceId: api, InstanceId: 'x:1' });
    await eventually(async () => (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!.length === all.length);
    const fromWeb2 = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'web.r53.local', StartRecordType: 'A', StartRecordIdentifier: 'web-2', MaxItems: 1 });
    assert.equal(fromWeb2.ResourceRecordSets![0]!.SetIdentifier, 'web-2');
    assert.equal(fromWeb2.NextRecordType, 'SRV');
    assert.equal(fromWeb2.NextRecordIdentifier, 'web-1');
    await fails(() => r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordType: 'A' }), 'InvalidInput', 400, /name/);
    await fails(() => r53.listResourceRecordSets({ HostedZoneId: 'ZMISSING' }), 'NoSuchHostedZone', 404);
  });

  test('ChangeResourceRecordSets: simple, weighted and multivalue sets of every type, listed and served, INSYNC', async () => {
    const changes = [
      set('db.r53.local', 'A', ['198.18.130.20', '198.18.130.21']),
      set('db.r53.local', 'AAAA', ['2001:db8::20']),
      set('r53.local', 'TXT', ['"v=spf1 -all"', '"two" "strings"']),
      set('r53.local', 'MX', ['10 mail.r53.local']),
      set('r53.local', 'CAA', ['0 issue "letsencrypt.org"']),
      set('_sip._tcp.r53.local', 'SRV', ['5 10 5060 sip.r53.local']),
      set('20.130.18.198.r53.local', 'PTR', ['db.r53.local']),
      set('www.r53.local', 'CNAME', ['web.r53.local']),
      { ...set('w.r53.local', 'A', ['198.18.130.31']), SetIdentifier: 'one', Weight: 3 },
      { ...set('w.r53.local', 'A', ['198.18.130.32']), SetIdentifier: 'two', Weight: 1 },
      { ...set('m.r53.local', 'A', ['198.18.130.41']), SetIdentifier: 'm1', MultiValueAnswer: true },
      { ...set('m.r53.local', 'A', ['198.18.130.42']), SetIdentifier: 'm2', MultiValueAnswer: true },
    ];
    const out = await r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Comment: 'mine', Changes: changes.map((c) => ({ Action: 'CREATE', ResourceRecordSet: c })) } });
    assert.equal(out.ChangeInfo!.Status, 'INSYNC');
    assert.match(out.ChangeInfo!.Id!, /^\/change\/C[A-Z0-9]+$/);
    assert.equal(out.ChangeInfo!.Comment, 'mine');
    assert.ok(out.ChangeInfo!.SubmittedAt instanceof Date);
    const change = await r53.getChange({ Id: out.ChangeInfo!.Id });
    assert.deepEqual(change.ChangeInfo, out.ChangeInfo);
    await fails(() => r53.getChange({ Id: 'CNOSUCHCHANGE' }), 'NoSuchChange', 404);

    const listed = (await r53.listResourceRecordSets({ HostedZoneId: zone })).ResourceRecordSets!;
    for (const c of changes) {
      const found = listed.find((x) => x.Name === `${c.Name}.` && x.Type === c.Type && x.SetIdentifier === (c as { SetIdentifier?: string }).SetIdentifier);
      assert.ok(found, `${c.Name} ${c.Type} is listed`);
      assert.deepEqual(found.ResourceRecords, c.ResourceRecords);
    }
    assert.equal((await r53.getHostedZone({ Id: zone })).HostedZone!.ResourceRecordSetCount, listed.length);

    // Served at once (the answer is INSYNC only once DNS has it): node's resolver (c-ares).
    const dns = new Resolver();
    dns.setServers([s.dnsAddress!]);
    assert.deepEqual((await dns.resolve4('db.r53.local')).sort(), ['198.18.130.20', '198.18.130.21']);
    assert.deepEqual(await dns.resolve6('db.r53.local'), ['2001:db8::20']);
    assert.deepEqual((await dns.resolveTxt('r53.local')).map((t) => t.join('|')).sort(), ['two|strings', 'v=spf1 -all']);
    assert.deepEqual(await dns.resolveMx('r53.local'), [{ priority: 10, exchange: 'mail.r53.local' }]);
    assert.deepEqual(await dns.resolveSrv('_sip._tcp.r53.local'), [{ priority: 5, weight: 10, port: 5060, name: 'sip.r53.local' }]);
    assert.deepEqual(await dns.resolveCname('www.r53.local'), ['web.r53.local']);
    assert.deepEqual(await dns.resolvePtr('20.130.18.198.r53.local'), ['db.r53.local']);
    assert.deepEqual((await dns.resolveCaa('r53.local')).map((c) => c['issue']), ['letsencrypt.org']);
    assert.deepEqual((await dns.resolve4('m.r53.local')).sort(), ['198.18.130.41', '198.18.130.42']);
    const weighted = new Map<string, number>();
    for (let i = 0; i < 200; i++) for (const a of await dns.resolve4('w.r53.local')) weighted.set(a, (weighted.get(a) ?? 0) + 1);
    assert.deepEqual([...weighted.keys()].sort(), ['198.18.130.31', '198.18.130.32'], 'weighted: one set per answer, both served');
    assert.ok(weighted.get('198.18.130.31')! > weighted.get('198.18.130.32')!, `weight 3 answers more often than weight 1: ${JSON.stringify([...weighted])}`);
  });

  test('UPSERT replaces, DELETE needs the exact set, DELETE then CREATE in one batch replaces', async () => {
    const before = set('up.r53.local', 'A', ['198.18.130.50']);
    await change('UPSERT', before);
    await change('UPSERT', set('up.r53.local', 'A', ['198.18.130.51'], 120));
    let listed = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'up.r53.local', StartRecordType: 'A', MaxItems: 1 });
    assert.deepEqual(listed.ResourceRecordSets![0], { Name: 'up.r53.local.', Type: 'A', TTL: 120, ResourceRecords: [{ Value: '198.18.130.51' }] });
    await fails(() => change('DELETE', before), 'InvalidChangeBatch', 400, /do not match the current values/);
    await r53.changeResourceRecordSets({
      HostedZoneId: zone,
      ChangeBatch: { Changes: [{ Action: 'DELETE', ResourceRecordSet: set('up.r53.local', 'A', ['198.18.130.51'], 120) }, { Action: 'CREATE', ResourceRecordSet: set('up.r53.local', 'A', ['198.18.130.52']) }] },
    });
    listed = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'up.r53.local', StartRecordType: 'A', MaxItems: 1 });
    assert.deepEqual(listed.ResourceRecordSets![0]!.ResourceRecords, [{ Value: '198.18.130.52' }]);
    await change('DELETE', set('up.r53.local', 'A', ['198.18.130.52']));
    // A batch that undoes itself changes nothing, and is INSYNC at once.
    const noop = await r53.changeResourceRecordSets({
      HostedZoneId: zone,
      ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: set('up.r53.local', 'A', ['198.18.130.53']) }, { Action: 'DELETE', ResourceRecordSet: set('up.r53.local', 'A', ['198.18.130.53']) }] },
    });
    assert.equal((await r53.getChange({ Id: noop.ChangeInfo!.Id })).ChangeInfo!.Status, 'INSYNC');
    listed = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'up.r53.local', StartRecordType: 'A', MaxItems: 1 });
    assert.notEqual(listed.ResourceRecordSets![0]?.Name, 'up.r53.local.');
  });

  test('a batch applies whole or not at all, with one message per refused change', async () => {
    const good = set('atomic.r53.local', 'A', ['198.18.130.60']);
    const e = await fails(
      () =>
        r53.changeResourceRecordSets({
          HostedZoneId: zone,
          ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: good }, { Action: 'CREATE', ResourceRecordSet: set('db.r53.local', 'A', ['198.18.130.20', '198.18.130.21']) }, { Action: 'DELETE', ResourceRecordSet: set('gone.r53.local', 'A', ['198.18.130.1']) }] },
        }),
      'InvalidChangeBatch',
      400,
    );
    // The message lists them all (the <Messages> list carries them one by one: route53-cli.test.ts reads it raw).
    assert.equal(
      e.message,
      "[Tried to create resource record set [name='db.r53.local.', type='A'] but it already exists, Tried to delete resource record set [name='gone.r53.local.', type='A'] but it was not found]",
    );
    const listed = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'atomic.r53.local', MaxItems: 1 });
    assert.notEqual(listed.ResourceRecordSets![0]?.Name, 'atomic.r53.local.', 'the good change was not applied');
    // One batch is one store transaction, within the store's limit.
    const many = Array.from({ length: 128 }, (_, i) => ({ Action: 'CREATE' as const, ResourceRecordSet: set(`bulk${i}.r53.local`, 'A', ['198.18.130.90']) }));
    await fails(() => r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Changes: many } }), 'InvalidChangeBatch', 400, /at most 127 in one batch/);
    await r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Changes: many.slice(0, 127) } });
    await r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Changes: many.slice(0, 127).map((c) => ({ ...c, Action: 'DELETE' as const })) } });
  });

  test("changes to Cloud Map's record sets are refused, naming the instance that owns them", async () => {
    const cases: [ResourceRecordSet, RegExp][] = [
      [{ ...set('web.r53.local', 'A', ['198.18.130.9']), SetIdentifier: 'web-1', MultiValueAnswer: true }, /managed by AWS Cloud Map \(record sets of service web \(srv-[a-z0-9]+\) owned by instance web-1\)/],
      [set('web.r53.local', 'TXT', ['"x"']), /owned by instances web-1, web-2/],
      [set('web-2.web.r53.local', 'A', ['198.18.130.9']), /host name of instance web-2 of service web/],
      [set('ns.dns.r53.local', 'A', ['198.18.130.9']), /name server host name, managed by Pharos/],
      [set('r53.local', 'NS', ['ns.example.']), /SOA and NS record sets are managed by Pharos/],
    ];
    for (const [rrset, message] of cases) await fails(() => change('UPSERT', rrset), 'InvalidChangeBatch', 400, message);
  });

  test('InvalidChangeBatch and InvalidInput for what Route 53 refuses, table-driven', async () => {
    const cases: [string, ResourceRecordSet, RegExp][] = [
      ['outside the zone', set('db.other.local', 'A', ['198.18.130.1']), /is not permitted in zone r53.local./],
      ['bad IPv4', set('x.r53.local', 'A', ['198.18.130']), /not a valid IPv4 address/],
      ['bad IPv6', set('x.r53.local', 'AAAA', ['2001:db8::g']), /not a valid IPv6 address/],
      ['bad MX', set('x.r53.local', 'MX', ['mail.r53.local']), /MX value must be/],
      ['bad SRV', set('x.r53.local', 'SRV', ['1 2 70000 t.r53.local']), /SRV value must be/],
      ['unterminated TXT', set('x.r53.local', 'TXT', ['"abc']), /unterminated string/],
      ['CNAME at apex', set('r53.local', 'CNAME', ['web.r53.local']), /not permitted at apex/],
      ['CNAME beside data', set('db.r53.local', 'CNAME', ['web.r53.local']), /conflicts with other records/],
      ['two CNAME values', set('c2.r53.local', 'CNAME', ['a.r53.local', 'b.r53.local']), /more than one value/],
      ['unsupported type', set('x.r53.local', 'NAPTR', ['1 1 "u" "" "" .']), /type "NAPTR" is not supported/],
      ['wildcard', set('*.r53.local', 'A', ['198.18.130.1']), /wildcard names are not served/],
      ['weight without identifier', { ...set('x.r53.local', 'A', ['198.18.130.1']), Weight: 1 }, /need a SetIdentifier/],
      ['identifier without policy', { ...set('x.r53.local', 'A', ['198.18.130.1']), SetIdentifier: 'a' }, /exactly one of Weight or MultiValueAnswer/],
      ['weight out of range', { ...set('x.r53.local', 'A', ['198.18.130.1']), SetIdentifier: 'a', Weight: 256 }, /Weight must be/],
      ['simple beside weighted', set('w.r53.local', 'A', ['198.18.130.1']), /other RRSets exist with the same name and type/],
      ['multivalue beside weighted', { ...set('w.r53.local', 'A', ['198.18.130.1']), SetIdentifier: 'three', MultiValueAnswer: true }, /non-multivalue RRSet exists/],
      ['no TTL', { Name: 'x.r53.local', Type: 'A', ResourceRecords: [{ Value: '198.18.130.1' }] }, /Expected TTL and ResourceRecords/],
      ['alias', { Name: 'x.r53.local', Type: 'A', AliasTarget: { HostedZoneId: zone, DNSName: 'web.r53.local', EvaluateTargetHealth: false } }, /AliasTarget not supported/],
      ['health check', { ...set('x.r53.local', 'A', ['198.18.130.1']), HealthCheckId: 'abc' }, /HealthCheckId not supported/],
    ];
    for (const [what, rrset, message] of cases) {
      await fails(() => change('CREATE', rrset), 'InvalidChangeBatch', 400, message).catch((err: Error) => {
        throw new Error(`${what}: ${err.message}`);
      });
    }
    // Route 53's size limits: a value of at most 4000 characters, at most 1000 values and 32,000
    // value characters a batch (before, a 385 KB batch went in and DNS answered it with TC and nothing).
    const txt = (n: number) => `"${'a'.repeat(250)}" `.repeat(n).trim();
    await fails(() => change('CREATE', set('big.r53.local', 'TXT', [txt(16)])), 'InvalidChangeBatch', 400, /longer than 4000 characters/);
    await fails(() => change('CREATE', set('big.r53.local', 'TXT', Array.from({ length: 45 }, (_, i) => `${txt(3)} "${i}"`))), 'InvalidChangeBatch', 400, /more than the limit of 32000/);
    const values = Array.from({ length: 5 }, (_, k) => ({ Action: 'CREATE' as const, ResourceRecordSet: set(`m${k}.r53.local`, 'A', Array.from({ length: k < 4 ? 250 : 1 }, (_, i) => `198.18.${130 + k}.${i}`)) }));
    await fails(() => r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Changes: values } }), 'InvalidChangeBatch', 400, /limit of 1000 exceeded/);
    await fails(() => r53.changeResourceRecordSets({ HostedZoneId: 'ZMISSING', ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: set('a.b', 'A', ['1.2.3.4']) }] } }), 'NoSuchHostedZone', 404);
  });

  test("deleting a namespace deletes the record sets users put in its zone", async () => {
    const id = await privateNamespace(s.sd, 'short.local');
    const z = (await s.sd.getNamespace({ Id: id })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
    await r53.changeResourceRecordSets({ HostedZoneId: z, ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: set('a.short.local', 'A', ['198.18.130.70']) }] } });
    await waitOp(s.sd, (await s.sd.deleteNamespace({ Id: id })).OperationId);
    await fails(() => r53.getHostedZone({ Id: z }), 'NoSuchHostedZone', 404);
    const again = await privateNamespace(s.sd, 'short.local');
    const z2 = (await s.sd.getNamespace({ Id: again })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
    assert.equal((await r53.getHostedZone({ Id: z2 })).HostedZone!.ResourceRecordSetCount, 3);
  });

  function set(name: string, type: string, values: string[], ttl = 60): ResourceRecordSet {
    return { Name: name, Type: type as 'A', TTL: ttl, ResourceRecords: values.map((Value) => ({ Value })) };
  }

  function change(action: 'CREATE' | 'UPSERT' | 'DELETE', rrset: ResourceRecordSet) {
    return r53.changeResourceRecordSets({ HostedZoneId: zone, ChangeBatch: { Changes: [{ Action: action, ResourceRecordSet: rrset }] } });
  }
});

describe('Route 53 with --credentials (SigV4, service route53, any region)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ credentials: [DUMMY_CREDENTIALS] });
  });
  after(() => s.destroy());

  test('signed requests pass in any region; a wrong secret or no signature gets the XML error', async () => {
    for (const region of ['us-east-1', 'ap-south-1']) {
      const ok = r53Client(s.apiUrl, DUMMY_CREDENTIALS, region);
      assert.equal((await ok.getHostedZoneCount({})).HostedZoneCount, 0);
      ok.destroy();
    }
    const bad = r53Client(s.apiUrl, { ...DUMMY_CREDENTIALS, secretAccessKey: 'wrong' });
    await fails(() => bad.getHostedZoneCount({}), 'SignatureDoesNotMatch', 403);
    bad.destroy();
    const stranger = r53Client(s.apiUrl, { accessKeyId: 'someone', secretAccessKey: 'x' });
    await fails(() => stranger.listHostedZones({}), 'InvalidClientTokenId', 403);
    stranger.destroy();
    const res = await fetch(`${s.apiUrl}/2013-04-01/hostedzonecount`);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /<Code>MissingAuthenticationToken<\/Code>/);
  });
});
