import type { KV } from '../store/index.ts';
import { DEFAULT_NODE } from './orchestrator.ts';
import { ecsKeys, type ContainerInstanceRecord, type TaskRecord } from './model.ts';
import { EcsStore } from './state.ts';

/**
 * The node name a store's server already runs under: its built-in container instances' (the most
 * recently heartbeat one, should a store hold several), else `DEFAULT_NODE` when tasks carry it
 * (a Pharos from before container instances); undefined for a store with neither.
 *
 * A server that came back under another name would find its built-in instance disconnected and
 * its running tasks on a lost node: they would be replaced, and the old instance stay listed. So a
 * single server (SQLite) keeps the name its store already uses.
 */
export async function storedNodeName(kv: KV): Promise<string | undefined> {
  const store = new EcsStore(kv);
  const builtins = (await store.list<ContainerInstanceRecord>(ecsKeys.instancePrefix)).filter((i) => i.builtin);
  const latest = builtins.reduce<ContainerInstanceRecord | undefined>((a, b) => (a && a.lastHeartbeatAt >= b.lastHeartbeatAt ? a : b), undefined);
  if (latest) return latest.node;
  const tasks = await store.list<TaskRecord>(ecsKeys.taskPrefix);
  return tasks.some((t) => t.node === DEFAULT_NODE) ? DEFAULT_NODE : undefined;
}
