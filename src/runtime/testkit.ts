/**
 * What the tests of network namespaces share: whether they can run here (and a failing test in
 * CI when they cannot), and reading the host's namespaces and links through `ip`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { NetnsRuntime } from './netns.ts';

/**
 * Why network namespaces cannot be used here (probing with names under `probePrefix`), or
 * undefined. With CI=true a missing capability is a failed test, not a skip.
 */
export async function netnsUnsupported(probePrefix: string): Promise<string | undefined> {
  const unsupported = await NetnsRuntime.unsupportedReason(probePrefix);
  if (unsupported !== undefined && process.env.CI === 'true') {
    test('network namespaces are available in CI', () => assert.fail(`netns runtime cannot run: ${unsupported}`));
  }
  return unsupported;
}

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The host's network namespaces whose names start with `prefix`. */
export function namespaces(prefix: string): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix));
}

/** The host's veths whose names start with `prefix`. */
export function veths(prefix: string): string[] {
  return ip('-o', 'link', 'show', 'type', 'veth')
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.startsWith(prefix));
}

export function linkExists(name: string): boolean {
  try {
    ip('link', 'show', name);
    return true;
  } catch {
    return false;
  }
}
