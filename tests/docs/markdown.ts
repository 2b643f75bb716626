// Reading the docs as GitHub renders them: which files, which code blocks, which headings, which links.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');

/** README.md and every guide in docs/, as paths relative to the repository root. */
export function docFiles(base = root): string[] {
  const guides = readdirSync(join(base, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...guides];
}

/** Each line outside fenced code blocks, with its text, or '' for a line inside one (so line numbers stay). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split('\n').map((line) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link in a heading keeps its text
    .replace(/<[^>]+>/g, '');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a file offers: its headings' slugs, a repeated slug numbered -1, -2... as GitHub does. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** Every link target written in the file's prose (inline links, images, reference definitions, href/src). */
function linkTargets(markdown: string): string[] {
  // Inline code is not a link: `[a](b)` in backticks stays text.
  const prose = proseLines(markdown)
    .join('\n')
    .replace(/`[^`\n]*`/g, '');
  const inline = [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] ?? '');
  const references = [...prose.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1] ?? '');
  const html = [...prose.matchAll(/\b(?:href|src)="([^"]+)"/g)].map((m) => m[1] ?? '');
  return [...inline, ...references, ...html];
}

/** Relative links in `files` whose target file, or whose `#anchor` in a markdown target, does not exist. */
export function brokenLinks(files: string[], base = root): string[] {
  const broken: string[] = [];
  for (const file of files) {
    const markdown = readFileSync(join(base, file), 'utf8');
    for (const target of linkTargets(markdown)) {
      if (/^[a-z][a-z\d+.-]*:/i.test(target) || target.startsWith('//')) continue; // http:, mailto:...
      const [path = '', anchor] = target.split('#', 2);
      const resolved = path === '' ? join(base, file) : join(base, dirname(file), decodeURIComponent(path));
      const shown = `${file}: ${target}`;
      if (!existsSync(resolved)) {
        broken.push(`${shown} (no file ${relative(base, resolved)})`);
      } else if (anchor !== undefined && resolved.endsWith('.md')) {
        if (!anchorsOf(readFileSync(resolved, 'utf8')).has(decodeURIComponent(anchor)))
          broken.push(`${shown} (no heading #${anchor} in ${relative(base, resolved)})`);
      }
    }
  }
  return broken;
}

/** A fenced ```ts or ```tsx block, with the snippet it is labelled as (`<!-- examples/snippets/x.ts -->`), if any. */
export type CodeBlock = { doc: string; line: number; lang: 'ts' | 'tsx'; snippet: string | undefined; code: string };

export function codeBlocks(doc: string, markdown: string): CodeBlock[] {
  const pattern = /(?:^<!-- examples\/snippets\/([\w.-]+) -->\n)?^```(tsx?)\n([\s\S]*?)^```\s*$/gm;
  return [...markdown.matchAll(pattern)].map((m) => ({
    doc,
    line: markdown.slice(0, m.index).split('\n').length + (m[1] === undefined ? 0 : 1),
    lang: m[2] === 'tsx' ? 'tsx' : 'ts',
    snippet: m[1],
    code: m[3] ?? '',
  }));
}

/** Fences for TypeScript or JavaScript under another name, which the compile check would skip silently. */
export function uncheckedCodeFences(markdown: string): string[] {
  return [...markdown.matchAll(/^```(typescript|javascript|js|jsx|mjs|cjs|mts|cts)\b/gm)].map((m) => m[0]);
}
