/**
 * A small XML well-formedness check for the SVG the inspect renderers make, without a DOM: tags
 * nest and close, attribute values are quoted, and every & in text or attributes starts an entity.
 */
const NAME = '[A-Za-z_][\\w.:-]*';
const TAG = new RegExp(`<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const ATTR = new RegExp(`(${NAME})\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'g');
const ENTITY = /&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);/y;

/** Where an `&` in character data does not start an entity. */
function textProblem(text: string, at: number): string | null {
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) {
    ENTITY.lastIndex = i;
    if (!ENTITY.test(text)) return `a bare & at ${at + i}: ${JSON.stringify(text.slice(i, i + 20))}`;
  }
  return null;
}

/** Null when the text is well-formed XML with one root element, else what is wrong first. */
export function xmlProblem(xml: string): string | null {
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const skip = (open: string, close: string): boolean => {
    if (!xml.startsWith(open, i)) return false;
    const end = xml.indexOf(close, i + open.length);
    i = end < 0 ? -1 : end + close.length;
    return true;
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const text = xml.slice(i, lt < 0 ? xml.length : lt);
    const problem = textProblem(text, i);
    if (problem) return problem;
    if (stack.length === 0 && text.trim() !== '') return `text outside the root element at ${i}`;
    if (lt < 0) break;
    i = lt;
    const start = i;
    if (skip('<!--', '-->') || skip('<![CDATA[', ']]>') || skip('<?', '?>') || skip('<!DOCTYPE', '>')) {
      if (i < 0) return `an unclosed comment, CDATA section, processing instruction or DOCTYPE at ${start}`;
      continue;
    }
    TAG.lastIndex = i;
    const tag = TAG.exec(xml);
    if (!tag) return `a malformed tag at ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`;
    const [whole, closing, name, attributes, selfClosing] = tag;
    for (const a of attributes!.matchAll(ATTR)) {
      const p = textProblem(a[2] ?? a[3] ?? '', i);
      if (p) return `${p} (attribute ${a[1]} of <${name}>)`;
    }
    if (closing) {
      const open = stack.pop();
      if (open !== name) return `</${name}> at ${i} closes ${open ? `<${open}>` : 'nothing'}`;
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
    i += whole!.length;
  }
  if (stack.length > 0) return `<${stack.at(-1)}> is never closed`;
  if (roots !== 1) return `${roots} root elements`;
  return null;
}
