import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PharosError } from '../lib/index.ts';
import { AGENT_USAGE, credentialsFromEnv, parseAgentArgs } from './agent.ts';

describe('pharos agent flags', () => {
  test('defaults keep an agent apart from a server on the same machine', () => {
    const parsed = parseAgentArgs([], {});
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.config.servers, ['http://127.0.0.1:7700']);
    assert.equal(parsed.config.taskBridge, 'pharosagent0');
    assert.equal(parsed.config.taskCidr, '198.19.0.0/16', 'not the server default 198.18.0.0/16');
    assert.deepEqual(parsed.config.attributes, []);
    assert.equal(parsed.config.runtime, 'auto', 'as the server: containers when an engine answers');
    assert.equal(parsed.config.containerEngine, undefined);
  });

  test('the container runtime and its engine are chosen as on the server', () => {
    const parsed = parseAgentArgs(['--runtime', 'container'], { PHAROS_CONTAINER_ENGINE: 'unix:///run/x/podman.sock' });
    assert.ok(!parsed.help);
    assert.equal(parsed.config.runtime, 'container');
    assert.equal(parsed.config.containerEngine, 'unix:///run/x/podman.sock');
  });

  test('flags win over PHAROS_* variables; lists and attributes are parsed', () => {
    const parsed = parseAgentArgs(['--server', 'http://10.0.0.1:7700,https://10.0.0.2:7700', '--attributes=ecs.availability-zone=us-east-1b,gpu'], {
      PHAROS_SERVERS: 'http://ignored:1',
      PHAROS_CLUSTER: 'prod',
      PHAROS_TASK_BRIDGE: 'ph110x0',
    });
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.config.servers, ['http://10.0.0.1:7700', 'https://10.0.0.2:7700']);
    assert.equal(parsed.config.cluster, 'prod');
    assert.equal(parsed.config.taskBridge, 'ph110x0');
    assert.deepEqual(parsed.config.attributes, [{ name: 'ecs.availability-zone', value: 'us-east-1b' }, { name: 'gpu' }]);
  });

  test('bad values name the flag or variable', () => {
    const bad: [string[], Record<string, string>, RegExp][] = [
      [['--server', 'ftp://x'], {}, /--server: ftp:\/\/x: only http and https/],
      [['--server', ','], {}, /--server: at least one URL/],
      [['--task-bridge', 'a-very-long-bridge-name'], {}, /--task-bridge: .* is not an interface name/],
      [[], { PHAROS_TASK_CIDR: '10.0.0.0/33' }, /PHAROS_TASK_CIDR/],
      [['--runtime', 'docker'], {}, /--runtime: must be one of auto, container, process/],
      [['--container-engine', 'ftp://x'], {}, /--container-engine/],
      [['--container-engine', 'tcp://127.0.0.1:0'], {}, /port from 1 to 65535/],
      [['--container-engine', 'tcp://127.0.0.1:70000'], {}, /--container-engine/],
      [['--attributes', 'bad name=1'], {}, /--attributes: bad attribute name/],
      [['--cluster', 'a/b'], {}, /--cluster: must be up to 255/],
      [['--nope'], {}, /unknown flag --nope/],
    ];
    for (const [argv, env, message] of bad) {
      assert.throws(() => parseAgentArgs(argv, env), (err: unknown) => err instanceof PharosError && message.test(err.message), argv.join(' ') || JSON.stringify(env));
    }
    assert.deepEqual(parseAgentArgs(['--help'], {}), { help: true });
    assert.match(AGENT_USAGE, /--task-bridge <name>/);
  });

  test('credentials come from the AWS variables, as the AWS CLI reads them', () => {
    assert.equal(credentialsFromEnv({}), undefined);
    assert.equal(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'k' }), undefined);
    assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's' }), { accessKeyId: 'k', secretAccessKey: 's' });
    assert.deepEqual(credentialsFromEnv({ AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't' }), { accessKeyId: 'k', secretAccessKey: 's', sessionToken: 't' });
  });
});
