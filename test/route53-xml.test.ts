/**
 * ChangeResourceRecordSets bodies with a structure member given twice (two `<Name>`s, two
 * `<Comment>`s...) are refused with InvalidInput naming the element, and nothing of the batch is
 * applied: which of the two Route 53 would have used is a guess, and a guessed record name is a
 * wrong record. Lists (`<Changes>`, `<ResourceRecords>`) repeat their members and stay accepted. A
 * query parameter given twice is refused the same way, as are a listing's `type` outside Route 53's
 * enum and an `identifier` of a length Route 53 refuses. An error message that echoes a control
 * character stays well-formed XML.
 */
import { Route53 } from '@aws-sdk/client-route-53';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { child, parseXml } from '../src/api/xml.ts';
import { DUMMY_CREDENTIALS, privateNamespace, rawRequest, requireOrSkip, runChild, startTestServer, type TestServer } from './helpers.ts';

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;

const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const rr = (value: string, extra = '') => `<ResourceRecord><Value>${value}</Value>${extra}</ResourceRecord>`;
const set = (inner: string) => `<ResourceRecordSet>${inner}</ResourceRecordSet>`;
const change = (inner: string, action = '<Action>CREATE</Action>') => `<Change>${action}${inner}</Change>`;
const batch = (changes: string, extra = '') => `<?xml version="1.0"?><ChangeResourceRecordSetsRequest xmlns="${XMLNS}"><ChangeBatch>${extra}<Changes>${changes}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`;
const a = (name: string, more = '') => set(`<Name>${name}</Name><Type>A</Type><TTL>60</TTL>${more}<ResourceRecords>${rr('198.18.0.1')}</ResourceRecords>`);

/** [what is doubled, body, where the message says it is] */
const DOUBLED: [string, string, string][] = [
  ['Name', batch(change(set(`<Name>one.xml.local</Name><Name>two.xml.local</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>${rr('198.18.0.1')}</ResourceRecords>`))), 'ChangeBatch.Changes[0].ResourceRecordSet'],
  ['Type', batch(change(set(`<Name>t.xml.local</Name><Type>A</Type><Type>TXT</Type><TTL>60</TTL><ResourceRecords>${rr('198.18.0.1')}</ResourceRecords>`))), 'ChangeBatch.Changes[0].ResourceRecordSet'],
  ['TTL', batch(change(a('ttl.xml.local', '<TTL>5</TTL>'))), 'ChangeBatch.Changes[0].ResourceRecordSet'],
  ['ResourceRecords', batch(change(a('rrs.xml.local', `<ResourceRecords>${rr('198.18.0.2')}</ResourceRecords>`))), 'ChangeBatch.Changes[0].ResourceRecordSet'],
  ['Value', batch(change(set(`<Name>v.xml.local</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>${rr('198.18.0.1', '<Value>198.18.0.2</Value>')}</ResourceRecords>`))), 'ChangeBatch.Changes[0].ResourceRecordSet.ResourceRecords[0]'],
  ['Action', batch(change(a('act.xml.local'), '<Action>CREATE</Action><Action>DELETE</Action>')), 'ChangeBatch.Changes[0]'],
  ['ResourceRecordSet', batch(change(a('s1.xml.local') + a('s2.xml.local'))), 'ChangeBatch.Changes[0]'],
  ['Comment', batch(change(a('c.xml.local')), '<Comment>one</Comment><Comment>two</Comment>'), 'ChangeBatch'],
  ['Changes', batch(change(a('ch1.xml.local')) + `</Changes><Changes>${change(a('ch2.xml.local'))}`), 'ChangeBatch'],
  ['ChangeBatch', `<ChangeResourceRecordSetsRequest xmlns="${XMLNS}"><ChangeBatch><Changes>${change(a('b1.xml.local'))}</Changes></ChangeBatch><ChangeBatch><Changes>${change(a('b2.xml.local'))}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`, 'ChangeResourceRecordSetsRequest'],
  // The second of two changes is the bad one: the first must not be applied either.
  ['Name (second change)', batch(change(a('first.xml.local')) + change(set(`<Name>x.xml.local</Name><Name>y.xml.local</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>${rr('198.18.0.1')}</ResourceRecords>`))), 'ChangeBatch.Changes[1].ResourceRecordSet'],
];

describe("Route 53 XML: malformed input and what the answers echo of it", () => {
  let s: TestServer;
  let r53: Route53;
  let zone = '';

  before(async () => {
    s = await startTestServer();
    r53 = new Route53({ endpoint: s.apiUrl, region: 'us-east-1', credentials: DUMMY_CREDENTIALS, maxAttempts: 1 });
    await privateNamespace(s.sd, 'xml.local');
    const { HostedZones } = await r53.listHostedZones({});
    zone = HostedZones![0]!.Id!.replace('/hostedzone/', '');
  });

  after(async () => {
    r53?.destroy();
    await s?.destroy();
  });

  const post = (body: string) => rawRequest(s.apiUrl, 'POST', `/2013-04-01/hostedzone/${zone}/rrset/`, body, { 'Content-Type': 'text/xml' });

  for (const [what, body, where] of DOUBLED) {
    test(`two <${what.split(' ')[0]}>: InvalidInput, naming it and where`, async () => {
      const res = await post(body);
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, /<Code>InvalidInput<\/Code>/);
      const element = what.split(' ')[0]!;
      assert.ok(res.text.includes(`&lt;${element}&gt; appears more than once in ${where}`), res.text);
    });
  }

  test("nothing of a refused batch was applied (the SDK lists only the zone's own records)", async () => {
    const { ResourceRecordSets } = await r53.listResourceRecordSets({ HostedZoneId: zone });
    assert.deepEqual(ResourceRecordSets!.map((r) => `${r.Name} ${r.Type}`).sort(), ['ns.dns.xml.local. A', 'xml.local. NS', 'xml.local. SOA']);
  });

  test('lists repeat their members: two <Change>s with two <ResourceRecord>s each are accepted', async () => {
    const two = (name: string) => set(`<Name>${name}</Name><Type>A</Type><TTL>60</TTL><ResourceRecords>${rr('198.18.0.1')}${rr('198.18.0.2')}</ResourceRecords>`);
    const res = await post(batch(change(two('l1.xml.local')) + change(two('l2.xml.local')), '<Comment>ok</Comment>'));
    assert.equal(res.status, 200, res.text);
    const { ResourceRecordSets } = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'l1.xml.local', StartRecordType: 'A', MaxItems: 2 });
    assert.deepEqual(ResourceRecordSets!.map((r) => [r.Name, r.ResourceRecords!.length]), [['l1.xml.local.', 2], ['l2.xml.local.', 2]]);
  });

  test("ListResourceRecordSets: a type outside Route 53's enum, or an identifier past 128 characters, is InvalidInput", async () => {
    for (const [query, message] of [
      ['name=xml.local&type=ZZZ', /Value &quot;ZZZ&quot; at &apos;type&apos; failed to satisfy constraint: Member must satisfy enum value set: \[SOA, A, TXT/],
      ['name=xml.local&type=a', /Value &quot;a&quot; at &apos;type&apos;/],
      ['name=xml.local&type=A&identifier=', /&apos;identifier&apos; failed to satisfy constraint: Member must have length between 1 and 128/],
      [`name=xml.local&type=A&identifier=${'i'.repeat(129)}`, /&apos;identifier&apos;/],
    ] as const) {
      const res = await rawRequest(s.apiUrl, 'GET', `/2013-04-01/hostedzone/${zone}/rrset?${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.match(res.text, /<Code>InvalidInput<\/Code>/);
      assert.match(res.text, message, query);
    }
    // Every enum value is a valid place to start, served by Pharos or not.
    const { ResourceRecordSets } = await r53.listResourceRecordSets({ HostedZoneId: zone, StartRecordName: 'xml.local', StartRecordType: 'TLSA' });
    assert.ok(ResourceRecordSets!.length > 0);
  });

  test('an error echoing a control character stays well-formed XML: boto3 (expat) reads its code', { skip: requireOrSkip(hasBoto3, 'python3 with boto3') }, async () => {
    const raw = await rawRequest(s.apiUrl, 'GET', '/2013-04-01/hostedzonesbyname?dnsname=a%07%00b');
    assert.equal(raw.status, 400);
    assert.ok(!/[\u0000-\u0008]/.test(raw.text), 'no raw control character in the body');
    assert.match(raw.text, /<Message>a\\u0007\\u0000b is not a valid domain name<\/Message>/);
    assert.equal(child(parseXml(raw.text), 'Error')?.children.find((c) => c.name === 'Code')?.text, 'InvalidDomainName');
    const script = [
      'import sys, boto3',
      "r = boto3.client('route53', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')",
      'try:',
      "    r.list_hosted_zones_by_name(DNSName='a\\x07b')",
      'except r.exceptions.InvalidDomainName as e:',
      "    print(e.response['Error']['Code'])",
    ].join('\n');
    const run = await runChild('python3', ['-c', script, s.apiUrl]);
    assert.equal(run.stdout.trim(), 'InvalidDomainName', run.stderr);
  });

  test('a query parameter given twice is InvalidInput', async () => {
    const res = await rawRequest(s.apiUrl, 'GET', `/2013-04-01/hostedzone/${zone}/rrset?maxitems=1&maxitems=300`);
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /<Code>InvalidInput<\/Code><Message>The query parameter maxitems appears more than once<\/Message>/);
  });
});
