/**
 * Route 53 with the AWS CLI (every operation, its paginator, its waiter, its errors) and `dig`:
 * every record set `list-resource-record-sets` shows is what DNS answers, Cloud Map's and users'
 * alike, so the two never disagree. Also the raw XML error body.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_SERVICE_ERROR, haveCommand, privateNamespace, rawRequest, register, requireOrSkip, runChild, startTestServer, tempDir, type TestServer } from './helpers.ts';

const run = (command: string, args: string[], env: Record<string, string> = {}) => runChild(command, args, { env: { ...process.env, ...env } });

interface ListedSet {
  Name: string;
  Type: string;
  SetIdentifier?: string;
  Weight?: number;
  MultiValueAnswer?: boolean;
  TTL: number;
  ResourceRecords: { Value: string }[];
}

/** Record data as dig prints it: names in values absolute, lowercase, whitespace collapsed. */
function normalize(type: string, value: string): string {
  const v = value.trim().replace(/\s+/g, ' ');
  const absolute = (name: string) => (name.endsWith('.') ? name : name + '.').toLowerCase();
  const parts = v.split(' ');
  switch (type) {
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return absolute(v);
    case 'MX':
      return `${parts[0]} ${absolute(parts[1]!)}`;
    case 'SRV':
      return `${parts.slice(0, 3).join(' ')} ${absolute(parts[3]!)}`;
    case 'AAAA':
      return v.toLowerCase();
    default:
      return v;
  }
}

describe('Route 53 with the AWS CLI, and dig agreeing with it', { skip: requireOrSkip(haveCommand('aws'), 'the AWS CLI (aws)') }, () => {
  let s: TestServer;
  let zone = '';
  let home = '';
  let env: Record<string, string> = {};
  const hasDig = haveCommand('dig');

  const r53 = (args: string[]) => run('aws', ['--endpoint-url', s.apiUrl, '--output', 'json', 'route53', ...args], env);
  const json = async (args: string[]) => {
    const r = await r53(args);
    assert.equal(r.code, 0, `aws route53 ${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  before(async () => {
    s = await startTestServer();
    home = tempDir('pharos-r53cli-');
    // A clean CLI: no user config, credentials and region from the environment.
    env = {
      HOME: home,
      AWS_CONFIG_FILE: join(home, 'config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials'),
      AWS_ACCESS_KEY_ID: 'pharos',
      AWS_SECRET_ACCESS_KEY: 'pharos',
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_PAGER: '',
    };
    const ns = await privateNamespace(s.sd, 'cli.local');
    const web = (
      await s.sd.createService({
        Name: 'web',
        NamespaceId: ns,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 60 }, { Type: 'AAAA', TTL: 60 }, { Type: 'SRV', TTL: 20 }] },
      })
    ).Service!.Id!;
    const legacy = (await s.sd.createService({ Name: 'legacy', NamespaceId: ns, DnsConfig: { RoutingPolicy: 'WEIGHTED', DnsRecords: [{ Type: 'CNAME', TTL: 30 }] } })).Service!.Id!;
    await register(s.sd, web, 'web-1', { AWS_INSTANCE_IPV4: '198.18.130.11', AWS_INSTANCE_IPV6: '2001:db8::11', AWS_INSTANCE_PORT: '8080' });
    await register(s.sd, web, 'web-2', { AWS_INSTANCE_IPV4: '198.18.130.12', AWS_INSTANCE_IPV6: '2001:db8::12', AWS_INSTANCE_PORT: '8081' });
    await register(s.sd, legacy, 'old', { AWS_INSTANCE_CNAME: 'legacy.example.com' });
    zone = (await s.sd.getNamespace({ Id: ns })).Namespace!.Properties!.DnsProperties!.HostedZoneId!;
  });
  after(async () => {
    await s.destroy();
    rmSync(home, { recursive: true, force: true });
  });

  test('list-hosted-zones, get-hosted-zone (full id too), list-hosted-zones-by-name, get-hosted-zone-count', async () => {
    const zones = (await json(['list-hosted-zones']))['HostedZones'] as { Id: string; Name: string }[];
    assert.deepEqual(zones.map((z) => [z.Id, z.Name]), [[`/hostedzone/${zone}`, 'cli.local.']]);
    const got = await json(['get-hosted-zone', '--id', `/hostedzone/${zone}`]);
    assert.equal((got['HostedZone'] as { Name: string }).Name, 'cli.local.');
    const byName = await json(['list-hosted-zones-by-name', '--dns-name', 'cli.local']);
    assert.equal((byName['HostedZones'] as unknown[]).length, 1);
    assert.equal((await json(['get-hosted-zone-count']))['HostedZoneCount'], 1);
    const missing = await r53(['get-hosted-zone', '--id', 'ZDOESNOTEXIST']);
    assert.ok(CLI_SERVICE_ERROR.includes(missing.code!), `exit ${missing.code}`);
    assert.match(missing.stderr, /An error occurred \(NoSuchHostedZone\) when calling the GetHostedZone operation: No hosted zone found with ID: ZDOESNOTEXIST/);
  });

  test('change-resource-record-sets from a file, get-change, the waiter, and the paginator over small pages', async () => {
    const batch = join(home, 'batch.json');
    writeFileSync(
      batch,
      JSON.stringify({
        Comment: 'from the CLI',
        Changes: [
          { Action: 'CREATE', ResourceRecordSet: { Name: 'db.cli.local', Type: 'A', TTL: 45, ResourceRecords: [{ Value: '198.18.130.21' }, { Value: '198.18.130.22' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'cli.local', Type: 'TXT', TTL: 300, ResourceRecords: [{ Value: '"hello from" "the cli"' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'cli.local', Type: 'MX', TTL: 300, ResourceRecords: [{ Value: '10 mx.cli.local' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'cli.local', Type: 'CAA', TTL: 300, ResourceRecords: [{ Value: '0 issue "ca.example"' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: '_ldap._tcp.cli.local', Type: 'SRV', TTL: 60, ResourceRecords: [{ Value: '0 5 389 db.cli.local' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'docs.cli.local', Type: 'CNAME', TTL: 60, ResourceRecords: [{ Value: 'web.cli.local' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: '21.130.18.198.cli.local', Type: 'PTR', TTL: 60, ResourceRecords: [{ Value: 'db.cli.local' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'v6.cli.local', Type: 'AAAA', TTL: 60, ResourceRecords: [{ Value: '2001:db8::21' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'pool.cli.local', Type: 'A', SetIdentifier: 'p1', MultiValueAnswer: true, TTL: 15, ResourceRecords: [{ Value: '198.18.130.31' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'pool.cli.local', Type: 'A', SetIdentifier: 'p2', MultiValueAnswer: true, TTL: 15, ResourceRecords: [{ Value: '198.18.130.32' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'canary.cli.local', Type: 'A', SetIdentifier: 'main', Weight: 9, TTL: 15, ResourceRecords: [{ Value: '198.18.130.41' }] } },
          { Action: 'CREATE', ResourceRecordSet: { Name: 'canary.cli.local', Type: 'A', SetIdentifier: 'next', Weight: 1, TTL: 15, ResourceRecords: [{ Value: '198.18.130.42' }] } },
        ],
      }),
    );
    const out = await json(['change-resource-record-sets', '--hosted-zone-id', zone, '--change-batch', `file://${batch}`]);
    const info = out['ChangeInfo'] as { Id: string; Status: string; Comment: string };
    assert.equal(info.Status, 'INSYNC');
    assert.equal(info.Comment, 'from the CLI');
    const change = await json(['get-change', '--id', info.Id]);
    assert.equal((change['ChangeInfo'] as { Status: string }).Status, 'INSYNC');
    const waited = await r53(['wait', 'resource-record-sets-changed', '--id', info.Id]);
    assert.equal(waited.code, 0, waited.stderr);

    // --page-size reaches the wire as maxitems; the CLI follows NextRecordName/Type/Identifier.
    const whole = (await json(['list-resource-record-sets', '--hosted-zone-id', zone]))['ResourceRecordSets'] as ListedSet[];
    const paged = (await json(['list-resource-record-sets', '--hosted-zone-id', zone, '--page-size', '3']))['ResourceRecordSets'] as ListedSet[];
    assert.deepEqual(paged, whole);
    assert.ok(whole.length > 20, `${whole.length} record sets`);
    const refused = await r53(['change-resource-record-sets', '--hosted-zone-id', zone, '--change-batch', JSON.stringify({ Changes: [{ Action: 'DELETE', ResourceRecordSet: { Name: 'web.cli.local', Type: 'A', SetIdentifier: 'web-2', MultiValueAnswer: true, TTL: 60, ResourceRecords: [{ Value: '198.18.130.12' }] } }] })]);
    assert.ok(CLI_SERVICE_ERROR.includes(refused.code!));
    assert.match(refused.stderr, /\(InvalidChangeBatch\).*managed by AWS Cloud Map.*owned by instance web-2/);
  });

  test('dig answers exactly what list-resource-record-sets lists, for every record set', { skip: requireOrSkip(hasDig, 'dig (dnsutils)') }, async () => {
    const sets = (await json(['list-resource-record-sets', '--hosted-zone-id', zone]))['ResourceRecordSets'] as ListedSet[];
    const groups = new Map<string, ListedSet[]>();
    for (const set of sets) {
      const key = `${set.Name} ${set.Type}`;
      groups.set(key, [...(groups.get(key) ?? []), set]);
    }
    const [host, port] = [s.dnsAddress!.slice(0, s.dnsAddress!.lastIndexOf(':')), s.dnsAddress!.slice(s.dnsAddress!.lastIndexOf(':') + 1)];
    for (const [key, group] of groups) {
      const [name, type] = key.split(' ') as [string, string];
      const r = await run('dig', [`@${host}`, '-p', port, '+noall', '+answer', '+norecurse', name, type]);
      assert.equal(r.code, 0, r.stderr);
      const answers = r.stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => l.split(/\s+/))
        .map(([owner, ttl, , rtype, ...data]) => ({ owner: owner!, ttl: Number(ttl), type: rtype!, data: normalize(rtype!, data.join(' ')) }));
      const listed = group.flatMap((set) => set.ResourceRecords.map((r) => ({ ttl: set.TTL, data: normalize(type, r.Value) })));
      for (const a of answers) {
        assert.equal(a.owner, name, `${key}: owner`);
        assert.equal(a.type, type, `${key}: type`);
      }
      const got = answers.map((a) => `${a.ttl} ${a.data}`).sort();
      if (group[0]!.Weight !== undefined) {
        // Weighted: one set's records per answer, whichever set it is.
        const options = group.map((set) => set.ResourceRecords.map((r) => `${set.TTL} ${normalize(type, r.Value)}`).sort().join('|'));
        assert.ok(options.includes(got.join('|')), `${key}: dig ${JSON.stringify(got)} is one of ${JSON.stringify(options)}`);
      } else {
        assert.deepEqual(got, listed.map((l) => `${l.ttl} ${l.data}`).sort(), `${key}: dig and list-resource-record-sets agree`);
      }
    }
    assert.ok(groups.size > 15, `${groups.size} names and types compared`);
  });

  test("the raw error body is Route 53's XML, InvalidChangeBatch with one <Message> per refused change", async () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>' +
      '<Change><Action>CREATE</Action><ResourceRecordSet><Name>db.cli.local</Name><Type>A</Type><TTL>45</TTL><ResourceRecords><ResourceRecord><Value>198.18.130.21</Value></ResourceRecord><ResourceRecord><Value>198.18.130.22</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>' +
      '<Change><Action>CREATE</Action><ResourceRecordSet><Name>x.cli.local</Name><Type>A</Type><TTL>45</TTL><ResourceRecords><ResourceRecord><Value>1.2.3</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change>' +
      '</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>';
    const r = await rawRequest(s.apiUrl, 'POST', `/2013-04-01/hostedzone/${zone}/rrset/`, body, { 'Content-Type': 'text/xml' });
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'text/xml');
    assert.match(r.text, /^<\?xml version="1.0"\?>\n<ErrorResponse xmlns="https:\/\/route53.amazonaws.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>InvalidChangeBatch<\/Code>/);
    const messages = [...r.text.matchAll(/<Message>([^<]*)<\/Message>/g)].map((m) => m[1]);
    assert.equal(messages.length, 3, 'the joined message, then one per change');
    assert.match(messages[1]!, /already exists/);
    assert.match(messages[2]!, /not a valid IPv4 address/);
    assert.match(r.text, /<RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/);

    const cases: [string, string, string | undefined, number, string][] = [
      ['POST', `/2013-04-01/hostedzone/${zone}/rrset/`, '<not-closed>', 400, 'InvalidInput'],
      ['POST', `/2013-04-01/hostedzone/${zone}/rrset/`, '<!DOCTYPE x [<!ENTITY a "b">]><ChangeResourceRecordSetsRequest/>', 400, 'InvalidInput'],
      ['POST', `/2013-04-01/hostedzone/${zone}/rrset/`, '<Other/>', 400, 'InvalidInput'],
      // A lone surrogate would make a store key nothing can encode: refused as XML already.
      ['POST', `/2013-04-01/hostedzone/${zone}/rrset/`, '<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action><ResourceRecordSet><Name>s.cli.local</Name><Type>A</Type><SetIdentifier>&#xD800;</SetIdentifier><Weight>1</Weight><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>198.18.130.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>', 400, 'InvalidInput'],
      ['POST', `/2013-04-01/hostedzone/${zone}/rrset/`, '<ChangeResourceRecordSetsRequest><ChangeBatch><Changes/></ChangeBatch></ChangeResourceRecordSetsRequest>', 400, 'InvalidInput'],
      ['DELETE', `/2013-04-01/hostedzone/${zone}`, undefined, 400, 'InvalidInput'],
      ['GET', '/2013-04-01/healthcheck', undefined, 400, 'InvalidInput'],
      ['GET', '/2013-04-01/hostedzone?maxitems=abc', undefined, 400, 'InvalidInput'],
      ['GET', '/2013-04-01/change/%ZZ', undefined, 400, 'InvalidInput'],
    ];
    for (const [method, path, payload, status, code] of cases) {
      const res = await rawRequest(s.apiUrl, method, path, payload);
      assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
      assert.match(res.text, new RegExp(`<Code>${code}</Code>`), `${method} ${path}`);
    }
  });
});
