import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Dependencies run one way (DESIGN.md §2): domain/ uses ai/, never the reverse. A rule of the
 * story domain (e.g. which citations stand) lives in domain/story, and a provider that needs such a
 * rule gets it as data, not as an import.
 */

const SRC = resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.ts$/.test(entry.name) ? [path] : [];
  });
}

describe('the ai layer', () => {
  it('imports nothing from domain/ or graphql/', () => {
    const offending: string[] = [];
    for (const file of sources(join(SRC, 'ai'))) {
      for (const match of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = match[1] ?? '';
        if (!spec.startsWith('.')) continue;
        const target = relative(SRC, resolve(dirname(file), spec));
        if (/^(domain|graphql)\//.test(target)) offending.push(`${relative(SRC, file)} -> ${target}`);
      }
    }
    expect(offending).toEqual([]);
  });

  it('finds the ai sources it checks', () => {
    expect(sources(join(SRC, 'ai')).map((f) => relative(SRC, f))).toContain('ai/openai/story.ts');
  });
});
