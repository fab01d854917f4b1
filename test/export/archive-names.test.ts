import { describe, expect, it } from 'vitest';
import { FileType } from '../../src/db/enums.js';
import { entryUrl, escapeHtml, storyMarkdown } from '../../src/domain/export/archive-pages.js';
import { ArchiveNames, safeSegment } from '../../src/domain/export/archive-names.js';
import type { ChestRecord } from '../../src/domain/export/chest-record.js';

const photo = (over: Partial<{ dateTaken: Date | null; caption: string | null; filename: string }> = {}) => ({
  dateTaken: new Date('1987-06-12T15:00:00Z'),
  caption: null,
  filename: 'IMG_0001.JPG',
  fileType: FileType.IMAGE,
  mimeType: 'image/jpeg',
  ...over,
});

describe('archive entry names', () => {
  it('are the date and the caption, or the file name without its extension', () => {
    const names = new ArchiveNames();
    expect(names.memory('memories', photo({ caption: 'Whitby beach' }), 'jpg')).toBe('memories/1987-06-12 Whitby beach.jpg');
    expect(names.memory('memories', photo({ dateTaken: null, filename: 'Voice memo.m4a' }), 'm4a')).toBe('memories/undated Voice memo.m4a');
  });

  it('without the file name (an export without locations): the date and the kind when there is no caption', () => {
    const names = new ArchiveNames();
    expect(names.memory('memories', photo({ filename: '12 Rosebank Lane.jpg' }), 'jpg', false)).toBe('memories/1987-06-12 photo.jpg');
    expect(names.memory('memories', { ...photo({ dateTaken: null, filename: 'Harbour Street.wav' }), fileType: FileType.AUDIO, mimeType: 'audio/wav' }, 'm4a', false)).toBe('memories/undated recording.m4a');
    expect(names.memory('memories', { ...photo({ dateTaken: null, filename: 'Elm Street.mov' }), fileType: FileType.AUDIO, mimeType: 'audio/wav' }, 'm4a', false)).toBe('memories/undated recording (2).m4a');
    expect(names.memory('memories', photo({ caption: 'Whitby beach', filename: '12 Rosebank Lane.jpg' }), 'jpg', false)).toBe('memories/1987-06-12 Whitby beach.jpg');
  });

  it('are unique without regard to case', () => {
    const names = new ArchiveNames();
    const a = names.memory('memories', photo({ caption: 'Beach' }), 'jpg');
    const b = names.memory('memories', photo({ caption: 'beach' }), 'jpg');
    const c = names.memory('memories', photo({ caption: 'Beach' }), 'jpg');
    expect([a, b, c]).toEqual(['memories/1987-06-12 Beach.jpg', 'memories/1987-06-12 beach (2).jpg', 'memories/1987-06-12 Beach (3).jpg']);
  });

  it('never leave their folder nor hold characters an unzip tool or a filesystem refuses', () => {
    const names = new ArchiveNames();
    for (const caption of ['../../etc/passwd', '..\\..\\windows\\system32', '/absolute/path', 'C:\\autoexec.bat', '.hidden', 'a\u0000b\u001fc', 'what? *really* <no> "quotes" | pipes: yes', '\uD800 lone surrogate', '   ']) {
      const name = names.memory('memories', photo({ caption }), 'jpg');
      const segment = name.slice('memories/'.length);
      expect(name.startsWith('memories/1987-06-12'), caption).toBe(true);
      expect(segment, caption).not.toMatch(/[/\\:*?"<>|\u0000-\u001f]|\.\./);
      expect(segment.startsWith('.'), caption).toBe(false);
    }
    expect(safeSegment('x'.repeat(500)).length).toBe(500);
    expect(names.memory('memories', photo({ caption: 'x'.repeat(500) }), 'jpg').length).toBeLessThan(100);
  });
});

describe('archive pages', () => {
  it('escape every user text in HTML and Markdown, and percent-encode entry paths', () => {
    expect(escapeHtml(`<img src=x onerror="alert('1')">&`)).toBe('&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;');
    expect(entryUrl('memories/1987 #1 50% ?.jpg')).toBe('memories/1987%20%231%2050%25%20%3F.jpg');
    const record = { chest: { personName: 'Rose *Ellis*', birthDate: null, passingDate: null } } as unknown as ChestRecord;
    const md = storyMarkdown(record, { title: '# Not a heading', paragraphs: [{ text: '<b>[link](javascript:x)</b>', assetIds: [] }], content: '' } as never);
    expect(md).toBe('# \\# Not a heading\n\n*Rose \\*Ellis\\**\n\n\\<b\\>\\[link\\](javascript:x)\\</b\\>\n');
  });
});
