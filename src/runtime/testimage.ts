/**
 * Test support (not part of the runtime's surface): the tests' container image, built offline —
 * busybox-static copied into a directory with a web root, imported through the engine API
 * (`docker import`, no registry) — and running host commands. Shared by podmankit.ts and
 * dockerkit.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Engine } from './engine.ts';

/** Where Debian's busybox-static puts the static binary. */
const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];
/** Applets linked into test images: what the tests' commands and health checks use. */
const APPLETS = ['sh', 'httpd', 'sleep', 'echo', 'cat', 'wget', 'kill', 'ls', 'id', 'pwd', 'env', 'true', 'false', 'test', 'nslookup', 'mkdir', 'rm', 'touch'];
/** The image's default command: busybox httpd serving /www on 8080. */
const IMAGE_CHANGES = ['CMD ["/bin/httpd","-f","-p","8080","-h","/www"]', 'ENV PATH=/bin'];

/** Why test images cannot be built here, or undefined. */
export function busyboxMissing(): string | undefined {
  return BUSYBOX_CANDIDATES.some((p) => existsSync(p)) ? undefined : 'busybox-static is not installed (test images are built from it)';
}

/**
 * Imports an image named `ref` into `engine`: busybox-static with a web root whose index.html
 * says `ref`, and `CMD ["httpd","-f","-p","8080","-h","/www"]`. `dir` holds the scratch files.
 */
export async function buildTestImage(engine: Engine, dir: string, ref: string): Promise<void> {
  const root = path.join(dir, `image-${ref.replace(/[^A-Za-z0-9]/g, '_')}`);
  for (const sub of ['bin', 'www', 'tmp', 'etc']) await fs.mkdir(path.join(root, sub), { recursive: true });
  await fs.copyFile(BUSYBOX_CANDIDATES.find((p) => existsSync(p))!, path.join(root, 'bin', 'busybox'));
  await fs.chmod(path.join(root, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) await fs.symlink('busybox', path.join(root, 'bin', a));
  await fs.writeFile(path.join(root, 'www', 'index.html'), `${ref}\n`);
  await fs.writeFile(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n');
  await fs.writeFile(path.join(root, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tar = path.join(dir, `${path.basename(root)}.tar`);
  await run('tar', ['-C', root, '-cf', tar, '.'], process.env);
  await engine.importImage(tar, ref, IMAGE_CHANGES);
}

/** Runs `file args…`; resolves with stdout, rejects with stderr. */
export function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => (err ? reject(new Error(`${file} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}
