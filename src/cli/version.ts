import { readFileSync } from 'node:fs';

/** The package version (`pharos --version`, and each server's member record in the cluster). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}
