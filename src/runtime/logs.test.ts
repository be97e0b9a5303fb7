import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineSplitter, LogRing, LOG_LINE_MAX_CHARS } from './logs.ts';

describe('LogRing', () => {
  test('keeps the newest lines, oldest first, filtered by container', () => {
    const r = new LogRing(3);
    for (let i = 0; i < 5; i++) r.push({ container: i % 2 ? 'b' : 'a', stream: 'stdout', line: String(i), at: i });
    assert.deepEqual(r.lines().map((l) => l.line), ['2', '3', '4']);
    assert.deepEqual(r.lines('a').map((l) => l.line), ['2', '4']);
  });
});

describe('LineSplitter', () => {
  test('joins chunks, strips CR, flushes the tail and bounds long lines', () => {
    const out: string[] = [];
    const s = new LineSplitter((l) => out.push(l));
    s.write('hel');
    s.write('lo\r\nwor');
    s.write('ld\n\npartial');
    s.end();
    assert.deepEqual(out, ['hello', 'world', '', 'partial']);
    out.length = 0;
    s.write('x'.repeat(LOG_LINE_MAX_CHARS * 2 + 10));
    s.end();
    assert.deepEqual(out.map((l) => l.length), [LOG_LINE_MAX_CHARS, LOG_LINE_MAX_CHARS, 10]);
    out.length = 0;
    s.write(`${'y'.repeat(LOG_LINE_MAX_CHARS + 5)}\n`);
    assert.deepEqual(out.map((l) => l.length), [LOG_LINE_MAX_CHARS + 1], 'a complete long line is cut and marked');
    out.length = 0;
    const bytes = Buffer.from('héllo wörld\n');
    for (let i = 0; i < bytes.length; i++) s.write(bytes.subarray(i, i + 1));
    assert.deepEqual(out, ['héllo wörld'], 'multi-byte characters split across chunks');
  });
});
