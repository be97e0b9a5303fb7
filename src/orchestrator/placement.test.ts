import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PharosError } from '../lib/index.ts';
import type { ContainerInstanceRecord } from './model.ts';
import { candidatesOf, compileConstraints, compileExpression, DEFAULT_SERVICE_STRATEGY, parsePlacementConstraints, parsePlacementStrategy, place, reserve, type TaskNeeds } from './placement.ts';

function instance(id: string, o: Partial<ContainerInstanceRecord> = {}): ContainerInstanceRecord {
  return {
    id: id.padEnd(32, '0'),
    arn: `arn:aws:ecs:us-east-1:000000000000:container-instance/default/${id.padEnd(32, '0')}`,
    clusterName: 'default',
    node: id,
    ec2InstanceId: `host-${id}`,
    builtin: false,
    status: 'ACTIVE',
    agentConnected: true,
    lastHeartbeatAt: 0,
    registeredAt: 0,
    cpu: 4096,
    memory: 4096,
    attributes: [{ name: 'ecs.availability-zone', value: 'us-east-1a' }],
    version: 1,
    ...o,
  };
}

const web = (o: Partial<TaskNeeds> = {}): TaskNeeds => ({ cpu: 256, memory: 512, hostPorts: [], group: 'service:web', ...o });

/** Places `n` tasks one after the other; returns the node of each. */
function placeMany(n: number, instances: ContainerInstanceRecord[], needs: TaskNeeds, strategy = DEFAULT_SERVICE_STRATEGY, constraints = compileConstraints([])): (string | undefined)[] {
  const candidates = candidatesOf(instances, []);
  const out: (string | undefined)[] = [];
  for (let i = 0; i < n; i++) {
    const d = place(needs, candidates, strategy, constraints, () => 0.5);
    if (!d.ok) {
      out.push(undefined);
      continue;
    }
    reserve(d.candidate, needs);
    out.push(d.candidate.instance.node);
  }
  return out;
}

const count = (nodes: (string | undefined)[]) => nodes.reduce<Record<string, number>>((m, n) => ((m[n ?? 'none'] = (m[n ?? 'none'] ?? 0) + 1), m), {});

describe('placement', () => {
  test('the default strategy spreads a service evenly over instances, then across zones', () => {
    const three = [instance('a'), instance('b'), instance('c')];
    assert.deepEqual(count(placeMany(6, three, web())), { a: 2, b: 2, c: 2 });
    const zones = [
      instance('a', { attributes: [{ name: 'ecs.availability-zone', value: 'z1' }] }),
      instance('b', { attributes: [{ name: 'ecs.availability-zone', value: 'z1' }] }),
      instance('c', { attributes: [{ name: 'ecs.availability-zone', value: 'z2' }] }),
    ];
    // Zone z2 has one instance: it takes half the tasks, as ECS's AZ-then-instance spread does.
    assert.deepEqual(count(placeMany(4, zones, web())), { a: 1, b: 1, c: 2 });
  });

  test('spread counts only the task group; other services do not skew it', () => {
    const candidates = candidatesOf([instance('a'), instance('b')], [
      { instanceId: 'a'.padEnd(32, '0'), needs: web({ group: 'service:other' }) },
      { instanceId: 'a'.padEnd(32, '0'), needs: web({ group: 'service:other' }) },
    ]);
    const d = place(web(), candidates, [{ type: 'spread', field: 'instanceId' }], []);
    assert.ok(d.ok);
    // Equal for the group; the tie goes to the instance with fewer tasks.
    assert.equal(d.candidate.instance.node, 'b');
  });

  test('binpack by memory fills one instance before the next', () => {
    const nodes = placeMany(6, [instance('a', { memory: 2048 }), instance('b', { memory: 4096 })], web(), [{ type: 'binpack', field: 'memory' }]);
    assert.deepEqual(nodes, ['a', 'a', 'a', 'a', 'b', 'b']);
  });

  test('random picks among the feasible instances', () => {
    const candidates = candidatesOf([instance('a'), instance('b'), instance('c')], []);
    const pick = (r: number) => {
      const d = place(web(), candidates, [{ type: 'random' }], [], () => r);
      assert.ok(d.ok);
      return d.candidate.instance.node;
    };
    assert.deepEqual([pick(0), pick(0.4), pick(0.99)], ['a', 'b', 'c']);
  });

  test('distinctInstance puts one task of the group per instance, then none', () => {
    const nodes = placeMany(3, [instance('a'), instance('b')], web(), DEFAULT_SERVICE_STRATEGY, compileConstraints([{ type: 'distinctInstance' }]));
    assert.deepEqual(nodes.slice(0, 2).sort(), ['a', 'b']);
    assert.equal(nodes[2], undefined);
  });

  test('memberOf keeps tasks on instances whose attributes match', () => {
    const instances = [
      instance('a', { attributes: [{ name: 'ecs.availability-zone', value: 'z1' }, { name: 'disk', value: 'ssd' }] }),
      instance('b', { attributes: [{ name: 'ecs.availability-zone', value: 'z2' }] }),
      instance('c', { attributes: [{ name: 'ecs.availability-zone', value: 'z3' }, { name: 'disk', value: 'hdd' }] }),
    ];
    const only = (expr: string) => [...new Set(placeMany(4, instances, web(), DEFAULT_SERVICE_STRATEGY, compileConstraints([{ type: 'memberOf', expression: expr }])))].sort();
    assert.deepEqual(only('attribute:disk == ssd'), ['a']);
    assert.deepEqual(only('attribute:disk != ssd'), ['c']);
    assert.deepEqual(only('attribute:disk exists'), ['a', 'c']);
    assert.deepEqual(only('attribute:disk not exists'), ['b']);
    assert.deepEqual(only('attribute:ecs.availability-zone in [z2, z3]'), ['b', 'c']);
    assert.deepEqual(only('attribute:ecs.availability-zone not in [z2, z3]'), ['a']);
    assert.deepEqual(only('attribute:ecs.availability-zone =~ z*'), ['a', 'b', 'c']);
    assert.deepEqual(only('attribute:disk == hdd or attribute:ecs.availability-zone == z2'), ['b', 'c']);
    assert.deepEqual(only('attribute:disk exists and attribute:ecs.availability-zone == z3'), ['c']);
    assert.deepEqual(only('ec2InstanceId == host-b'), ['b']);
    assert.deepEqual(only('attribute:disk == nvme'), [undefined as unknown as string]);
  });

  test('CPU, memory and host ports are reserved; the reason names what ran out', () => {
    const table: { needs: TaskNeeds; instances: ContainerInstanceRecord[]; reason: RegExp; code: string }[] = [
      { needs: web({ cpu: 8192 }), instances: [instance('a')], reason: /insufficient CPU units/, code: 'RESOURCE:CPU' },
      { needs: web({ memory: 8192 }), instances: [instance('a')], reason: /insufficient memory/, code: 'RESOURCE:MEMORY' },
      { needs: web(), instances: [instance('a', { status: 'DRAINING' }), instance('b', { agentConnected: false })], reason: /No ACTIVE container instances/, code: 'AGENT' },
      { needs: web(), instances: [], reason: /No Container Instances were found/, code: 'MISSING' },
    ];
    for (const row of table) {
      const d = place(row.needs, candidatesOf(row.instances, []), DEFAULT_SERVICE_STRATEGY, []);
      assert.ok(!d.ok);
      assert.match(d.reason, row.reason);
      assert.equal(d.failure.reason, row.code);
    }
    const ports = placeMany(3, [instance('a'), instance('b')], web({ hostPorts: ['8080/tcp'] }));
    assert.deepEqual(ports.slice(0, 2).sort(), ['a', 'b']);
    assert.equal(ports[2], undefined, 'a third task finds port 8080 taken everywhere');
    // Memory runs out after 8 tasks of 512 MiB on one 4 GiB instance.
    assert.deepEqual(count(placeMany(9, [instance('a')], web())), { a: 8, none: 1 });
  });

  test('bad strategies and constraints are InvalidParameterException with a message', () => {
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['strategy type', { placementStrategy: [{ type: 'pack' }] }, /must be one of random, spread, binpack/],
      ['binpack field', { placementStrategy: [{ type: 'binpack', field: 'disk' }] }, /Valid values are cpu and memory/],
      ['spread without field', { placementStrategy: [{ type: 'spread' }] }, /needs a field/],
      ['spread field', { placementStrategy: [{ type: 'spread', field: 'zone' }] }, /instanceId, host or attribute/],
      ['too many', { placementStrategy: Array(6).fill({ type: 'random' }) }, /at most 5/],
      ['constraint type', { placementConstraints: [{ type: 'sameHost' }] }, /distinctInstance, memberOf/],
      ['memberOf without expression', { placementConstraints: [{ type: 'memberOf' }] }, /needs an expression/],
      ['expression', { placementConstraints: [{ type: 'memberOf', expression: 'zone is z1' }] }, /Invalid placement constraint expression/],
      ['in without list', { placementConstraints: [{ type: 'memberOf', expression: 'attribute:a in z1' }] }, /needs a list/],
      ['not an object', { placementConstraints: ['x'] }, /must be an object/],
    ];
    for (const [what, b, message] of bad) {
      assert.throws(
        () => {
          parsePlacementStrategy(b);
          parsePlacementConstraints(b);
        },
        (err: unknown) => err instanceof PharosError && err.code === 'InvalidParameterException' && message.test(err.message),
        what,
      );
    }
    assert.deepEqual(parsePlacementStrategy({ placementStrategy: [{ type: 'spread', field: 'attribute:ecs.availability-zone' }, { type: 'binpack', field: 'memory' }] }), [
      { type: 'spread', field: 'attribute:ecs.availability-zone' },
      { type: 'binpack', field: 'memory' },
    ]);
    assert.equal(compileExpression('instanceId == x')(instance('a')), false);
  });
});
