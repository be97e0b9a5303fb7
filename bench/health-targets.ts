/**
 * Child process for bench/health-scale.ts: `count` HTTP endpoints on 127.0.0.1, each its own
 * listening port (node:http servers sharing one handler). Prints `{"ports":[...]}` once listening;
 * on a `cpu` line on stdin prints its own CPU time so the bench can report both sides.
 * Run: node --import tsx bench/health-targets.ts 10000 [hanging=0]
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

const count = Number(process.argv[2] ?? 1000);
/** The first `hanging` endpoints accept connections and never answer (probes time out). */
const hanging = Number(process.argv[3] ?? 0);
const handler: http.RequestListener = (_req, res) => {
  res.writeHead(200, { 'content-length': '3', connection: 'close' });
  res.end('ok\n');
};

const ports: number[] = [];
for (let i = 0; i < count; i++) {
  const server =
    i < hanging
      ? net.createServer((socket) => {
          socket.on('error', () => {});
          socket.resume();
        })
      : http.createServer({ keepAlive: false }, handler).on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', 4096, () => resolve());
  });
  ports.push((server.address() as AddressInfo).port);
}
process.stdout.write(`${JSON.stringify({ ports })}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'cpu') process.stdout.write(`${JSON.stringify({ cpu: process.cpuUsage() })}\n`);
});
process.stdin.on('end', () => process.exit(0));
