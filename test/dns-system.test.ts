/**
 * DNS through the whole server: Cloud Map calls over the AWS SDK, answers from `pharos server`'s
 * DNS listener with node's resolver. A registration is in DNS as soon as its operation succeeds.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { udpIoPaths } from '../src/dns/testutil.ts';
import { privateNamespace, register, startTestServer, waitOp, type TestServer } from './helpers.ts';

for (const { io, skip } of udpIoPaths()) {
  describe(`UDP: ${io}`, { skip }, () => {
    let server: TestServer;
    let resolver: dnsPromises.Resolver;

    before(async () => {
      server = await startTestServer({ dnsIo: io });
      assert.ok(server.dnsAddress, 'pharos server reports its DNS address');
      resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 1 });
      resolver.setServers([server.dnsAddress]);
    });

    after(async () => {
      await server?.destroy();
    });

    test('register, query, deregister over the API and DNS', async () => {
      const nsId = await privateNamespace(server.sd, 'sys-dns.local');
      const svc = await server.sd.createService({
        Name: 'web',
        NamespaceId: nsId,
        DnsConfig: { RoutingPolicy: 'MULTIVALUE', DnsRecords: [{ Type: 'A', TTL: 10 }, { Type: 'SRV', TTL: 10 }] },
      });
      const serviceId = svc.Service!.Id!;
      await register(server.sd, serviceId, 'task-1', { AWS_INSTANCE_IPV4: '198.18.30.1', AWS_INSTANCE_PORT: '8080' });
      assert.deepEqual(await resolver.resolve4('web.sys-dns.local'), ['198.18.30.1']);
      assert.deepEqual(await resolver.resolveSrv('web.sys-dns.local'), [{ name: 'task-1.web.sys-dns.local', port: 8080, priority: 1, weight: 1 }]);
      await register(server.sd, serviceId, 'task-2', { AWS_INSTANCE_IPV4: '198.18.30.2', AWS_INSTANCE_PORT: '8080' });
      assert.deepEqual((await resolver.resolve4('web.sys-dns.local')).sort(), ['198.18.30.1', '198.18.30.2']);
      const dereg = await server.sd.deregisterInstance({ ServiceId: serviceId, InstanceId: 'task-1' });
      await waitOp(server.sd, dereg.OperationId);
      assert.deepEqual(await resolver.resolve4('web.sys-dns.local'), ['198.18.30.2']);
      await assert.rejects(resolver.resolve4('nothing.sys-dns.local'), { code: 'ENOTFOUND' });
      await assert.rejects(resolver.resolve4('example.org'), { code: 'EREFUSED' });
    });
  });
}
