import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The documentation holds together: README.md is the front door (small, linking on), every page in
 * docs/ has a table of contents, every relative link reaches a file of the repository and, with
 * #anchor, a heading there (GitHub's slugs), and nothing sends a reader outside the repository.
 *
 * The rule for addresses: a markdown link or autolink must be relative, or a loopback URL (the
 * server the reader just started). A URL outside code must be loopback too. Inside code (a fenced
 * block or a `span`) a URL is a configuration value or a command, so it may name loopback, a
 * placeholder host (no dot: `host`, a compose service), an `example.*` domain, or one of the few
 * real endpoints below, each there for a reason; nothing else.
 */
const root = resolve(__dirname, '..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

/** Endpoints that are configuration values in code, not navigation. */
const DOCUMENTED_ENDPOINTS = [
  'api.openai.com', // OPENAI_BASE_URL's default
  's3.', // AWS S3's regional endpoint, written `https://s3.<region>.amazonaws.com`
  'github.com/ggml-org/whisper.cpp', // where whisper.cpp's source is cloned from to build it
];

interface Heading { level: number; text: string; slug: string }

/** Text outside fenced code blocks, line by line (fences replaced by blank lines). */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*```/.test(line)) { fenced = !fenced; return ''; }
    return fenced ? '' : line;
  });
}

/** Fenced code blocks and `code spans`: where configuration values live. */
function code(markdown: string): string {
  const blocks = [...markdown.matchAll(/^\s*```[^\n]*\n([\s\S]*?)^\s*```/gm)].map((m) => m[1] ?? '');
  const spans = prose(markdown).flatMap((line) => [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''));
  return [...blocks, ...spans].join('\n');
}

/** GitHub's heading anchors: inline markup dropped, lower case, punctuation removed, spaces to hyphens, repeats numbered. */
function headings(markdown: string): Heading[] {
  const seen = new Map<string, number>();
  return prose(markdown).flatMap((line) => {
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) return [];
    const text = (m[2] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*_]/g, (c) => (c === '_' ? c : ''));
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return [{ level: (m[1] ?? '').length, text, slug: n === 0 ? base : `${base}-${n}` }];
  });
}

/** Markdown link targets and autolinks outside code. */
function links(markdown: string): string[] {
  return prose(markdown).flatMap((line) => {
    const bare = line.replace(/`[^`]*`/g, '');
    return [
      ...[...bare.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? ''),
      ...[...bare.matchAll(/<((?:https?|ftp|mailto):[^>]+)>/g)].map((m) => m[1] ?? ''),
    ];
  });
}

const isLoopback = (url: string): boolean => /^(?:https?|wss?):\/\/(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:\/|$)/.test(url);

describe('documentation', () => {
  it('has the pages the README sends readers to, each with a table of contents first', () => {
    expect(pages.length).toBeGreaterThan(8);
    for (const page of pages.filter((p) => p.startsWith('docs/'))) {
      const hs = headings(read(page));
      expect(hs[0]?.level, `${page} starts with its title`).toBe(1);
      expect(hs[1]?.text, `${page} has a table of contents first`).toBe('Contents');
      const toc = read(page).split(/^## Contents$/m)[1]?.split(/^## /m)[0] ?? '';
      const listed = [...toc.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1] ?? '');
      const sections = hs.filter((h) => h.level === 2 && h.text !== 'Contents').map((h) => h.slug);
      expect(listed.filter((s) => sections.includes(s)), `${page}'s contents list every section`).toEqual(sections);
    }
  });

  it('keeps the README a front door: small, with the two commands and links into docs/', () => {
    const readme = read('README.md');
    expect(statSync(join(root, 'README.md')).size).toBeLessThan(12 * 1024);
    expect(readme).toContain('npm install && npm start');
    expect(readme).toContain('npm test');
    const intoDocs = links(readme).filter((l) => l.startsWith('docs/')).map((l) => l.split('#')[0]);
    for (const page of pages.filter((p) => p.startsWith('docs/'))) expect(intoDocs, `README links to ${page}`).toContain(page);
  });

  it('resolves every relative link to a file of the repository and every #anchor to a heading there', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const target of links(read(page))) {
        if (/^[a-z]+:/i.test(target)) continue; // addresses: the next test
        const [path, anchor] = target.split('#');
        const file = path === '' ? join(root, page) : resolve(dirname(join(root, page)), decodeURI(path ?? ''));
        if (relative(root, file).startsWith('..') || !existsSync(file)) { broken.push(`${page}: ${target} (no such file in the repository)`); continue; }
        if (anchor !== undefined && file.endsWith('.md') && !headings(readFileSync(file, 'utf8')).some((h) => h.slug === anchor)) {
          broken.push(`${page}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('sends no reader outside the repository', () => {
    const outside: string[] = [];
    for (const page of pages) {
      const markdown = read(page);
      for (const target of links(markdown)) if (/^[a-z]+:/i.test(target) && !isLoopback(target)) outside.push(`${page}: link ${target}`);
      const proseUrls = prose(markdown).flatMap((line) => [...line.replace(/`[^`]*`/g, '').matchAll(/\b(?:https?|wss?):\/\/[^\s)>\]]+/g)].map((m) => m[0]));
      for (const url of proseUrls) if (!isLoopback(url)) outside.push(`${page}: ${url} outside code`);
      // A comma ends a URL: lists of origins (CORS_ORIGINS) are comma-separated.
      for (const [url, host] of [...code(markdown).matchAll(/\b(?:https?|wss?):\/\/([^\s`'")<>,]+)/g)].map((m) => [m[0], m[1] ?? ''] as const)) {
        const name = host.split(/[:/]/)[0] ?? '';
        const allowed = isLoopback(url) || !name.includes('.') || /(^|\.)example\.(org|com|net)$/.test(name)
          || DOCUMENTED_ENDPOINTS.some((e) => host.startsWith(e));
        if (!allowed) outside.push(`${page}: ${url} in code`);
      }
    }
    expect(outside).toEqual([]);
  });
});
