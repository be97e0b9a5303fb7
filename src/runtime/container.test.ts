import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, isPharosError } from '../lib/index.ts';
import { ContainerRuntime, LABELS } from './container.ts';
import { ENGINE_KINDS, ENGINE_TITLES, engineTestSkip, startEngineKit, type EngineKind, type EngineKit } from './enginekit.ts';
import { NetnsRuntime, RUNTIME_IMAGE_PULL_FAILED, type ContainerExit, type ContainerSpec, type RunningTask, type TaskSpec } from './index.ts';

// Names and addresses private to this file, per engine (issue 12's block 198.18.120.0–198.18.129.255).
const SETUPS: Record<EngineKind, { name: string; taskCidr: string; bridgeSubnet: string }> = {
  podman: { name: 'ph12rt', taskCidr: '198.18.120.0/24', bridgeSubnet: '198.18.121.0/24' },
  docker: { name: 'ph12rd', taskCidr: '198.18.126.0/25', bridgeSubnet: '198.18.126.128/25' },
};

let seq = 0;
function taskId(): string {
  return `${process.pid.toString(16)}c${(++seq).toString(16).padStart(4, '0')}`;
}
function spec(networkMode: TaskSpec['networkMode'], containers: ContainerSpec[]): TaskSpec {
  return { taskId: taskId(), cluster: 'default', networkMode, containers };
}
async function get(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return (await res.text()).trim();
}

for (const kind of ENGINE_KINDS) {
  const { name: NAME, taskCidr: TASK_CIDR, bridgeSubnet: BRIDGE_SUBNET } = SETUPS[kind];
  const IMAGE = `localhost/${NAME}-web:1`;
  /** Task addresses start with the CIDR's first three octets (`198.18.120.`); its first address is the gateway. */
  const TASK_NET = `${TASK_CIDR.split('.').slice(0, 3).join('.')}.`;
  const GATEWAY = `${TASK_NET}1`;
  function container(over: Partial<ContainerSpec> = {}): ContainerSpec {
    return { name: 'web', image: IMAGE, essential: true, portMappings: [{ containerPort: 8080, protocol: 'tcp' }], ...over };
  }

  describe(`container runtime (${ENGINE_TITLES[kind]} through the Docker Engine API)`, { skip: await engineTestSkip(kind, `${NAME}-`), concurrency: false }, () => {
    let kit: EngineKit;
    let netns: NetnsRuntime;
    let runtime: ContainerRuntime;

    before(async () => {
      kit = await startEngineKit(kind, { name: NAME, subnet: BRIDGE_SUBNET });
      await kit.buildImage(IMAGE);
      netns = new NetnsRuntime({ taskCidr: TASK_CIDR, bridge: `${NAME}br0`, netnsPrefix: `${NAME}-`, vethPrefix: `${NAME}v` });
      netns.setTaskDns(async (gateway) => ({ nameservers: [gateway] }));
      runtime = new ContainerRuntime({ engine: kit.engine, netns, bridgeNetwork: kit.network!, namePrefix: `${NAME}-` });
    });
    after(async () => {
      await runtime?.close({ timeoutMs: 0 });
      await netns?.close({ timeoutMs: 0 });
      await kit?.close();
    });

    test('awsvpc: the image answers on the task IP, with the task resolv.conf, labels, runtimeId and imageDigest', async () => {
      const s = spec('awsvpc', [container()]);
      const task = await runtime.startTask(s);
      try {
        assert.ok(task.ipv4.startsWith(TASK_NET), task.ipv4);
        assert.equal(await eventually(() => get(`http://${task.ipv4}:8080/`).catch(() => undefined), { timeoutMs: 5000 }), IMAGE);
        assert.deepEqual(task.networkBindings, [{ containerName: 'web', bindIP: task.ipv4, containerPort: 8080, hostPort: 8080, protocol: 'tcp' }]);
        const r = await task.exec(['sh', '-c', 'cat /etc/resolv.conf; cat /proc/net/route | wc -l'], { timeoutMs: 5000 });
        assert.equal(r.exitCode, 0);
        assert.ok(r.output.includes(`nameserver ${GATEWAY}\n`), r.output);
        const [status] = task.containers();
        assert.match(status!.runtimeId!, /^[0-9a-f]{64}$/);
        assert.match(status!.imageDigest!, /^sha256:[0-9a-f]{64}$/);
        const inspect = await kit.engine.docker.getContainer(status!.runtimeId!).inspect();
        assert.equal(inspect.Config.Labels[LABELS.taskId], s.taskId);
        assert.equal(inspect.Config.Labels[LABELS.cluster], 'default');
        assert.equal(inspect.Config.Labels[LABELS.containerName], 'web');
        assert.equal(inspect.Name.replace(/^\//, ''), `${NAME}-${s.taskId}-web`);
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
      assert.equal(runtime.tasks().length, 0);
      await assert.rejects(kit.engine.docker.getContainer(task.containers()[0]!.runtimeId!).inspect(), /no such container|404/i);
    });

    test('awsvpc through a pause container (the Docker Engine pattern): task IP, resolv.conf, localhost shared, all gone with the task', async () => {
      const paused = new ContainerRuntime({ engine: kit.engine, netns, namePrefix: `${NAME}p-`, awsvpcJoin: 'pause' });
      const s = spec('awsvpc', [
        container(),
        // The second container reaches the first on localhost: one namespace, the pause container's.
        container({ name: 'side', essential: false, portMappings: [], command: ['sh', '-c', 'until wget -q -O /tmp/got http://127.0.0.1:8080/; do sleep 0.1; done; exec sleep 1000'] }),
      ]);
      const task = await paused.startTask(s);
      let pauseId: string | undefined;
      try {
        assert.ok(task.ipv4.startsWith(TASK_NET), task.ipv4);
        assert.equal(await eventually(() => get(`http://${task.ipv4}:8080/`).catch(() => undefined), { timeoutMs: 5000 }), IMAGE);
        const side = await eventually(async () => {
          const r = await task.exec(['cat', '/tmp/got'], { timeoutMs: 5000, container: 'side' });
          return r.exitCode === 0 ? r.output.trim() : undefined;
        }, { timeoutMs: 5000, message: 'side reached web on localhost' });
        assert.equal(side, IMAGE);
        const r = await task.exec(['cat', '/etc/resolv.conf'], { timeoutMs: 5000 });
        assert.ok(r.output.includes(`nameserver ${GATEWAY}\n`), r.output);
        const listed = await kit.engine.docker.listContainers({ filters: { label: [`${LABELS.taskId}=${s.taskId}`] } });
        const pause = listed.find((c) => c.Labels[LABELS.role] === 'pause');
        assert.ok(pause, 'a pause container holds the namespace');
        pauseId = pause.Id;
        const web = await kit.engine.docker.getContainer(task.containers()[0]!.runtimeId!).inspect();
        assert.equal(web.HostConfig.NetworkMode, `container:${pause.Id}`);
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
      await assert.rejects(kit.engine.docker.getContainer(pauseId!).inspect(), /no such container|404/i);
      assert.equal(netns.addresses.inUse, 0);
      await paused.close({ timeoutMs: 0 });
    });

    test('bridge: hostPort 0 is a dynamic host port, reported in networkBindings', async () => {
      const a = await runtime.startTask(spec('bridge', [container({ portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }] })]));
      const b = await runtime.startTask(spec('bridge', [container({ portMappings: [{ containerPort: 8080, hostPort: 0, protocol: 'tcp' }] })]));
      try {
        const pa = a.networkBindings[0]!.hostPort;
        const pb = b.networkBindings[0]!.hostPort;
        assert.ok(pa > 0 && pb > 0 && pa !== 8080 && pa !== pb, `ports ${pa} ${pb}`);
        assert.equal(a.ipv4, '127.0.0.1');
        assert.equal(await eventually(() => get(`http://127.0.0.1:${pb}/`).catch(() => undefined), { timeoutMs: 5000 }), IMAGE);
      } finally {
        await Promise.all([a.stop({ timeoutMs: 0 }), b.stop({ timeoutMs: 0 })]);
      }
    });

    test('entryPoint, command, environment, workingDirectory and user are the ECS fields; logs keep both streams', async () => {
      const task = await runtime.startTask(
        spec('awsvpc', [
          container({
            entryPoint: ['/bin/sh', '-c'],
            command: ['echo "foo=$FOO cwd=$(pwd) uid=$(id -u)"; echo oops >&2; exec sleep 1000'],
            environment: { FOO: 'bar' },
            workingDirectory: '/www',
            user: '65534',
            portMappings: [],
          }),
        ]),
      );
      try {
        await eventually(() => task.logs().length >= 2, { timeoutMs: 5000 });
        // Lines of one stream keep their order; between stdout and stderr the engine promises none (Docker reads the two pipes apart).
        assert.deepEqual(
          task.logs().map((l) => `${l.stream} ${l.line}`).sort(),
          ['stderr oops', 'stdout foo=bar cwd=/www uid=65534'],
        );
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
    });

    test('an exit is seen within 1 s with its code; stop is SIGTERM, then SIGKILL after the timeout', async () => {
      const quits = await runtime.startTask(spec('awsvpc', [container({ command: ['sh', '-c', 'sleep 0.2; exit 3'], portMappings: [] })]));
      const started = Date.now();
      const exit = await new Promise<ContainerExit>((resolve) => quits.onContainerExit(resolve));
      assert.equal(exit.exitCode, 3);
      assert.equal(exit.stopRequested, false);
      assert.ok(Date.now() - started < 1200, `exit seen after ${Date.now() - started} ms`);
      await quits.stopped;

      // PID 1 without a SIGTERM handler ignores SIGTERM: SIGKILL comes after the timeout.
      const stubborn = await runtime.startTask(spec('awsvpc', [container({ command: ['sleep', '1000'], portMappings: [] })]));
      const t0 = Date.now();
      await stubborn.stop({ timeoutMs: 700 });
      const took = Date.now() - t0;
      assert.ok(took >= 650 && took < 3000, `stop took ${took} ms`);
      assert.equal(stubborn.containers()[0]!.signal, 'SIGKILL');

      // A container that handles SIGTERM exits at once.
      const polite = await runtime.startTask(spec('awsvpc', [container({ command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'], portMappings: [] })]));
      const t1 = Date.now();
      await polite.stop({ timeoutMs: 10_000 });
      assert.ok(Date.now() - t1 < 3000, `polite stop took ${Date.now() - t1} ms`);
      assert.equal(polite.containers()[0]!.exitCode, 0);
    });

    test('exec: exit codes, timeouts, a missing program', async () => {
      const task = await runtime.startTask(spec('awsvpc', [container()]));
      try {
        assert.equal((await task.exec(['sh', '-c', 'exit 4'], { timeoutMs: 5000 })).exitCode, 4);
        const ok = await task.exec(['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], { timeoutMs: 5000 });
        assert.deepEqual([ok.exitCode, ok.output.trim()], [0, IMAGE]);
        const slow = await task.exec(['sleep', '5'], { timeoutMs: 200 });
        assert.equal(slow.timedOut, true);
        const missing = await task.exec(['nosuch'], { timeoutMs: 5000 });
        assert.notEqual(missing.exitCode, 0);
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
    });

    test('an image that is not present and cannot be pulled fails the start with CannotPullContainerError', async () => {
      await assert.rejects(runtime.startTask(spec('awsvpc', [container({ image: 'localhost:1/ph12/nosuch:1' })])), (err: unknown) => {
        assert.ok(isPharosError(err) && err.code === RUNTIME_IMAGE_PULL_FAILED, String(err));
        assert.match((err as Error).message, /^CannotPullContainerError: pull image "localhost:1\/ph12\/nosuch:1": /);
        return true;
      });
      assert.equal(runtime.tasks().length, 0);
      assert.equal(netns.addresses.inUse, 0);
    });

    test('memory and cpu limits are applied, or the task says why not', async () => {
      const task = await runtime.startTask(spec('awsvpc', [container({ memoryMiB: 64, cpuUnits: 256, command: ['sleep', '1000'], portMappings: [] })]));
      try {
        const info = await kit.engine.docker.getContainer(task.containers()[0]!.runtimeId!).inspect();
        const applied = info.HostConfig.Memory === 64 * 1024 * 1024;
        assert.ok(applied || task.logs().some((l) => /limits could not be applied/.test(l.line)));
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
    });

    test("cleanup removes a dead server's containers (a running task's kept for adoption until releaseUnadopted) and keeps a live server's", async () => {
      const dead = `${NAME}-deadbeef-web`;
      const live = `${NAME}-livebeef-web`;
      const held = `${NAME}-heldbeef-web`;
      for (const [name, server, task] of [
        [dead, '999999999@1', undefined],
        [live, `${process.pid}@${(await import('./orphans.ts')).serverIdentity().split('@')[1]}`, undefined],
        [held, '999999999@1', 'heldbeef'],
      ] as const) {
        const labels = { [LABELS.scope]: `${NAME}-`, [LABELS.server]: server, ...(task ? { [LABELS.taskId]: task, [LABELS.containerName]: 'web' } : {}) };
        await (await kit.engine.docker.createContainer({ name, Image: IMAGE, Cmd: ['sleep', '1000'], Labels: labels, HostConfig: { NetworkMode: 'none' } })).start();
      }
      const names = async () => (await kit.engine.docker.listContainers({ all: true })).map((c) => c.Names[0]!.replace(/^\//, ''));
      await runtime.cleanup();
      assert.ok(!(await names()).includes(dead), 'dead server container removed');
      assert.ok((await names()).includes(live), 'live server container kept');
      assert.ok((await names()).includes(held), "a dead server's running task kept for adoption");
      await runtime.releaseUnadopted();
      assert.ok(!(await names()).includes(held), 'removed once nobody adopted it');
      await kit.engine.docker.getContainer(live).remove({ force: true });
    });

    test('dependsOn: SUCCESS waits for an exit 0, HEALTHY for a passing health check; a failed dependency fails the start', async () => {
      const t0 = Date.now();
      const task = await runtime.startTask(
        spec('awsvpc', [
          container({ name: 'web', dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }, { containerName: 'db', condition: 'HEALTHY' }] }),
          container({ name: 'init', essential: false, command: ['sh', '-c', 'sleep 0.3'], portMappings: [] }),
          container({
            name: 'db',
            command: ['sh', '-c', 'sleep 1; touch /tmp/ready; exec sleep 1000'],
            portMappings: [],
            healthCheck: { argv: ['test', '-f', '/tmp/ready'], intervalMs: 200, timeoutMs: 2000 },
          }),
        ]),
      );
      try {
        const byName = Object.fromEntries(task.containers().map((c) => [c.name, c]));
        assert.equal(byName['init']!.exitCode, 0);
        assert.ok(byName['web']!.startedAt.getTime() >= byName['init']!.stoppedAt!.getTime());
        assert.ok(byName['web']!.startedAt.getTime() - t0 >= 1000, 'web waited for db to be healthy');
      } finally {
        await task.stop({ timeoutMs: 0 });
      }
      await assert.rejects(
        runtime.startTask(
          spec('awsvpc', [
            container({ name: 'web', dependsOn: [{ containerName: 'init', condition: 'SUCCESS' }] }),
            container({ name: 'init', essential: false, command: ['sh', '-c', 'exit 2'], portMappings: [] }),
          ]),
        ),
        /CannotStartContainerError: container web: dependency init \(SUCCESS\): exited with 2/,
      );
      assert.equal(runtime.tasks().length, 0);
    });

    test('several awsvpc tasks start concurrently and each answers on its own address', async () => {
      const tasks: RunningTask[] = await Promise.all(Array.from({ length: 4 }, () => runtime.startTask(spec('awsvpc', [container()]))));
      try {
        const ips = new Set(tasks.map((t) => t.ipv4));
        assert.equal(ips.size, 4);
        for (const t of tasks) assert.equal(await eventually(() => get(`http://${t.ipv4}:8080/`).catch(() => undefined), { timeoutMs: 5000 }), IMAGE);
      } finally {
        await Promise.all(tasks.map((t) => t.stop({ timeoutMs: 0 })));
      }
    });
  });
}
