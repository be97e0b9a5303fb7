/**
 * 1,000 slow HTTP clients (slowloris: headers one byte a second, from 127.0.0.2) against a real
 * `pharos server`, while a well-behaved client (127.0.0.1) asks `/ping` and DNS every 10 ms.
 * Reports /ping and DNS p50/p99 during the attack, and how long after connecting each slow
 * connection was closed (the header timeout plus Node's check interval at most).
 *
 *   node --import tsx bench/slow-clients.ts [clients=1000] [headerTimeout=5s]
 */
import { rmSync } from 'node:fs';
import { request, Agent } from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { decode, query, udpAsk } from '../src/dns/testutil.ts';
import { spawnServer, tempDir } from '../test/helpers.ts';

const CLIENTS = Number(process.argv[2] ?? 1000);
const HEADER_TIMEOUT = process.argv[3] ?? '5s';
const SLOW_SOURCE = '127.0.0.2';

const dir = tempDir('pharos-slow-');
const server = await spawnServer(['--api-addr', '127.0.0.1:0', '--dns-addr', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--http-header-timeout', HEADER_TIMEOUT]);
const dnsPort = Number(/"dnsAddress":"[^"]*:(\d+)"/.exec(server.logs.find((l) => l.includes('dnsAddress'))!)![1]);
const port = Number(new URL(server.apiUrl).port);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

try {
  // The attack: connect, then dribble a request line and headers that never end.
  const lifetimes: number[] = [];
  const slow: net.Socket[] = [];
  const opened: Promise<void>[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    // From the moment the connection is up: the header timeout runs from then, not from our call.
    let started = performance.now();
    const s = net.connect({ port, host: '127.0.0.1', localAddress: SLOW_SOURCE });
    s.once('connect', () => (started = performance.now()));
    s.on('error', () => undefined);
    s.resume();
    opened.push(new Promise((resolve) => s.once('connect', () => resolve())));
    const drip = setInterval(() => s.writable && s.write('X'), 1000);
    s.once('connect', () => s.write('POST / HTTP/1.1\r\nHost: localhost\r\nX-Slow: '));
    s.on('close', () => {
      clearInterval(drip);
      lifetimes.push(performance.now() - started);
    });
    slow.push(s);
  }
  await Promise.all(opened);
  const attackStart = performance.now();

  // The victim's view while the slow clients hold their sockets: /ping and DNS latency.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ping = () =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      request({ host: '127.0.0.1', port, path: '/ping', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t));
      })
        .on('error', reject)
        .end();
    });
  const pings: number[] = [];
  const dns: number[] = [];
  // Warm-up (first connection, JIT) is not the attack's effect.
  for (let i = 0; i < 20; i++) {
    await ping();
    await udpAsk(dnsPort, query('nothing.example', 'A'), 2000);
  }
  while (lifetimes.length < CLIENTS && performance.now() - attackStart < 60_000) {
    pings.push(await ping());
    const t = performance.now();
    const a = decode(await udpAsk(dnsPort, query('nothing.example', 'A'), 2000));
    if (a.rcode !== 'REFUSED') throw new Error(`unexpected DNS answer ${a.rcode}`);
    dns.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 10));
  }
  agent.destroy();
  const metrics = await new Promise<string>((resolve) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(text));
    }).end();
  });
  console.log(JSON.stringify({
    clients: CLIENTS,
    headerTimeout: HEADER_TIMEOUT,
    closed: lifetimes.length,
    slowLifetimeMs: { min: Math.round(Math.min(...lifetimes)), p50: Math.round(pct(lifetimes, 50)), max: Math.round(Math.max(...lifetimes)) },
    ping: { samples: pings.length, p50: +pct(pings, 50).toFixed(2), p99: +pct(pings, 99).toFixed(2), max: +Math.max(...pings).toFixed(2) },
    dns: { samples: dns.length, p50: +pct(dns, 50).toFixed(2), p99: +pct(dns, 99).toFixed(2), max: +Math.max(...dns).toFixed(2) },
    refusedTimeouts: Number(/pharos_api_refused_total\{reason="timeout"\} (\d+)/.exec(metrics)?.[1]),
  }, null, 1));
  slow.forEach((s) => s.destroy());
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(dir, { recursive: true, force: true });
}
