import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPharosError, type Clock } from '../lib/index.ts';
import { openStore, type KV } from '../store/index.ts';
import { Registry, type RegistryConfig } from './registry.ts';
import { Snapshot } from './snapshot.ts';
import { cloudMap } from './ops/index.ts';

/**
 * Test helpers for the registry's own tests (not exported from index.ts): a Registry over a real
 * SQLite file in a temp dir, reopenable to test restarts.
 */

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

export interface Harness {
  dir: string;
  kv: KV;
  snapshot: Snapshot;
  registry: Registry;
  /**
   * Another registry with its own snapshot on the same store: a second server, as on etcd (its
   * indexes and snapshot know only what the store has told them). Closed with the harness.
   */
  peer(): Promise<Registry>;
  /** Stops the registry and closes the store (the directory stays, for a reopen). */
  close(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pharos-registry-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function openHarness(options: { dir?: string; clock?: Clock; config?: Partial<RegistryConfig>; sharedStore?: boolean } = {}): Promise<Harness> {
  const dir = options.dir ?? tempDir();
  const kv = await openStore(`sqlite:${join(dir, 'pharos.db')}`);
  const opened: { registry: Registry; snapshot: Snapshot }[] = [];
  const open = async (): Promise<{ registry: Registry; snapshot: Snapshot }> => {
    const snapshot = await Snapshot.open(kv, { clock: options.clock });
    const registry = new Registry({
      kv,
      snapshot,
      clock: options.clock,
      sharedStore: options.sharedStore ?? false,
      config: { region: REGION, accountId: ACCOUNT, ...options.config },
    });
    await registry.start();
    opened.push({ registry, snapshot });
    return { registry, snapshot };
  };
  const { registry, snapshot } = await open();
  let closed = false;
  return {
    dir,
    kv,
    snapshot,
    registry,
    peer: async () => (await open()).registry,
    async close() {
      if (closed) return;
      closed = true;
      for (const o of opened.reverse()) {
        await o.registry.stop();
        o.snapshot.close();
      }
      await kv.close();
    },
  };
}

/** Asserts that `p` rejects with a Cloud Map error of `code`, whose `fields` include `fields`. */
export async function rejectsWith(p: Promise<unknown>, code: string, fields?: Record<string, unknown> | ((f: Record<string, unknown>) => void), message?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isPharosError(err), `expected a PharosError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    if (typeof fields === 'function') fields(err.fields);
    else if (fields) for (const [k, v] of Object.entries(fields)) assert.deepEqual(err.fields[k], v, `field ${k}`);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

type Out = Record<string, unknown>;

/** Runs an async operation call and waits for its operation to finish; returns the operation record. */
export async function completed(registry: Registry, call: Promise<Out>) {
  const { OperationId } = (await call) as { OperationId: string };
  assert.match(OperationId, /^[a-z0-9]{32}-[a-z0-9]{8}$/);
  const op = await registry.waitForOperation(OperationId);
  assert.equal(op.status, 'SUCCESS', `operation ${op.type} ended ${op.status}: ${op.errorMessage ?? ''}`);
  return op;
}

export async function httpNamespace(registry: Registry, name: string): Promise<string> {
  const op = await completed(registry, cloudMap(registry).CreateHttpNamespace({ Name: name }));
  return op.targets.NAMESPACE!;
}

export async function privateNamespace(registry: Registry, name: string, vpc = 'vpc-1'): Promise<string> {
  const op = await completed(registry, cloudMap(registry).CreatePrivateDnsNamespace({ Name: name, Vpc: vpc }));
  return op.targets.NAMESPACE!;
}

export async function service(registry: Registry, input: Out): Promise<{ Id: string; Arn: string } & Out> {
  const out = (await cloudMap(registry).CreateService(input)) as { Service: { Id: string; Arn: string } & Out };
  return out.Service;
}

export async function register(registry: Registry, serviceId: string, instanceId: string, attributes: Record<string, string>) {
  return completed(registry, cloudMap(registry).RegisterInstance({ ServiceId: serviceId, InstanceId: instanceId, Attributes: attributes }));
}
