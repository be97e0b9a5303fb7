import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, SETTINGS, defaultConfig, parseDuration, parseHostPort, parseServerArgs, serverUsage, type ServerConfig } from './config.ts';
import { autoDnsWorkers } from '../dns/index.ts';

function parse(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const r = parseServerArgs(argv, env);
  assert.equal(r.help, false);
  return (r as { config: ServerConfig }).config;
}

describe('config table', () => {
  test('defaults', () => {
    const c = defaultConfig();
    assert.deepEqual(c.apiAddr, { host: '127.0.0.1', port: 7700 });
    assert.deepEqual(c.dnsAddr, { host: '127.0.0.1', port: 7753 });
    assert.equal(c.dataDir, './.pharos');
    assert.equal(c.store, 'sqlite:.pharos/pharos.db');
    assert.equal(c.region, 'us-east-1');
    assert.equal(c.accountId, '000000000000');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.opDelayMs, 0);
    assert.equal(c.customHealthDelayMs, 0);
    assert.equal(c.healthIntervalMs, 5000);
    assert.equal(c.dnsForward, undefined);
    assert.equal(c.dnsMaxAnswers, 8);
    assert.equal(c.taskCidr, '198.18.0.0/16');
    assert.equal(c.maxNamespaces, 50);
    assert.equal(c.maxInstancesPerNamespace, 2000);
    assert.equal(c.maxInstancesPerService, 1000);
  });

  test('every row has a flag, a PHAROS_ env var and help, and appears in --help', () => {
    const usage = serverUsage();
    for (const s of SETTINGS) {
      assert.match(s.flag, /^--[a-z-]+$/);
      assert.equal(s.env, `PHAROS_${s.flag.slice(2).toUpperCase().replaceAll('-', '_')}`);
      assert.ok(s.help.length > 10, s.flag);
      assert.ok(usage.includes(s.flag) && usage.includes(s.env), s.flag);
    }
  });

  test('flags win over env, env over defaults; --flag=value and --flag value', () => {
    const c = parse(['--api-addr', '127.0.0.1:0', '--region=eu-west-1'], { PHAROS_REGION: 'us-west-2', PHAROS_ACCOUNT_ID: '123456789012' });
    assert.deepEqual(c.apiAddr, { host: '127.0.0.1', port: 0 });
    assert.equal(c.region, 'eu-west-1');
    assert.equal(c.accountId, '123456789012');
  });

  test('--node-name: auto (the server id, resolved at start) or a name', () => {
    assert.equal(parse([]).nodeName, undefined);
    assert.equal(parse(['--node-name', 'auto']).nodeName, undefined);
    assert.equal(parse(['--node-name', 'web-1.rack_2']).nodeName, 'web-1.rack_2');
    assert.equal(parse([], { PHAROS_NODE_NAME: 'b' }).nodeName, 'b');
  });

  test('the store default follows --data-dir', () => {
    assert.equal(parse(['--data-dir', '/tmp/x']).store, 'sqlite:/tmp/x/pharos.db');
    assert.equal(parse(['--data-dir', '/tmp/x', '--store', 'sqlite:/y.db']).store, 'sqlite:/y.db');
    assert.equal(parse([], { PHAROS_DATA_DIR: '/d' }).store, 'sqlite:/d/pharos.db');
  });

  test('durations, quotas, forwarder, IPv6 address', () => {
    const c = parse([
      '--op-delay', '500ms', '--custom-health-delay', '30s', '--health-interval', '1m',
      '--max-instances-per-service', '100000', '--dns-forward', '127.0.0.53', '--dns-addr', '[::1]:0',
    ]);
    assert.equal(c.opDelayMs, 500);
    assert.equal(c.customHealthDelayMs, 30_000);
    assert.equal(c.healthIntervalMs, 60_000);
    assert.equal(c.maxInstancesPerService, 100_000);
    assert.deepEqual(c.dnsForward, { host: '127.0.0.53', port: 53 });
    assert.deepEqual(c.dnsAddr, { host: '::1', port: 0 });
  });

  test('--dns-workers: a count, or auto = cores - 1 (at least 1)', () => {
    assert.equal(parse([]).dnsWorkers, 1);
    assert.equal(parse(['--dns-workers', '3']).dnsWorkers, 3);
    assert.equal(parse(['--dns-workers', 'auto']).dnsWorkers, autoDnsWorkers());
    assert.equal(autoDnsWorkers(8), 7);
    assert.equal(autoDnsWorkers(1), 1);
  });

  test('--help', () => {
    assert.deepEqual(parseServerArgs(['--region', 'us-east-1', '--help']), { help: true });
    assert.deepEqual(parseServerArgs(['-h']), { help: true });
  });

  const bad: [string[], Record<string, string>, RegExp][] = [
    [['--nope'], {}, /unknown flag --nope/],
    [['stray'], {}, /unexpected argument "stray"/],
    [['--api-addr'], {}, /--api-addr needs a value/],
    [['--api-addr', 'localhost'], {}, /--api-addr: .*no port/],
    [['--api-addr', '127.0.0.1:99999'], {}, /--api-addr: port 99999 is out of range/],
    [['--op-delay', '5'], {}, /--op-delay: "5" is not a duration/],
    [['--op-delay', 'soon'], {}, /not a duration/],
    [['--account-id', '42'], {}, /--account-id: "42" is not a 12-digit account id/],
    [['--region', 'Mars'], {}, /--region/],
    [['--log-level', 'loud'], {}, /--log-level: "loud" is not a log level/],
    [['--max-namespaces', '0'], {}, /--max-namespaces/],
    [['--max-namespaces', '1.5'], {}, /--max-namespaces/],
    [['--dns-forward', 'example.com'], {}, /--dns-forward: .*IP address/],
    [['--task-cidr', '198.18.0.0'], {}, /--task-cidr/],
    [['--store', 'mysql://x'], {}, /--store: .*not a store URL/],
    [['--dns-workers', '0'], {}, /--dns-workers: "0" is not a whole number in 1-64/],
    [['--dns-workers', 'many'], {}, /--dns-workers/],
    [[], { PHAROS_OP_DELAY: 'forever' }, /PHAROS_OP_DELAY: "forever" is not a duration/],
    [['--node-name', 'two words'], {}, /--node-name: "two words" is not a node name/],
    [['--node-name', '-x'], {}, /--node-name: "-x" is not a node name/],
    [['--node-name', 'n'.repeat(64)], {}, /--node-name: .* is not a node name/],
    [[], { PHAROS_NODE_NAME: '0123456789abcdef0123456789abcdef' }, /PHAROS_NODE_NAME: .*agent's container instance id/],
  ];
  for (const [argv, env, message] of bad) {
    test(`rejects ${JSON.stringify(argv)} ${JSON.stringify(env)}`, () => {
      assert.throws(() => parseServerArgs(argv, env), (err: unknown) => err instanceof ConfigError && message.test(err.message));
    });
  }

  test('parseDuration and parseHostPort', () => {
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.deepEqual(parseHostPort('[::]:53'), { host: '::', port: 53 });
    assert.deepEqual(parseHostPort('localhost:7700'), { host: 'localhost', port: 7700 });
  });
});
