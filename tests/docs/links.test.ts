import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, docFiles, githubSlug, root } from './markdown';

const read = (file: string) => readFileSync(join(root, file), 'utf8');

describe('links between README.md and docs/*.md', () => {
  it('every relative link reaches an existing file, and every #anchor a heading in it', () => {
    expect(brokenLinks(docFiles())).toEqual([]);
  });

  it('every guide is listed in docs/README.md and linked from README.md', () => {
    const guides = docFiles().filter((f) => f.startsWith('docs/') && f !== 'docs/README.md');
    const index = read('docs/README.md');
    const readme = read('README.md');
    expect(guides.filter((g) => !index.includes(`](${g.slice('docs/'.length)})`))).toEqual([]);
    expect(guides.filter((g) => !readme.includes(`](${g})`))).toEqual([]);
  });

  it('the doc comments in src/ link to headings that exist in the README', () => {
    const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.ts'),
    );
    const anchors = anchorsOf(read('README.md'));
    const links = sources.flatMap((file) =>
      [...read(join('src', file)).matchAll(/npmjs\.com\/package\/trpc-idempotency#([\w-]+)/g)].map((m) => ({
        file,
        anchor: m[1] ?? '',
      })),
    );
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter(({ anchor }) => !anchors.has(anchor))).toEqual([]);
  });
});

describe('the link check itself', () => {
  it('makes anchors as GitHub does', () => {
    expect(githubSlug('Guarantees and failure modes')).toBe('guarantees-and-failure-modes');
    expect(githubSlug('Fetch, and the Next.js App Router')).toBe('fetch-and-the-nextjs-app-router');
    expect(githubSlug('Redis: the store, Cluster and Redlock')).toBe('redis-the-store-cluster-and-redlock');
    expect(githubSlug('The `superjson` option')).toBe('the-superjson-option');
    expect(githubSlug('[Client](client.md) exports')).toBe('client-exports');
    expect([...anchorsOf('# A\n## FAQ\n```bash\n# not a heading\n```\n## FAQ\n')]).toEqual(['a', 'faq', 'faq-1']);
  });

  it('reports a missing file, a missing anchor and a missing same-file anchor, and ignores code and URLs', () => {
    const dir = join(root, '.tmp', 'links-check');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'docs'), { recursive: true });
    writeFileSync(
      join(dir, 'README.md'),
      [
        '# Title',
        '## Kept heading',
        'Fine: [guide](docs/guide.md), [anchor](docs/guide.md#a-section), [here](#kept-heading),',
        '[web](https://example.com/nowhere.md), `[code](docs/nowhere.md)`.',
        'Broken: [file](docs/missing.md), [anchor](docs/guide.md#no-such-section), [here](#gone).',
        '```md',
        '[in a code block](docs/also-missing.md)',
        '```',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'docs', 'guide.md'),
      '# Guide\n\n## A section\n\n[back](../README.md#title) [up](../nope.md)\n',
    );
    expect(brokenLinks(['README.md', 'docs/guide.md'], dir)).toEqual([
      'README.md: docs/missing.md (no file docs/missing.md)',
      'README.md: docs/guide.md#no-such-section (no heading #no-such-section in docs/guide.md)',
      'README.md: #gone (no heading #gone in README.md)',
      'docs/guide.md: ../nope.md (no file nope.md)',
    ]);
  });
});
