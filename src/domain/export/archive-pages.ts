import { type ChestRecord, entryBaseName, type MemoryRecord, type StoryRecord } from './chest-record.js';

/**
 * The archive's human side: index.html (the whole chest, offline, in any browser: no script, no
 * network, every style inline, every picture a relative path inside the ZIP), and the published
 * story as story.md and story.html. All of it is plain HTML written here, so every user text
 * goes through escapeHtml (a caption "<script>" shows as text).
 */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A relative URL to an entry of the archive: each path segment percent-encoded (spaces, "#", "?"). */
export function entryUrl(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

const STYLE = `body{font-family:Georgia,serif;max-width:72rem;margin:0 auto;padding:1.5rem;color:#222;background:#fbf8f3}
h1{font-size:2.2rem;margin:.2rem 0}header p{color:#555}section{margin:2rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem}
figure{margin:0;background:#fff;border:1px solid #e4ddd0;border-radius:6px;padding:.5rem}
figure img{width:100%;height:12rem;object-fit:cover;border-radius:4px;display:block}
figcaption{font-size:.9rem;margin-top:.4rem}figcaption small{color:#777;display:block}
audio,video{width:100%}.story p{line-height:1.6;font-size:1.1rem}.hero{max-width:100%;max-height:24rem;border-radius:6px}
nav a{margin-right:.6rem}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="script-src 'none'; object-src 'none'; connect-src 'none'; form-action 'none'">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>
`;
}

const lifeDates = (r: ChestRecord): string => [r.chest.birthDate, r.chest.passingDate].filter(Boolean).join(' – ');

function memoryFigure(m: MemoryRecord, includeLocation: boolean): string {
  const href = entryUrl(m.file.path);
  // Without locations never the uploaded name (chest.json already holds the entry's there; this says so twice).
  const caption = m.caption ?? (includeLocation ? m.filename : entryBaseName(m.file.path));
  const when = [m.dateTaken?.slice(0, 10), m.place].filter(Boolean).join(' · ');
  let media: string;
  if (m.fileType === 'IMAGE' || (m.fileType === 'VIDEO' && m.file.thumbnail)) {
    const src = entryUrl(m.file.thumbnail ?? m.file.path);
    media = `<a href="${href}"><img src="${src}" alt="${escapeHtml(caption)}" loading="lazy"></a>`;
    if (m.fileType === 'VIDEO') media += `<a href="${href}">Play the film</a>`;
  } else if (m.fileType === 'AUDIO') {
    media = `<audio controls preload="none" src="${href}"></audio>`;
  } else {
    media = `<a href="${href}">Open the ${m.fileType === 'DOCUMENT' ? 'document' : 'file'}</a>`;
  }
  const transcript = m.transcription?.text ? `<details><summary>Transcript</summary><p>${escapeHtml(m.transcription.text)}</p></details>` : '';
  return `<figure>${media}<figcaption>${escapeHtml(caption)}${when ? `<small>${escapeHtml(when)}</small>` : ''}${transcript}</figcaption></figure>`;
}

function storyHtml(story: StoryRecord): string {
  const paragraphs = story.paragraphs.length ? story.paragraphs.map((p) => p.text) : story.content.split(/\n{2,}/);
  return `<h2>${escapeHtml(story.title)}</h2>${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}`;
}

/** The published story; null when none is published (story.md and story.html are then left out). */
export function storyToTell(r: ChestRecord): StoryRecord | null {
  return r.stories.find((s) => s.id === r.chest.publishedStoryId) ?? null;
}

/** index.html: who, the story, then every memory by year (undated last). */
export function indexHtml(r: ChestRecord): string {
  const byYear = new Map<string, MemoryRecord[]>();
  for (const m of r.memories) {
    const year = m.dateTaken?.slice(0, 4) ?? 'Undated';
    byYear.set(year, [...(byYear.get(year) ?? []), m]);
  }
  const years = [...byYear.keys()].sort((a, b) => (a === 'Undated' ? 1 : b === 'Undated' ? -1 : a.localeCompare(b)));
  const hero = r.memories.find((m) => m.id === r.chest.heroImageId) ?? r.memories.find((m) => m.fileType === 'IMAGE');
  const story = storyToTell(r);
  const body = `<header><h1>${escapeHtml(r.chest.personName)}</h1>
${lifeDates(r) ? `<p class="dates">${escapeHtml(lifeDates(r))}</p>` : ''}
${r.chest.description ? `<p>${escapeHtml(r.chest.description)}</p>` : ''}
${hero ? `<img class="hero" src="${entryUrl(hero.file.thumbnail ?? hero.file.path)}" alt="${escapeHtml(hero.caption ?? r.chest.personName)}">` : ''}
<nav>${years.map((y) => `<a href="#y-${escapeHtml(y)}">${escapeHtml(y)}</a>`).join('')}${story ? '<a href="story.html">The story</a>' : ''}<a href="chest.json">All records (chest.json)</a></nav></header>
${story ? `<section class="story">${storyHtml(story)}</section>` : ''}
<section><h2>Timeline</h2>
${years.map((y) => `<h3 id="y-${escapeHtml(y)}">${escapeHtml(y)} <small>(${byYear.get(y)!.length})</small></h3><div class="grid">${byYear.get(y)!.map((m) => memoryFigure(m, r.includeLocation)).join('\n')}</div>`).join('\n')}
</section>
<footer><p>Exported ${escapeHtml(r.exportedAt.slice(0, 10))} from Digital Memory Chest (${escapeHtml(r.format)}).</p></footer>`;
  return page(r.chest.personName, body);
}

/** story.html: the published story alone. */
export function storyPage(r: ChestRecord, story: StoryRecord): string {
  return page(story.title, `<header><h1>${escapeHtml(r.chest.personName)}</h1><p><a href="index.html">The whole chest</a></p></header><section class="story">${storyHtml(story)}</section>`);
}

/** story.md: the published story as Markdown, its text escaped so nothing in it becomes markup. */
export function storyMarkdown(r: ChestRecord, story: StoryRecord): string {
  const md = (t: string) => t.replace(/([\\`*_{}[\]<>#|])/g, '\\$1');
  const paragraphs = story.paragraphs.length ? story.paragraphs.map((p) => p.text) : story.content.split(/\n{2,}/);
  return `# ${md(story.title)}\n\n*${md(r.chest.personName)}${lifeDates(r) ? `, ${md(lifeDates(r))}` : ''}*\n\n${paragraphs.map(md).join('\n\n')}\n`;
}
