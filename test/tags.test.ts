/**
 * Tag keys and values hold only AWS's tag characters (letters, numbers and spaces of any script,
 * and `_ . : / = + - @`): a control character is refused with Cloud Map's InvalidInput or ECS's
 * InvalidParameterException, naming the field, on every way in (create, TagResource, UntagResource),
 * through the real AWS SDK over HTTP (docs/compatibility.md#tags).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ECS } from '@aws-sdk/client-ecs';
import { ecsClient, httpNamespace, rejectsWith, startTestServer, type TestServer } from './helpers.ts';

/** Characters AWS's tag rules refuse: C0 controls, DEL, C1 controls, a symbol, other punctuation. */
const BAD = ['a\tb', 'line\nbreak', 'nul\u0000', 'bell\u0007', 'del\u007f', 'c1\u0085', 'emoji\u{1F600}', 'semi;colon'];
/** What they allow: letters and numbers of any script, spaces, `_ . : / = + - @`, an empty value. */
const GOOD = [{ Key: 'team', Value: '' }, { Key: 'Ünïcödé 日本 ١٢٣', Value: 'a_b.c:d/e=f+g-h@i j' }];

describe('tag characters', () => {
  let server: TestServer;
  let ecs: ECS;
  let nsArn: string;
  let clusterArn: string;

  before(async () => {
    server = await startTestServer();
    ecs = ecsClient(server.apiUrl);
    const nsId = await httpNamespace(server.sd, 'tags-ns');
    nsArn = (await server.sd.getNamespace({ Id: nsId })).Namespace!.Arn!;
    clusterArn = (await ecs.createCluster({ clusterName: 'tags' })).cluster!.clusterArn!;
  });

  after(async () => {
    ecs?.destroy();
    await server?.destroy();
  });

  test('Cloud Map: allowed characters are stored and listed back', async () => {
    await server.sd.tagResource({ ResourceARN: nsArn, Tags: GOOD });
    const { Tags } = await server.sd.listTagsForResource({ ResourceARN: nsArn });
    assert.deepEqual(Tags, GOOD);
  });

  for (const bad of BAD) {
    test(`Cloud Map: ${JSON.stringify(bad)} is InvalidInput as a key or value, on create, tag and untag`, async () => {
      const key = await rejectsWith(() => server.sd.tagResource({ ResourceARN: nsArn, Tags: [{ Key: bad, Value: 'v' }] }), 'InvalidInput');
      assert.match(key.message, /Tags\[0\]\.Key: must match letters, numbers, spaces and _ \. : \/ = \+ - @ only/);
      const value = await rejectsWith(() => server.sd.tagResource({ ResourceARN: nsArn, Tags: [{ Key: 'k', Value: bad }] }), 'InvalidInput');
      assert.match(value.message, /Tags\[0\]\.Value/);
      await rejectsWith(() => server.sd.createHttpNamespace({ Name: `bad-${BAD.indexOf(bad)}`, Tags: [{ Key: 'k', Value: bad }] }), 'InvalidInput');
      await rejectsWith(() => server.sd.untagResource({ ResourceARN: nsArn, TagKeys: [bad] }), 'InvalidInput');
    });
  }

  test('Cloud Map: nothing refused was stored', async () => {
    const { Tags } = await server.sd.listTagsForResource({ ResourceARN: nsArn });
    assert.deepEqual(Tags, GOOD);
    const { Namespaces } = await server.sd.listNamespaces({});
    assert.deepEqual(Namespaces?.map((n) => n.Name), ['tags-ns']);
  });

  test('ECS: allowed characters are stored and listed back', async () => {
    const tags = GOOD.map((t) => ({ key: t.Key, value: t.Value }));
    await ecs.tagResource({ resourceArn: clusterArn, tags });
    assert.deepEqual((await ecs.listTagsForResource({ resourceArn: clusterArn })).tags, tags);
  });

  for (const bad of BAD) {
    test(`ECS: ${JSON.stringify(bad)} is InvalidParameterException as a key or value, on create, tag and untag`, async () => {
      const key = await rejectsWith(() => ecs.tagResource({ resourceArn: clusterArn, tags: [{ key: bad, value: 'v' }] }), 'InvalidParameterException');
      assert.match(key.message, /tags\[0\]\.key may contain only letters, numbers, spaces and _ \. : \/ = \+ - @\./);
      await rejectsWith(() => ecs.tagResource({ resourceArn: clusterArn, tags: [{ key: 'k', value: bad }] }), 'InvalidParameterException');
      await rejectsWith(() => ecs.createCluster({ clusterName: `bad-${BAD.indexOf(bad)}`, tags: [{ key: 'k', value: bad }] }), 'InvalidParameterException');
      await rejectsWith(() => ecs.untagResource({ resourceArn: clusterArn, tagKeys: [bad] }), 'InvalidParameterException');
    });
  }

  test('ECS: nothing refused was stored', async () => {
    assert.deepEqual((await ecs.listTagsForResource({ resourceArn: clusterArn })).tags, GOOD.map((t) => ({ key: t.Key, value: t.Value })));
    assert.deepEqual((await ecs.listClusters({})).clusterArns, [clusterArn]);
  });
});
