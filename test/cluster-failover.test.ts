/**
 * Failover: three `pharos server` processes on a 3-member etcd cluster; the leader is killed with
 * SIGKILL while clients register through every server. Every acknowledged registration must be
 * there afterwards with its operation at SUCCESS (applied once), the health checker must move to
 * the new leader, and DNS must keep answering. Then every etcd member is stopped: the servers go on
 * answering DNS and DiscoverInstances from their snapshots, writes fail with a 503
 * `ServiceUnavailable` the SDK reads, and when etcd returns writes work and the watches resume.
 */
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { eventually } from '../src/lib/index.ts';
import { EtcdTestCluster, etcdSkip } from '../src/store/testkit.ts';
import { sdClient, spawnServer, tempDir, waitOp, type ChildServer } from './helpers.ts';

const skip = etcdSkip();
/** Short lease and probe interval so the test takes seconds; the bench measures the 3 s default. */
const LEASE_TTL = '2s';
const HEALTH_INTERVAL = '300ms';

interface Node {
  proc: ChildServer;
  dns: string;
}

async function startNode(url: string): Promise<Node> {
  const proc = await spawnServer(
    ['--store', url, '--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', tempDir('pharos-i10-node-'), '--lease-ttl', LEASE_TTL, '--health-interval', HEALTH_INTERVAL, '--log-level', 'info'],
    {},
    60_000,
  );
  const line = proc.logs.map((l) => JSON.parse(l) as { dnsAddress?: string }).find((l) => l.dnsAddress);
  return { proc, dns: line!.dnsAddress! };
}

async function clusterStatus(apiUrl: string): Promise<{ leader?: { id: string }; members: { id: string; apiUrl: string }[] }> {
  return (await (await fetch(`${apiUrl}/cluster`, { signal: AbortSignal.timeout(2000) })).json()) as never;
}

describe('failover of several servers on etcd', { skip }, () => {
  let etcd: EtcdTestCluster;
  const nodes: Node[] = [];
  let backend: Server;
  before(async () => {
    etcd = await EtcdTestCluster.start(3);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(etcd.url('/failover')));
    // A healthy endpoint for health checks; an unhealthy one is a closed port.
    backend = createServer((_, res) => res.end('ok')).listen(0, '127.0.0.1');
  });
  after(async () => {
    for (const n of nodes) n.proc.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.proc.exited));
    backend?.close();
    await etcd?.stop();
  });

  test('kill -9 of the leader while clients register: every acknowledged registration is there, applied once; health checks move; DNS answers', async () => {
    const sd = nodes.map((n) => sdClient(n.proc.apiUrl));
    const ns = await sd[0]!.createPublicDnsNamespace({ Name: 'failover.test' });
    const nsId = (await waitOp(sd[0]!, ns.OperationId)).Targets!['NAMESPACE']!;
    const { Service } = await sd[0]!.createService({
      Name: 'web',
      NamespaceId: nsId,
      DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] },
      HealthCheckConfig: { Type: 'HTTP', ResourcePath: '/', FailureThreshold: 1 },
    });
    const port = (backend.address() as { port: number }).port;
    const before = await eventually(async () => (await clusterStatus(nodes[0]!.proc.apiUrl)).leader, { timeoutMs: 10_000, message: 'a leader' });
    const leaderIndex = (await Promise.all(nodes.map(async (n) => (await clusterStatus(n.proc.apiUrl)).members.find((m) => m.apiUrl === n.proc.apiUrl)?.id))).indexOf(before.id);
    assert.ok(leaderIndex >= 0, 'the leader is one of ours');
    const survivors = nodes.filter((_, i) => i !== leaderIndex);

    // Clients register through every server, round robin, while the leader is killed.
    const acknowledged: { id: string; op: string }[] = [];
    let stop = false;
    const clients = Array.from({ length: 6 }, async (_, c) => {
      for (let i = 0; !stop; i++) {
        const id = `i-${c}-${i}`;
        const node = sd[(c + i) % 3]!;
        try {
          const out = await node.registerInstance({ ServiceId: Service!.Id!, InstanceId: id, Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: String(port) } });
          acknowledged.push({ id, op: out.OperationId! });
        } catch {
          // the killed server: not acknowledged, the client would retry elsewhere
        }
      }
    });
    await eventually(() => acknowledged.length >= 30, { timeoutMs: 20_000, message: '30 registrations before the kill' });
    const killedAt = Date.now();
    nodes[leaderIndex]!.proc.child.kill('SIGKILL');
    const next = await eventually(
      async () => {
        const s = await clusterStatus(survivors[0]!.proc.apiUrl);
        return s.leader && s.leader.id !== before.id ? s.leader : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: 'a new leader' },
    );
    const takeoverMs = Date.now() - killedAt;
    assert.ok(takeoverMs < 2000 + 3000, `new leader ${next.id} after ${takeoverMs} ms (lease ${LEASE_TTL})`);
    await eventually(() => acknowledged.length >= 60, { timeoutMs: 20_000, message: '30 more registrations after the kill' });
    stop = true;
    await Promise.all(clients);

    // Every acknowledged registration reaches SUCCESS and is there, once.
    const survivor = sdClient(survivors[0]!.proc.apiUrl);
    for (const { op } of acknowledged) await waitOp(survivor, op, 20_000);
    const listed = new Set<string>();
    let token: string | undefined;
    do {
      const page = await survivor.listInstances({ ServiceId: Service!.Id!, NextToken: token });
      for (const i of page.Instances ?? []) listed.add(i.Id!);
      token = page.NextToken;
    } while (token);
    for (const { id } of acknowledged) assert.ok(listed.has(id), `acknowledged ${id} is registered`);

    // The new leader checks health: an instance on a closed port leaves DNS; a healthy one stays.
    const reg = await survivor.registerInstance({ ServiceId: Service!.Id!, InstanceId: 'dead', Attributes: { AWS_INSTANCE_IPV4: '127.0.0.9', AWS_INSTANCE_PORT: '1' } });
    await waitOp(survivor, reg.OperationId);
    await eventually(
      async () => {
        const h = await survivor.getInstancesHealthStatus({ ServiceId: Service!.Id!, Instances: ['dead', acknowledged[0]!.id] });
        return h.Status?.['dead'] === 'UNHEALTHY' && h.Status?.[acknowledged[0]!.id] === 'HEALTHY';
      },
      { timeoutMs: 10_000, message: 'the new leader marks the dead endpoint UNHEALTHY' },
    );
    for (const n of survivors) {
      const r = new dnsPromises.Resolver({ timeout: 1000, tries: 2 });
      r.setServers([n.dns]);
      const addrs = await eventually(() => r.resolve4('web.failover.test').catch(() => undefined), { message: `DNS on ${n.dns}` });
      assert.ok(!addrs.includes('127.0.0.9'), 'the unhealthy endpoint is not in DNS');
    }
  });

  test('all etcd members stopped: DNS and DiscoverInstances answer from the snapshot, writes fail with ServiceUnavailable; recovery when etcd returns', async () => {
    const alive = nodes.filter((n) => n.proc.child.exitCode === null && n.proc.child.signalCode === null);
    assert.equal(alive.length, 2);
    const [a, b] = [sdClient(alive[0]!.proc.apiUrl), sdClient(alive[1]!.proc.apiUrl)];
    const serviceId = (await a.listServices({})).Services!.find((s) => s.Name === 'web')!.Id!;
    const port = String((backend.address() as { port: number }).port);
    // What is compared across the outage must not move on its own before it: the health checker
    // still writes (a probe at this short interval can time out on a loaded machine, and one
    // failure flips an instance), so DiscoverInstances asks for every instance whatever its health,
    // and DNS is read for a service without health checks.
    const discover = async (sd: typeof a) =>
      (await sd.discoverInstances({ NamespaceName: 'failover.test', ServiceName: 'web', HealthStatus: 'ALL', MaxResults: 1000 })).Instances!.map((i) => i.InstanceId!).sort();
    const nsId = (await a.listNamespaces({})).Namespaces!.find((n) => n.Name === 'failover.test')!.Id!;
    const { Service: plain } = await a.createService({ Name: 'plain', NamespaceId: nsId, DnsConfig: { DnsRecords: [{ Type: 'A', TTL: 1 }] } });
    for (const [i, ip] of ['127.0.0.11', '127.0.0.12', '127.0.0.13'].entries()) {
      await waitOp(a, (await a.registerInstance({ ServiceId: plain!.Id!, InstanceId: `p${i}`, Attributes: { AWS_INSTANCE_IPV4: ip } })).OperationId);
    }
    const resolvers = alive.map((n) => {
      const r = new dnsPromises.Resolver({ timeout: 1000, tries: 2 });
      r.setServers([n.dns]);
      return r;
    });
    const resolvePlain = async (r: dnsPromises.Resolver) => (await r.resolve4('plain.failover.test')).sort();
    const dnsBefore = ['127.0.0.11', '127.0.0.12', '127.0.0.13'];
    // Each server's snapshot follows the store on its own: wait until A and B have seen the same
    // writes (earlier tests registered through both) before comparing their answers to these.
    for (const r of resolvers) await eventually(async () => JSON.stringify(await resolvePlain(r).catch(() => [])) === JSON.stringify(dnsBefore), { timeoutMs: 10_000, message: 'both servers answer the three in DNS' });
    const discoveredBefore = await eventually(
      async () => {
        const [fromA, fromB] = [await discover(a), await discover(b)];
        return fromB.length > 0 && JSON.stringify(fromA) === JSON.stringify(fromB) ? fromB : undefined;
      },
      { timeoutMs: 10_000, message: 'A and B discover the same instances before the outage' },
    );

    await Promise.all([etcd.kill(0), etcd.kill(1), etcd.kill(2)]);
    // Reads come from each server's snapshot: the same answers as before the outage.
    for (const r of resolvers) assert.deepEqual(await resolvePlain(r), dnsBefore);
    assert.deepEqual(await discover(b), discoveredBefore);
    assert.deepEqual(await discover(a), discoveredBefore);
    // A write fails as AWS's transient error: 503 ServiceUnavailable, which the SDKs retry.
    const started = Date.now();
    const err = await a.registerInstance({ ServiceId: serviceId, InstanceId: 'during-outage', Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: port } }).then(
      () => assert.fail('a write without etcd succeeded'),
      (e: Error & { $metadata?: { httpStatusCode?: number }; $fault?: string; $retryable?: unknown }) => e,
    );
    assert.equal(err.name, 'ServiceUnavailable', err.message);
    assert.equal(err.$metadata?.httpStatusCode, 503);
    assert.equal(err.$fault, 'server');
    assert.match(err.message, /store|etcd/i);
    assert.ok(Date.now() - started < 10_000, `the write failed after ${Date.now() - started} ms`);

    await Promise.all([etcd.restart(0), etcd.restart(1), etcd.restart(2)]);
    const out = await eventually(
      () => a.registerInstance({ ServiceId: serviceId, InstanceId: 'after-outage', Attributes: { AWS_INSTANCE_IPV4: '127.0.0.1', AWS_INSTANCE_PORT: port } }).catch(() => undefined),
      { timeoutMs: 30_000, intervalMs: 500, message: 'writes work again' },
    );
    await waitOp(a, out.OperationId, 20_000);
    // B's watch resumed: it has the write made through A after the outage.
    await eventually(async () => (await discover(b)).includes('after-outage'), { timeoutMs: 20_000, message: 'B discovers the instance registered after the outage' });
    assert.ok(!(await discover(b)).includes('during-outage'), 'the refused write is not there');
  });
});
