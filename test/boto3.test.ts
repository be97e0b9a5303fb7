/**
 * boto3, configured the way the README says (`Config(inject_host_prefix=False)`), creates,
 * registers and discovers against a real server, and gets modeled exceptions.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { requireOrSkip, runChild, startTestServer, type TestServer } from './helpers.ts';

const hasBoto3 = spawnSync('python3', ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0;

const SCRIPT = `
import json, sys, time
import boto3
from botocore.config import Config

sd = boto3.client('servicediscovery', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id='pharos', aws_secret_access_key='pharos',
                  config=Config(inject_host_prefix=False, retries={'max_attempts': 1}))

def wait(op_id):
    for _ in range(100):
        op = sd.get_operation(OperationId=op_id)['Operation']
        if op['Status'] == 'SUCCESS':
            return op
        time.sleep(0.05)
    raise SystemExit('operation did not finish: ' + op_id)

ns = wait(sd.create_http_namespace(Name='boto')['OperationId'])['Targets']['NAMESPACE']
srv = sd.create_service(Name='web', NamespaceId=ns)['Service']['Id']
wait(sd.register_instance(ServiceId=srv, InstanceId='b1', Attributes={'AWS_INSTANCE_IPV4': '198.18.0.7'})['OperationId'])
found = sd.discover_instances(NamespaceName='boto', ServiceName='web')
try:
    sd.get_namespace(Id='ns-doesnotexist0000')
    error = None
except sd.exceptions.NamespaceNotFound as e:
    error = e.response['Error']['Code']
print(json.dumps({'instances': found['Instances'], 'revision': found['InstancesRevision'], 'error': error}))
`;

describe('boto3', { skip: requireOrSkip(hasBoto3, 'python3 with boto3') }, () => {
  let s: TestServer;
  before(async () => (s = await startTestServer()));
  after(() => s.destroy());

  test('DiscoverInstances with inject_host_prefix=False', async () => {
    const r = await runChild('python3', ['-c', SCRIPT, s.apiUrl]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { instances: Record<string, unknown>[]; revision: number; error: string };
    assert.deepEqual(out.instances, [
      { InstanceId: 'b1', NamespaceName: 'boto', ServiceName: 'web', HealthStatus: 'UNKNOWN', Attributes: { AWS_INSTANCE_IPV4: '198.18.0.7' } },
    ]);
    assert.equal(typeof out.revision, 'number');
    assert.equal(out.error, 'NamespaceNotFound', 'modeled exceptions map to boto3 exception classes');
  });
});
