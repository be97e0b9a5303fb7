/**
 * Route 53 with boto3, every operation: its paginators (ListHostedZones, ListResourceRecordSets),
 * its id handling (`/hostedzone/` stripped by botocore), modeled exceptions, and a server that
 * checks SigV4 (boto3 signs as `route53`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { DUMMY_CREDENTIALS, privateNamespace, register, requireOrSkip, runChild, startTestServer, type TestServer } from './helpers.ts';

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;

const SCRIPT = `
import json, sys
import boto3
from botocore.config import Config

r53 = boto3.client('route53', endpoint_url=sys.argv[1], region_name='ap-south-1',
                   aws_access_key_id='pharos', aws_secret_access_key='pharos',
                   config=Config(retries={'max_attempts': 1}))
out = {}
zones = [z for page in r53.get_paginator('list_hosted_zones').paginate(PaginationConfig={'PageSize': 1}) for z in page['HostedZones']]
out['zones'] = [z['Name'] for z in zones]
zone_id = [z['Id'] for z in zones if z['Name'] == 'boto.local.'][0]
out['zone'] = r53.get_hosted_zone(Id=zone_id)['HostedZone']['Config']
out['by_name'] = [z['Name'] for z in r53.list_hosted_zones_by_name(DNSName='boto.local')['HostedZones']]
out['count'] = r53.get_hosted_zone_count()['HostedZoneCount']
change = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={'Changes': [
    {'Action': 'CREATE', 'ResourceRecordSet': {'Name': 'db.boto.local', 'Type': 'A', 'TTL': 30, 'ResourceRecords': [{'Value': '198.18.130.81'}]}},
    {'Action': 'UPSERT', 'ResourceRecordSet': {'Name': 'boto.local', 'Type': 'TXT', 'TTL': 30, 'ResourceRecords': [{'Value': '"boto"'}]}},
]})['ChangeInfo']
out['change'] = r53.get_change(Id=change['Id'])['ChangeInfo']['Status']
r53.get_waiter('resource_record_sets_changed').wait(Id=change['Id'])
sets = [s for page in r53.get_paginator('list_resource_record_sets').paginate(HostedZoneId=zone_id, PaginationConfig={'PageSize': 2}) for s in page['ResourceRecordSets']]
out['sets'] = [[s['Name'], s['Type'], s.get('SetIdentifier'), [r['Value'] for r in s['ResourceRecords']]] for s in sets]
errors = {}
try:
    r53.get_hosted_zone(Id='ZNOTTHERE')
except r53.exceptions.NoSuchHostedZone as e:
    errors['get'] = [e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode']]
try:
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={'Changes': [
        {'Action': 'CREATE', 'ResourceRecordSet': {'Name': 'db.boto.local', 'Type': 'A', 'TTL': 30, 'ResourceRecords': [{'Value': '198.18.130.81'}]}}]})
except r53.exceptions.InvalidChangeBatch as e:
    errors['batch'] = [e.response['Error']['Code'], e.response['Error']['Message']]
try:
    r53.get_change(Id='CNOTTHERE')
except r53.exceptions.NoSuchChange as e:
    errors['change'] = e.response['Error']['Code']
out['errors'] = errors
print(json.dumps(out))
`;

describe('Route 53 with boto3', { skip: requireOrSkip(hasBoto3, 'python3 with boto3') }, () => {
  let s: TestServer;
  before(async () => {
    // Signatures checked: boto3 signs Route 53 requests as service `route53`, here in ap-south-1.
    s = await startTestServer({ credentials: [DUMMY_CREDENTIALS] });
    const ns = await privateNamespace(s.sd, 'boto.local');
    await privateNamespace(s.sd, 'another.local');
    const svc = (await s.sd.createService({ Name: 'web', NamespaceId: ns, DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 60 }] } })).Service!.Id!;
    await register(s.sd, svc, 'web-1', { AWS_INSTANCE_IPV4: '198.18.130.80' });
  });
  after(() => s.destroy());

  test('every operation, paginators, waiter and modeled errors', async () => {
    const r = await runChild('python3', ['-c', SCRIPT, s.apiUrl]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.zones.sort(), ['another.local.', 'boto.local.']);
    assert.equal(out.zone.PrivateZone, true);
    assert.match(out.zone.Comment, /^Created by AWS Cloud Map namespace with ARN arn:aws:servicediscovery:/);
    assert.deepEqual(out.by_name, ['boto.local.']);
    assert.equal(out.count, 2);
    assert.equal(out.change, 'INSYNC');
    assert.deepEqual(out.sets, [
      ['boto.local.', 'NS', null, ['ns.dns.boto.local.']],
      ['boto.local.', 'SOA', null, ['ns.dns.boto.local. hostmaster.boto.local. 1 7200 900 1209600 900']],
      ['boto.local.', 'TXT', null, ['"boto"']],
      ['db.boto.local.', 'A', null, ['198.18.130.81']],
      ['ns.dns.boto.local.', 'A', null, ['127.0.0.1']],
      ['web.boto.local.', 'A', 'web-1', ['198.18.130.80']],
      ['web-1.web.boto.local.', 'A', null, ['198.18.130.80']],
    ]);
    assert.deepEqual(out.errors.get, ['NoSuchHostedZone', 404]);
    assert.equal(out.errors.batch[0], 'InvalidChangeBatch');
    assert.match(out.errors.batch[1], /already exists/);
    assert.equal(out.errors.change, 'NoSuchChange');
  });
});
