/**
 * The conformance cases (docs/compatibility.md#conformance-cases) that depend on the AWS CLI itself (exit codes, error text,
 * empty output, its paginator's "same token twice" check, its skipped enum checks, the `data-`
 * host prefix). The SDK tests cover the semantics of the other cases.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { CLI_SERVICE_ERROR, cliEndpoint, haveCommand, privateNamespace, resolvesToLoopback, register, requireOrSkip, runChild, startTestServer, tempDir, waitOp, type ChildRun, type TestServer } from './helpers.ts';

interface CliResult extends ChildRun {
  json?: Record<string, unknown>;
}

describe('AWS CLI conformance (spec §5)', { skip: requireOrSkip(haveCommand('aws'), 'the AWS CLI (aws)') }, () => {
  let s: TestServer;
  let home = '';
  let nsId = '';
  let webId = '';
  let env: Record<string, string> = {};
  let endpoint = '';

  /** Runs `aws --endpoint-url <server> servicediscovery <args>` asynchronously (the server is in this process). */
  async function sd(args: string[], extraEnv: Record<string, string> = {}, url = endpoint): Promise<CliResult> {
    const r = await runChild('aws', ['--endpoint-url', url, '--output', 'json', 'servicediscovery', ...args], { env: { ...env, ...extraEnv } });
    let json: Record<string, unknown> | undefined;
    try {
      json = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
    } catch {
      json = undefined;
    }
    return { ...r, json };
  }

  before(async () => {
    s = await startTestServer();
    endpoint = await cliEndpoint(s.apiUrl);
    home = tempDir('pharos-home-');
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      AWS_ACCESS_KEY_ID: 'pharos',
      AWS_SECRET_ACCESS_KEY: 'pharos',
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_DISABLE_HOST_PREFIX_INJECTION: 'true',
    };
    nsId = await privateNamespace(s.sd, 'cli.local');
    webId = (
      await s.sd.createService({
        Name: 'web',
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }] },
        HealthCheckCustomConfig: { FailureThreshold: 1 },
      })
    ).Service!.Id!;
    await register(s.sd, webId, 'i1', { AWS_INSTANCE_IPV4: '198.18.0.1', color: 'blue' });
  });
  after(async () => {
    await s.destroy();
    rmSync(home, { recursive: true, force: true });
  });

  test('cases 1 and 3: create-http-namespace, then the same name is NamespaceAlreadyExists with exit 255 (v1) or 254 (v2)', async () => {
    const r = await sd(['create-http-namespace', '--name', 'demo-http']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(String(r.json?.['OperationId']), /^[a-z0-9]{32}-[a-z0-9]{8}$/);
    await waitOp(s.sd, String(r.json?.['OperationId']));
    const again = await sd(['create-http-namespace', '--name', 'demo-http']);
    assert.ok(CLI_SERVICE_ERROR.includes(again.code ?? 0), `exit code ${again.code} for a service error`);
    assert.match(again.stderr, /An error occurred \(NamespaceAlreadyExists\) when calling the CreateHttpNamespace operation: ./);
  });

  test('case 12: discover-instances with AWS_DISABLE_HOST_PREFIX_INJECTION=true', async () => {
    const r = await sd(['discover-instances', '--namespace-name', 'cli.local', '--service-name', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const instances = r.json?.['Instances'] as Record<string, unknown>[];
    assert.deepEqual(instances.map((i) => [i['InstanceId'], i['HealthStatus']]), [['i1', 'HEALTHY']]);
    assert.equal(typeof r.json?.['InstancesRevision'], 'number');
  });

  test('case 13: update-instance-custom-health-status prints nothing and exits 0', async () => {
    const r = await sd(['update-instance-custom-health-status', '--service-id', webId, '--instance-id', 'i1', '--status', 'UNHEALTHY']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '');
    const h = await sd(['get-instances-health-status', '--service-id', webId]);
    assert.deepEqual(h.json?.['Status'], { i1: 'UNHEALTHY' });
  });

  test('case 23: an enum the CLI does not check (--health-status BOGUS) is InvalidInput', async () => {
    const r = await sd(['discover-instances', '--namespace-name', 'cli.local', '--service-name', 'web', '--health-status', 'BOGUS']);
    assert.ok(CLI_SERVICE_ERROR.includes(r.code ?? 0));
    assert.match(r.stderr, /\(InvalidInput\)/);
  });

  test('case 20: list-services follows distinct tokens with --page-size 1; --max-items 2 adds a CLI token', async () => {
    for (const name of ['s1', 's2']) {
      await s.sd.createService({ Name: name, NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 5 }] } });
    }
    const all = await sd(['list-services', '--page-size', '1']);
    assert.equal(all.code, 0, all.stderr);
    const names = (all.json?.['Services'] as { Name: string }[]).map((x) => x.Name).sort();
    assert.deepEqual(names, ['s1', 's2', 'web']);
    const two = await sd(['list-services', '--max-items', '2']);
    assert.equal((two.json?.['Services'] as unknown[]).length, 2);
    assert.equal(typeof two.json?.['NextToken'], 'string');
  });

  test('without the setting, the CLI adds the data- prefix; a hosts entry for data-localhost makes it work', async (t) => {
    const port = new URL(s.apiUrl).port;
    if (!(await resolvesToLoopback('data-localhost'))) {
      const reason = requireOrSkip(false, "a '127.0.0.1 data-localhost' hosts entry");
      t.skip(reason);
      return;
    }
    const { AWS_DISABLE_HOST_PREFIX_INJECTION: _, ...withPrefix } = env;
    const saved = env;
    env = withPrefix;
    try {
      const r = await sd(['discover-instances-revision', '--namespace-name', 'cli.local', '--service-name', 'web'], {}, `http://localhost:${port}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(typeof r.json?.['InstancesRevision'], 'number');
    } finally {
      env = saved;
    }
  });

  test('case 18/19: delete-service of a service with instances is ResourceInUse; deregister unknown is InstanceNotFound', async () => {
    const inUse = await sd(['delete-service', '--id', webId]);
    assert.ok(CLI_SERVICE_ERROR.includes(inUse.code ?? 0));
    assert.match(inUse.stderr, /\(ResourceInUse\)/);
    const nope = await sd(['deregister-instance', '--service-id', webId, '--instance-id', 'nope']);
    assert.match(nope.stderr, /\(InstanceNotFound\)/);
    await waitOp(s.sd, (await s.sd.deregisterInstance({ ServiceId: webId, InstanceId: 'i1' })).OperationId);
    const del = await sd(['delete-service', '--id', webId]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout.trim(), '');
  });
});
