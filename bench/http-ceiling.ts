/**
 * The ceiling for the API benchmarks: a bare `node:http` server that reads each POST body and
 * answers with a fixed status, headers and body (what Pharos answered to the same request), and
 * nothing else. "Pharos / bare Node" measured against it in the same run, on the same port with
 * the same client, holds on a machine whose load changes from minute to minute.
 *
 *   node --import tsx bench/http-ceiling.ts <port> <reply.json>   (reply.json: { status, headers, body (base64) })
 * Prints `ready <port>` once listening.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [port, replyFile] = process.argv.slice(2);
if (!port || !replyFile) throw new Error('usage: http-ceiling.ts <port> <reply.json>');
const reply = JSON.parse(readFileSync(replyFile, 'utf8')) as { status: number; headers: Record<string, string>; body: string };
const body = Buffer.from(reply.body, 'base64');
// The same socket buffer size as Pharos's API server (src/api/server.ts SOCKET_HIGH_WATER_MARK):
// the ceiling must not pay a 'drain' round per large answer that Pharos does not.
const server = createServer({ highWaterMark: 64 * 1024 }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(reply.status, { ...reply.headers, 'content-length': body.length });
    res.end(body);
  });
});
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
