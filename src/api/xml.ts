/**
 * The little XML that REST-XML needs, both ways: a strict reader for request bodies (elements,
 * text, the five predefined entities, character references and CDATA; no DTDs, so no entity
 * expansion to abuse) and a writer for responses. Request bodies are untrusted: every malformed
 * input is an `XmlError`, never a crash, and nesting is bounded.
 */

/** An element: its local name (any `prefix:` dropped), its child elements and its text. */
export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {}

/** Deeper nesting than any Route 53 request has (ChangeResourceRecordSets: 8 levels). */
const MAX_DEPTH = 32;
const NAME = /^[A-Za-z_][\w.:-]*/;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Characters XML 1.0 does not allow in a document (its `Char` production): controls, lone surrogates, U+FFFE/U+FFFF. */
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NOT_XML_CHARS = new RegExp(NOT_XML_CHAR.source, 'g');

/** Parses a document; throws `XmlError` with what is wrong. */
export function parseXml(text: string): XmlElement {
  let i = 0;
  // Once for the document: names and values built from it can then go anywhere (store keys too).
  const bad = NOT_XML_CHAR.exec(text);
  if (bad) throw new XmlError(`a character XML does not allow (U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}) at offset ${bad.index}`);
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (why: string): never => {
    throw new XmlError(`${why} at offset ${i}`);
  };
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt === -1 ? text.slice(i) : text.slice(i, lt);
    if (chunk.length > 0) {
      if (stack.length > 0) stack.at(-1)!.text += decodeEntities(chunk, fail);
      else if (chunk.trim() !== '') fail('text outside the root element');
    }
    if (lt === -1) break;
    i = lt;
    if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i);
      if (end === -1) fail('unterminated processing instruction');
      i = end + 2;
    } else if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i);
      if (end === -1) fail('unterminated comment');
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i);
      if (end === -1) fail('unterminated CDATA section');
      if (stack.length === 0) fail('CDATA outside the root element');
      stack.at(-1)!.text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('<!', i)) {
      fail('document type declarations are not accepted');
    } else if (text.startsWith('</', i)) {
      const end = text.indexOf('>', i);
      if (end === -1) fail('unterminated end tag');
      const name = localName(text.slice(i + 2, end).trim());
      const open = stack.pop();
      if (!open || open.name !== name) fail(`end tag </${name}> does not match <${open?.name ?? ''}>`);
      i = end + 1;
    } else {
      const end = text.indexOf('>', i);
      if (end === -1) fail('unterminated start tag');
      const inner = text.slice(i + 1, end);
      const selfClosing = inner.endsWith('/');
      const m = NAME.exec(inner);
      if (!m) fail('bad element name');
      checkAttributes(inner.slice(m![0].length, selfClosing ? -1 : undefined), fail);
      const el: XmlElement = { name: localName(m![0]), children: [], text: '' };
      if (stack.length > 0) stack.at(-1)!.children.push(el);
      else if (root) fail('more than one root element');
      else root = el;
      if (!selfClosing) {
        stack.push(el);
        if (stack.length > MAX_DEPTH) fail(`elements nested deeper than ${MAX_DEPTH}`);
      }
      i = end + 1;
    }
  }
  if (stack.length > 0) fail(`element <${stack.at(-1)!.name}> is not closed`);
  if (!root) fail('no root element');
  return root!;
}

/** The first child element named `name`. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

function localName(qname: string): string {
  const colon = qname.indexOf(':');
  return colon === -1 ? qname : qname.slice(colon + 1);
}

/** Attributes are allowed (xmlns) but not used: only checked to be well-formed. */
function checkAttributes(text: string, fail: (why: string) => never): void {
  const rest = text.replace(/\s+[A-Za-z_][\w.:-]*\s*=\s*("[^"<]*"|'[^'<]*')/g, '');
  if (rest.trim() !== '') fail('malformed attributes');
}

function decodeEntities(text: string, fail: (why: string) => never): string {
  if (!text.includes('&')) return text;
  return text.replace(/&([^;&\s]{1,10});?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) fail('an & that starts no entity');
    if (ref in ENTITIES) return ENTITIES[ref]!;
    const code = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : ref.startsWith('#') ? parseInt(ref.slice(1), 10) : NaN;
    if (!Number.isInteger(code) || code < 1 || code > 0x10ffff) fail(`unknown entity &${ref};`);
    const char = String.fromCodePoint(code);
    if (NOT_XML_CHAR.test(char)) fail(`character reference &${ref}; is not an XML character`);
    return char;
  });
}

/**
 * Text escaped for element content. A character XML cannot carry at all, not even as a character
 * reference (a control character, a lone surrogate: an error message echoing a query parameter
 * such as `dnsname=%00`), is written as the visible text `\u0000`: a raw one makes the whole
 * response unparsable, so a client would see a parse failure instead of the error.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[<>&"']/g, (c) => `&${c === '<' ? 'lt' : c === '>' ? 'gt' : c === '&' ? 'amp' : c === '"' ? 'quot' : 'apos'};`)
    .replace(NOT_XML_CHARS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Writes `value` as the content of an element: objects as child elements in key order, arrays as
 * repeated `<member>` elements whose name `members` gives for the array's key, dates in ISO 8601,
 * booleans and numbers as text. Undefined members are left out.
 */
export function writeXml(value: unknown, members: Readonly<Record<string, string>>, key = ''): string {
  if (value === undefined || value === null) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const member = members[key] ?? 'member';
    return value.map((v) => `<${member}>${writeXml(v, members, member)}</${member}>`).join('');
  }
  if (typeof value === 'object') {
    let out = '';
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out += `<${k}>${writeXml(v, members, k)}</${k}>`;
    return out;
  }
  return escapeXml(String(value));
}
