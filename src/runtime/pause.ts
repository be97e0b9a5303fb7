import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { LABELS } from './containerspec.ts';
import { errorText, type Engine } from './engine.ts';
import { EngineFailedError, NetworkModeUnsupportedError } from './errors.ts';

/**
 * The pause-container pattern (ECS's and Kubernetes' way to give a task one network namespace):
 * a container that only holds a namespace, started with `NetworkMode: none`; Pharos names its
 * namespace (`ip netns attach <name> <pid>`) and wires it as any task namespace (veth, address,
 * route, resolv.conf); the task's containers join it with `NetworkMode: container:<pause id>`.
 * Docker Engine and Podman both support this, where joining a namespace by path (`ns:<path>`)
 * is Podman's alone.
 *
 * The pause image is made here, offline: a tar with one static program, imported through the
 * engine API (`POST /images/create?fromSrc=-`, what `docker import` does), no registry involved.
 */

/** Made on first use when absent. The tag changes when the program does. */
const PAUSE_IMAGE = 'localhost/pharos-pause:1';
/** Marks the pause container among a task's containers (LABELS.role). */
export const PAUSE_ROLE = 'pause';

/**
 * x86-64 Linux ELF, 129 bytes: `for (;;) pause();` — the whole program of a pause container (as
 * PID 1 of its PID namespace it ignores SIGTERM and goes with SIGKILL, which `rm -f` sends).
 * ELF header (64) + one PT_LOAD program header (56) + code (9): mov eax, 34 (pause); syscall;
 * jmp back to the mov. Loaded at 0x400000, entry 0x400078.
 */
function pauseElfX64(): Buffer {
  const code = Buffer.from([0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7]);
  const b = Buffer.alloc(64 + 56 + code.length);
  b.write('\x7fELF', 0, 'latin1');
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b[6] = 1; // ELF version
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // EM_X86_64
  b.writeUInt32LE(1, 20); // version
  b.writeBigUInt64LE(0x400078n, 24); // entry
  b.writeBigUInt64LE(64n, 32); // program headers at
  b.writeUInt16LE(64, 52); // ELF header size
  b.writeUInt16LE(56, 54); // program header size
  b.writeUInt16LE(1, 56); // one program header
  // PT_LOAD, R+X, the whole file at 0x400000.
  b.writeUInt32LE(1, 64);
  b.writeUInt32LE(5, 68);
  b.writeBigUInt64LE(0n, 72);
  b.writeBigUInt64LE(0x400000n, 80);
  b.writeBigUInt64LE(0x400000n, 88);
  b.writeBigUInt64LE(BigInt(b.length), 96);
  b.writeBigUInt64LE(BigInt(b.length), 104);
  b.writeBigUInt64LE(0x1000n, 112);
  code.copy(b, 120);
  return b;
}

/** A ustar archive holding one executable file at the root. */
function tarOf(name: string, data: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'ascii');
  header.write('0000755\0', 100, 'ascii'); // mode
  header.write('0000000\0', 108, 'ascii'); // uid
  header.write('0000000\0', 116, 'ascii'); // gid
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii'); // mtime
  header.write('        ', 148, 'ascii'); // checksum, counted as spaces
  header.write('0', 156, 'ascii'); // regular file
  header.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(body);
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}

/** Whether this machine can make the pause image (its program is written for x86-64 only). */
function pauseSupported(): boolean {
  return process.arch === 'x64';
}

/** The pause image, imported once when the engine does not have it. */
export async function ensurePauseImage(engine: Engine): Promise<void> {
  if (await engine.inspectImage(PAUSE_IMAGE)) return;
  if (!pauseSupported()) throw new NetworkModeUnsupportedError(`awsvpc (the pause image is built for x86-64 only, this is ${process.arch})`, ['host', 'bridge']);
  try {
    await engine.importImage(Readable.from([tarOf('pause', pauseElfX64())]), PAUSE_IMAGE, ['CMD ["/pause"]']);
  } catch (err) {
    throw new EngineFailedError('pause', 'create', `import ${PAUSE_IMAGE}: ${errorText(err)}`, err);
  }
}

/** Starts a task's pause container (no network yet: Pharos wires its namespace) and returns it with its host pid. */
export async function startPause(docker: Docker, name: string, labels: Record<string, string>): Promise<{ handle: Docker.Container; pid: number }> {
  let handle: Docker.Container | undefined;
  try {
    handle = await docker.createContainer({ name, Image: PAUSE_IMAGE, Labels: { ...labels, [LABELS.role]: PAUSE_ROLE }, HostConfig: { NetworkMode: 'none', Init: false } });
    await handle.start();
    const pid = (await handle.inspect()).State?.Pid;
    if (!pid) throw new Error('it has no process');
    return { handle, pid };
  } catch (err) {
    await handle?.remove({ force: true }).catch(() => undefined);
    throw new EngineFailedError('pause', 'start', errorText(err), err);
  }
}
