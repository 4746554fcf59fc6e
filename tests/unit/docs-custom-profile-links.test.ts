/**
 * The guide around the worked example keeps its links working: every relative link of docs/custom-profile.md and of
 * the example's README reaches a file (and, with a #fragment, a heading of it), and every link from README.md or
 * docs/ into custom-profile.md names one of its headings (their numbers change when sections move). The guide's
 * excerpt of the example's config is the example's own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GUIDE = path.join(REPO, 'docs', 'custom-profile.md');

/** Markdown without its fenced code blocks: links and headings there are text, not links. */
function prose(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
}

/** The anchors GitHub makes of a file's headings: lower case, punctuation dropped, spaces as -, repeats numbered. */
function headingAnchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of prose(file).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Each relative link of a file: its text as written, the file it reaches, and its fragment. */
function links(file: string): Array<{ href: string; target: string; fragment: string | null }> {
  return [...prose(file).matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((href) => !/^[a-z]+:/.test(href))
    .map((href) => {
      const [p, fragment] = href.split('#') as [string, string | undefined];
      return { href, target: p === '' ? file : path.resolve(path.dirname(file), p), fragment: fragment ?? null };
    });
}

function broken(file: string, only?: (target: string) => boolean): string[] {
  return links(file)
    .filter((l) => !only || only(l.target))
    .flatMap((l) => {
      if (!fs.existsSync(l.target)) return [`${path.relative(REPO, file)}: ${l.href}: no such file`];
      if (l.fragment !== null && l.target.endsWith('.md') && !headingAnchors(l.target).has(l.fragment))
        return [`${path.relative(REPO, file)}: ${l.href}: no such heading`];
      return [];
    });
}

describe('links of the guide to your own image', () => {
  it('anchors are made as GitHub makes them', () => {
    const anchors = headingAnchors(GUIDE);
    expect(anchors).toContain('1-a-worked-example-examplescustom');
    expect(anchors).toContain('2-files-of-your-own-overlays');
    expect(anchors).toContain('8-make-an-overlay-by-hand-ailinux-shell---keep');
    expect(anchors).toContain('when-a-hook-fails-fix-it-and-resume');
  });

  it('every link of docs/custom-profile.md and examples/custom/README.md reaches its file and heading', () => {
    expect(links(GUIDE).length).toBeGreaterThan(5);
    expect(broken(GUIDE)).toEqual([]);
    expect(broken(path.join(REPO, 'examples', 'custom', 'README.md'))).toEqual([]);
  });

  it('every link into docs/custom-profile.md from README.md and docs/ names one of its headings', () => {
    const files = [
      path.join(REPO, 'README.md'),
      ...fs
        .readdirSync(path.join(REPO, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(REPO, 'docs', f)),
    ];
    const into = files.flatMap((f) => links(f).filter((l) => l.target === GUIDE && l.fragment !== null));
    expect(into.length).toBeGreaterThanOrEqual(5);
    expect(files.flatMap((f) => broken(f, (target) => target === GUIDE))).toEqual([]);
  });

  it("the guide's excerpt of examples/custom/ailinux.config.yaml says what the file says", () => {
    const file = YAML.parse(
      fs.readFileSync(path.join(REPO, 'examples', 'custom', 'ailinux.config.yaml'), 'utf8'),
    ) as Record<string, unknown>;
    const excerpt = [...fs.readFileSync(GUIDE, 'utf8').matchAll(/^```yaml\n([\s\S]*?)^```$/gm)]
      .map((m) => YAML.parse(m[1]!) as Record<string, unknown>)
      .find((data) => data['name'] === file['name']);
    expect(excerpt, "a yaml block with the example's name").toBeDefined();
    expect(Object.keys(excerpt!).length).toBeGreaterThanOrEqual(8);
    for (const [key, value] of Object.entries(excerpt!)) expect(value, key).toEqual(file[key]);
  });
});
