/**
 * The resolv.conf an awsvpc task's containers see: written to /etc/netns/<netns>/resolv.conf from
 * the TaskDnsProvider, shown as /etc/resolv.conf by `ip netns exec`, removed with the namespace
 * and by cleanup(). The end-to-end part (a real Pharos DNS answering on the gateway) is
 * test/runtime-dns.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isPharosError } from '../lib/index.ts';
import { ETC_NETNS_DIR, NetnsRuntime, renderResolvConf, RUNTIME_BAD_CONFIG, TASK_RESOLV_OPTIONS, type ContainerSpec, type TaskSpec, type TaskResolverConfig } from './index.ts';
import { netnsUnsupported } from './testkit.ts';

// Names and addresses private to this file, so test files running in parallel never collide.
const AWSVPC = { taskCidr: '198.19.172.0/24', bridge: 'phrc0', netnsPrefix: 'phrc-', vethPrefix: 'phrcv' };
const GATEWAY = '198.19.172.1';

const unsupported = await netnsUnsupported(AWSVPC.netnsPrefix);

let seq = 0;
const sleeper: ContainerSpec = { name: 'main', image: 'busybox', essential: true, command: ['sleep', '30'], portMappings: [] };
function task(): TaskSpec {
  return { taskId: `r${process.pid}x${++seq}`, networkMode: 'awsvpc', containers: [sleeper] };
}
const resolvPath = (netns: string) => `${ETC_NETNS_DIR}/${netns}/resolv.conf`;

test('resolv.conf text: nameservers, optional search, default options; bad input refused', () => {
  assert.equal(
    renderResolvConf({ nameservers: [GATEWAY] }),
    `# Written by Pharos for this task (removed with its network namespace)\nnameserver ${GATEWAY}\noptions ${TASK_RESOLV_OPTIONS.join(' ')}\n`,
  );
  assert.match(renderResolvConf({ nameservers: [GATEWAY], search: ['local-1', 'svc.local'], options: [] }), /\nsearch local-1 svc\.local\n$/);
  const bad: TaskResolverConfig[] = [
    { nameservers: [] },
    { nameservers: ['1', '2', '3', '4'].map((n) => `198.18.0.${n}`) },
    { nameservers: ['web.local-1'] },
    { nameservers: [`${GATEWAY}\nnameserver 198.18.0.9`] },
    { nameservers: [GATEWAY], search: ['a b'] },
    { nameservers: [GATEWAY], options: ['ndots:1\nnameserver 198.18.0.9'] },
  ];
  for (const config of bad) assert.throws(() => renderResolvConf(config), (err) => isPharosError(err, RUNTIME_BAD_CONFIG), JSON.stringify(config));
});

describe('task resolv.conf', { skip: unsupported === undefined ? false : `network namespaces unavailable: ${unsupported}` }, () => {
  let runtime: NetnsRuntime;
  const gateways: string[] = [];

  before(async () => {
    runtime = new NetnsRuntime({
      ...AWSVPC,
      taskDns: async (gateway) => {
        gateways.push(gateway);
        return { nameservers: [gateway], search: ['rc.local'] };
      },
    });
    await runtime.cleanup();
  });
  after(async () => {
    await runtime.close({ timeoutMs: 500 });
  });

  test('containers and exec see the task resolv.conf; the host keeps its own; it goes with the task', async () => {
    const hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
    // Concurrent first tasks ask the provider once, after the bridge is up.
    const [t, u] = await Promise.all([runtime.startTask(task()), runtime.startTask(task())]);
    assert.deepEqual(gateways, [GATEWAY]);
    const expected = renderResolvConf({ nameservers: [GATEWAY], search: ['rc.local'] });
    assert.equal(readFileSync(resolvPath(t.netns!), 'utf8'), expected);
    const seen = await t.exec(['cat', '/etc/resolv.conf'], { timeoutMs: 5000 });
    assert.equal(seen.exitCode, 0, seen.output);
    assert.equal(seen.output, expected);
    // The container process itself (not only exec): its mount namespace shows the same file.
    const pid = t.containers()[0]!.pid;
    assert.equal(readFileSync(`/proc/${pid}/root/etc/resolv.conf`, 'utf8'), expected);
    assert.equal(readFileSync('/etc/resolv.conf', 'utf8'), hostResolv, 'the host resolv.conf is untouched');
    await t.stop({ timeoutMs: 1000 });
    assert.equal(existsSync(`${ETC_NETNS_DIR}/${t.netns}`), false, 'removed with the namespace');
    assert.equal(existsSync(resolvPath(u.netns!)), true, 'another task keeps its own');
    await u.stop({ timeoutMs: 1000 });
    assert.equal(existsSync(`${ETC_NETNS_DIR}/${u.netns}`), false);
  });

  test('cleanup removes /etc/netns directories of dead tasks with this prefix, not live ones or others', async () => {
    const stale = `${ETC_NETNS_DIR}/${AWSVPC.netnsPrefix}stale`;
    const foreign = `${ETC_NETNS_DIR}/phrz-notours`;
    for (const dir of [stale, foreign]) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${dir}/resolv.conf`, 'nameserver 198.18.0.9\n');
    }
    const live = await runtime.startTask(task());
    try {
      await runtime.cleanup();
      assert.equal(existsSync(stale), false, 'stale directory removed');
      assert.equal(existsSync(foreign), true, "another prefix's directory is not ours");
      assert.equal(existsSync(resolvPath(live.netns!)), true, "a live task's resolv.conf is kept");
    } finally {
      await live.stop({ timeoutMs: 1000 });
      await import('node:fs/promises').then((fs) => fs.rm(foreign, { recursive: true, force: true }));
    }
  });

  test('a provider that fails leaves tasks running with the host resolv.conf', async () => {
    const rt = new NetnsRuntime({
      ...AWSVPC,
      taskDns: async () => {
        throw new Error('port 53 in use');
      },
    });
    const t = await rt.startTask(task());
    try {
      assert.equal(existsSync(`${ETC_NETNS_DIR}/${t.netns}`), false);
      const seen = await t.exec(['cat', '/etc/resolv.conf'], { timeoutMs: 5000 });
      assert.equal(seen.output, readFileSync('/etc/resolv.conf', 'utf8'));
    } finally {
      await t.stop({ timeoutMs: 1000 });
      // Not close(): the bridge belongs to the suite's runtime.
    }
  });
});
