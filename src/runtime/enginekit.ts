/**
 * Test support (not part of the runtime's surface): the container engines the container tests run
 * against — a private Podman (podmankit.ts) or Docker Engine (dockerkit.ts) per test file — so one
 * test body runs on both: `for (const kind of ENGINE_KINDS) describe(…, { skip: await
 * engineTestSkip(kind, …) }, …)`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { engineExec } from './containerexec.ts';
import { startDocker, dockerUnsupportedReason, type DockerKit } from './dockerkit.ts';
import { NetnsRuntime } from './netns.ts';
import { podmanUnsupportedReason, startPodman, type PodmanKit } from './podmankit.ts';
import type { ExecResult } from './runtime.ts';

export type EngineKind = 'podman' | 'docker';
export const ENGINE_KINDS: readonly EngineKind[] = ['podman', 'docker'];
/** What the tests say the engine is. */
export const ENGINE_TITLES: Record<EngineKind, string> = { podman: 'Podman 4.3 (podman system service)', docker: 'Docker Engine (dockerd)' };

export type EngineKit = PodmanKit | DockerKit;

/** A private engine of `kind` for one test file; `subnet` makes a bridge network (`kit.network`). */
export function startEngineKit(kind: EngineKind, options: { name: string; subnet?: string }): Promise<EngineKit> {
  return kind === 'podman' ? startPodman(options) : startDocker(options);
}

export function engineUnsupportedReason(kind: EngineKind): Promise<string | undefined> {
  return kind === 'podman' ? podmanUnsupportedReason() : dockerUnsupportedReason();
}

/**
 * The `skip` of a describe that needs the engine and network namespaces (named `netnsPrefix`…):
 * false when both are there, else the reason — and with CI=true a failing test saying so.
 */
export async function engineTestSkip(kind: EngineKind, netnsPrefix: string): Promise<string | false> {
  const reason = (await engineUnsupportedReason(kind)) ?? (await NetnsRuntime.unsupportedReason(netnsPrefix));
  if (reason === undefined) return false;
  const why = `the container runtime on ${kind} needs ${kind === 'docker' ? 'dockerd' : 'podman'} and network namespaces: ${reason}`;
  if (process.env['CI'] === 'true') test(`${kind} and network namespaces are available in CI`, () => assert.fail(why));
  return why;
}

/** `docker exec` through the engine API (what a test does to a container from outside Pharos). */
export function execIn(docker: Docker, containerId: string, argv: string[], timeoutMs = 5000): Promise<ExecResult> {
  return engineExec(docker, docker.getContainer(containerId), argv, { timeoutMs }, () => undefined);
}
