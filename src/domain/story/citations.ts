import type { StoryDraft, StoryParagraph, StoryTheme, StoryTimelineEntry } from '../../ai/ai.port.js';

/**
 * The last check before a draft from any provider is saved: a claim stands only if it cites a
 * memory the family can see. Models hallucinate ids, repeat them or cite a memory from another
 * chest; such ids go, and a paragraph, timeline entry or theme left citing nothing goes with them.
 */

export interface CitationReport {
  droppedParagraphs: number;
  droppedTimelineEntries: number;
  droppedThemes: number;
  /** Ids taken out of citations (unknown or repeated), counted in every item, dropped or kept. */
  removedIds: number;
}

export function validateCitations(
  draft: StoryDraft,
  allowedIds: ReadonlySet<string>,
): { draft: StoryDraft; report: CitationReport } {
  const report: CitationReport = { droppedParagraphs: 0, droppedTimelineEntries: 0, droppedThemes: 0, removedIds: 0 };

  const cite = (ids: readonly string[]): string[] => {
    const kept = [...new Set(ids.map((id) => id.trim()).filter((id) => allowedIds.has(id)))];
    report.removedIds += ids.length - kept.length;
    return kept;
  };
  const optional = (text: string | null): string | null => (text?.trim() ? text.trim() : null);

  const paragraphs: StoryParagraph[] = [];
  for (const paragraph of draft.paragraphs) {
    const assetIds = cite(paragraph.assetIds);
    const text = paragraph.text.trim();
    if (text && assetIds.length > 0) paragraphs.push({ text, assetIds });
    else report.droppedParagraphs += 1;
  }

  const timeline: StoryTimelineEntry[] = [];
  for (const entry of draft.timeline) {
    const assetIds = cite(entry.assetIds);
    const date = entry.date.trim();
    const title = entry.title.trim();
    if (date && title && assetIds.length > 0) timeline.push({ date, title, description: optional(entry.description), assetIds });
    else report.droppedTimelineEntries += 1;
  }

  const themes: StoryTheme[] = [];
  for (const theme of draft.themes) {
    const assetIds = cite(theme.assetIds);
    const name = theme.name.trim();
    if (name && assetIds.length > 0) themes.push({ name, description: optional(theme.description), assetIds });
    else report.droppedThemes += 1;
  }

  return {
    draft: { provider: draft.provider, model: draft.model, title: draft.title.trim(), paragraphs, timeline, themes },
    report,
  };
}
