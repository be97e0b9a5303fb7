import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SetupFailedError } from './errors.ts';
import type { Launch } from './spec.ts';

/** A task's own directory: its owner (the task's user) only. */
const TASK_DIR_MODE = 0o700;

/**
 * Each task's default working directory, `<root>/<taskId>`: made empty right before its
 * containers start, owned by the task's user, removed with the task. So a task never starts in
 * the server's working directory (a checkout, a data directory) and leaves nothing behind.
 */
export class TaskDirs {
  #root: string | undefined;

  /** `root`: e.g. `<data-dir>/tasks`; default a fresh directory under the OS temp dir, made on first use. */
  constructor(root?: string) {
    this.#root = root;
  }

  path(taskId: string): string {
    this.#root ??= mkdtempSync(path.join(tmpdir(), 'pharos-tasks-'));
    return path.join(this.#root, taskId);
  }

  /** Makes the task's directory (empty), owned by the first container's user when it runs as another user. */
  async create(taskId: string, launches: readonly Launch[]): Promise<void> {
    const dir = this.path(taskId);
    try {
      await fs.mkdir(path.dirname(dir), { recursive: true, mode: TASK_DIR_MODE });
      await fs.rm(dir, { recursive: true, force: true });
      await fs.mkdir(dir, { mode: TASK_DIR_MODE });
      const user = launches.find((l) => l.user !== undefined)?.user;
      if (user !== undefined) await fs.chown(dir, user.uid, user.gid);
    } catch (err) {
      throw new SetupFailedError(`working directory ${dir}`, (err as Error).message);
    }
  }

  /** Removes the task's directory and everything in it; never rejects. */
  async remove(taskId: string): Promise<void> {
    if (this.#root === undefined) return;
    await fs.rm(this.path(taskId), { recursive: true, force: true }).catch(() => undefined);
  }

  /** Removes the directories of tasks not in `live` (left by a server that was killed); returns how many. */
  async cleanup(live: ReadonlySet<string>): Promise<number> {
    if (this.#root === undefined) return 0;
    const names = await fs.readdir(this.#root).catch(() => [] as string[]);
    const stale = names.filter((n) => !live.has(n));
    await Promise.all(stale.map((n) => this.remove(n)));
    return stale.length;
  }
}
