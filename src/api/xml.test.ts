import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XmlError, child, escapeXml, parseXml, writeXml } from './xml.ts';

describe('xml', () => {
  test('reads elements, text, entities, character references, CDATA; drops prefixes and attributes', () => {
    const doc = parseXml(
      '<?xml version="1.0" encoding="UTF-8"?>\n<!-- c --><r:Root xmlns:r="urn:x" a=\'1\'><A>x &amp; y &lt;&#65;&#x42;&gt;&#x1F600;\u{1F601}</A><B/><C><![CDATA[<raw>]]></C></r:Root>',
    );
    assert.equal(doc.name, 'Root');
    assert.equal(child(doc, 'A')?.text, 'x & y <AB>\u{1F600}\u{1F601}');
    assert.deepEqual(child(doc, 'B'), { name: 'B', children: [], text: '' });
    assert.equal(child(doc, 'C')?.text, '<raw>');
  });

  test('refuses what is malformed or dangerous, with a reason, never a crash', () => {
    const cases: [string, RegExp][] = [
      ['', /no root element/],
      ['text', /text outside the root/],
      ['<a>', /not closed/],
      ['<a></b>', /does not match/],
      ['<a/><b/>', /more than one root/],
      ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /document type declarations/],
      ['<a>&x;</a>', /unknown entity/],
      ['<a>&#0;</a>', /unknown entity/],
      ['<a>&amp</a>', /starts no entity/],
      ['<a b=c></a>', /malformed attributes/],
      ['<a', /unterminated start tag/],
      ['<a><!-- x</a>', /unterminated comment/],
      ['<1a/>', /bad element name/],
      ['<a>&#xD800;</a>', /not an XML character/],
      ['<a>&#1;</a>', /not an XML character/],
      ['<a>\u0000</a>', /XML does not allow \(U\+0000\)/],
      ['<a>\uDC00</a>', /XML does not allow \(U\+DC00\)/],
      ['<a>'.repeat(40) + '</a>'.repeat(40), /nested deeper/],
    ];
    for (const [text, reason] of cases) assert.throws(() => parseXml(text), (err: unknown) => err instanceof XmlError && reason.test(err.message), text);
  });

  test('writes objects, lists with member names, dates, booleans; escapes text; round-trips', () => {
    const xml = writeXml(
      { Name: 'a<b>&"c\'', List: ['x', 'y'], When: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), Flag: true, N: 3, Skip: undefined },
      { List: 'Item' },
    );
    assert.equal(xml, '<Name>a&lt;b&gt;&amp;&quot;c&apos;</Name><List><Item>x</Item><Item>y</Item></List><When>2026-01-02T03:04:05.000Z</When><Flag>true</Flag><N>3</N>');
    assert.equal(child(parseXml(`<R>${xml}</R>`), 'Name')?.text, 'a<b>&"c\'');
    assert.equal(escapeXml('plain'), 'plain');
  });
});
