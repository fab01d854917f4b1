import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset, type Chest, Contribution, DuplicateDismissal, Face, Person, Story } from '../../db/entities/index.js';
import { ContributionStatus, StoryStatus } from '../../db/enums.js';
import { VISIBLE_ASSET_FILTER } from '../asset/asset.queries.js';
import { type ContributorNameKey, contributorKind, loadContributorNames } from '../duplicates/contributors.js';

/** The version of chest.json: readers refuse a format they do not know (domain/export/import). */
export const ARCHIVE_FORMAT = 'digital-memory-chest/1';

/** Where one memory's files are in the archive. */
export interface ArchiveFile {
  /** The original (GPS removed when the export leaves locations out): "memories/1987-06-12 Whitby beach.jpg". */
  path: string;
  size: number;
  /** SHA-256 of the bytes at `path`, hex: the original's own unless its location was removed. */
  sha256: string;
  /** The largest thumbnail or poster, for index.html; null for recordings and documents. */
  thumbnail: string | null;
}

/**
 * chest.json: every record of a chest as its people see it. Ids are the chest's own, so
 * citations, faces and contributions point at them; an import gives every record a new id and
 * remaps them. Binned memories and guests' memories still waiting for (or refused) approval are
 * not in it, and neither is anything that cites only them.
 */
export interface ChestRecord {
  format: typeof ARCHIVE_FORMAT;
  exportedAt: string;
  includeLocation: boolean;
  chest: {
    id: string;
    personName: string;
    description: string | null;
    birthDate: string | null;
    passingDate: string | null;
    heroImageId: string | null;
    publishedStoryId: string | null;
    createdAt: string;
  };
  memories: MemoryRecord[];
  people: PersonRecord[];
  stories: StoryRecord[];
  contributions: ContributionRecord[];
  /**
   * Pairs of memories (ids above) an owner said are not copies of each other (dismissDuplicates),
   * each pair and the list in the order of `memories`; pairs with a memory not in the archive are left out.
   * Absent from archives made before it existed.
   */
  dismissedDuplicates: [string, string][];
}

/** A copy merged into a memory (resolveDuplicates), oldest merge first: who contributed it. */
export interface MergedCopyRecord {
  /** GUEST: it came with a contribution; MEMBER: a member uploaded it. */
  kind: 'MEMBER' | 'GUEST';
  /** The guest's signature or the member's display name; null when not known. Member accounts are not in an archive. */
  name: string | null;
  /** The approved contribution (id above) it came with; null for members and for contributions not in the archive. */
  contributionId: string | null;
  mergedAt: string;
}

export interface MemoryRecord {
  id: string;
  file: ArchiveFile;
  /**
   * The name the file was uploaded under; in an archive without locations the base name of
   * `file.path` instead ("1987-06-12 photo.jpg"), as a file name can say where (a street, a house).
   */
  filename: string;
  fileType: Asset['fileType'];
  mimeType: string;
  /** SHA-256 and size of the original as stored in the chest (equal to file's with includeLocation). */
  sha256: string;
  size: number;
  status: Asset['status'];
  dateTaken: string | null;
  place: string | null;
  /** Only with includeLocation. */
  location: Asset['location'];
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  caption: string | null;
  tags: Asset['tags'];
  transcription: Asset['transcription'];
  extractedText: string | null;
  mediaInfo: Asset['mediaInfo'];
  waveform: number[] | null;
  perceptualHash: string | null;
  placeholder: string | null;
  analyses: Asset['analyses'];
  /** The approved contribution it came with; null for a member's upload (and one approved alone). */
  contributionId: string | null;
  /** The copies merged into it; the copies themselves (in the bin) are not in the archive. Absent from archives made before it existed. */
  mergedFrom: MergedCopyRecord[];
  createdAt: string;
}

export interface PersonRecord {
  id: string;
  name: string | null;
  hidden: boolean;
  coverFaceId: string | null;
  faces: {
    id: string;
    memoryId: string;
    box: Face['box'];
    atSeconds: number | null;
    score: number;
    assignedByPerson: boolean;
    /** The face engine's 128 float32 numbers, base64: lets an import keep recognising this person. */
    descriptor: string;
  }[];
}

export interface StoryRecord {
  id: string;
  /** Versions of one story share it (the first version's id). */
  lineageId: string | null;
  version: number;
  title: string;
  style: Story['style'];
  published: boolean;
  content: string;
  /** Citations: each paragraph, timeline entry and theme names the memories (ids above) it draws on. */
  paragraphs: Story['paragraphs'];
  timeline: Story['timeline'];
  themes: Story['themes'];
  includeTimeline: boolean;
  includeThemes: boolean;
  generation: Story['generation'];
  editedBy: string | null;
  createdAt: string;
}

export interface ContributionRecord {
  id: string;
  contributorName: string;
  relationship: string | null;
  message: string | null;
  reviewedAt: string | null;
  createdAt: string;
}

/** What an export holds of a chest, loaded in a few statements; `files` are filled in as the originals are written. */
export interface ChestContents {
  chest: Chest;
  memories: Asset[];
  people: Person[];
  faces: Face[];
  stories: Story[];
  contributions: Contribution[];
  dismissals: DuplicateDismissal[];
  /** Names of who contributed merged copies, by `${kind}:${id}` (loadContributorNames). */
  contributorNames: Map<string, string | null>;
}

/** Memories the chest shows its members (VISIBLE_ASSET_FILTER): not in the bin, not waiting for or refused approval. */
export async function loadChestContents(em: EntityManager, chest: Chest): Promise<ChestContents> {
  const contributions = await em.find(Contribution, { chest, status: ContributionStatus.APPROVED }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  const memories = await em.find(Asset, { chest, ...VISIBLE_ASSET_FILTER }, { orderBy: { dateTaken: 'asc nulls last', createdAt: 'asc', id: 'asc' } });
  const ids = memories.map((m) => m.id);
  const people = await em.find(Person, { chest }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  const faces = ids.length ? await em.find(Face, { chest, asset: { $in: ids } }, { orderBy: { createdAt: 'asc', id: 'asc' } }) : [];
  const stories = await em.find(Story, { chest, status: StoryStatus.READY }, { orderBy: { createdAt: 'asc', id: 'asc' } });
  const dismissals = await em.find(DuplicateDismissal, { chest }, { orderBy: { id: 'asc' } });
  const keys = memories.flatMap((m) => m.mergedFrom.map(nameKey)).filter((k): k is ContributorNameKey => k !== null);
  const names = await loadContributorNames(em, keys);
  const contributorNames = new Map(keys.map((k, i) => [`${k.kind}:${k.id}`, names[i] ?? null]));
  return { chest, memories, people, faces, stories, contributions, dismissals, contributorNames };
}

function nameKey(m: Asset['mergedFrom'][number]): ContributorNameKey | null {
  if (m.contributionId) return { kind: 'contribution', id: m.contributionId };
  return m.accountId ? { kind: 'account', id: m.accountId } : null;
}

/** "memories/1987-06-12 photo.jpg" → "1987-06-12 photo.jpg". */
export const entryBaseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** chest.json for what was exported; `files` holds each memory's entry (by memory id). */
export function chestRecord(contents: ChestContents, files: ReadonlyMap<string, ArchiveFile>, opts: { includeLocation: boolean; exportedAt: Date }): ChestRecord {
  const { chest } = contents;
  const exported = contents.memories.filter((m) => files.has(m.id));
  const inArchive = new Set(exported.map((m) => m.id));
  const position = new Map(exported.map((m, i) => [m.id, i]));
  const cited = (ids: string[]) => ids.filter((id) => inArchive.has(id));
  const approved = new Set(contents.contributions.map((c) => c.id));
  const published = contents.stories.find((s) => s.id === chest.publishedStory?.id && s.published);
  return {
    format: ARCHIVE_FORMAT,
    exportedAt: opts.exportedAt.toISOString(),
    includeLocation: opts.includeLocation,
    chest: {
      id: chest.id,
      personName: chest.personName,
      description: chest.description,
      birthDate: chest.birthDate,
      passingDate: chest.passingDate,
      heroImageId: chest.heroImage && inArchive.has(chest.heroImage.id) ? chest.heroImage.id : null,
      publishedStoryId: published?.id ?? null,
      createdAt: chest.createdAt.toISOString(),
    },
    memories: exported.map((m) => ({
      id: m.id,
      file: files.get(m.id)!,
      // Without locations the entry's own name: the uploaded name often names a street or a person.
      filename: opts.includeLocation ? m.filename : entryBaseName(files.get(m.id)!.path),
      fileType: m.fileType,
      mimeType: m.mimeType,
      sha256: m.sha256,
      size: m.size,
      status: m.status,
      dateTaken: m.dateTaken?.toISOString() ?? null,
      place: m.place,
      location: opts.includeLocation ? m.location : null,
      width: m.width,
      height: m.height,
      durationSeconds: m.durationSeconds,
      caption: m.caption,
      tags: m.tags,
      transcription: m.transcription,
      extractedText: m.extractedText,
      // The camera stays: it says what made the picture, not where.
      mediaInfo: m.mediaInfo,
      waveform: m.waveform,
      perceptualHash: m.perceptualHash,
      placeholder: m.placeholder,
      analyses: m.analyses.map((a) => ({ ...a, at: new Date(a.at) })),
      // A memory approved alone, from a contribution still waiting, is in the archive without it.
      contributionId: m.contribution && approved.has(m.contribution.id) ? m.contribution.id : null,
      mergedFrom: m.mergedFrom.map((c) => {
        const key = nameKey(c);
        return {
          kind: contributorKind(c),
          // A chest made by an import knows only the name its archive gave (MergedCopy.imported).
          name: (key && contents.contributorNames.get(`${key.kind}:${key.id}`)) ?? c.imported?.name ?? null,
          contributionId: c.contributionId && approved.has(c.contributionId) ? c.contributionId : null,
          mergedAt: new Date(c.mergedAt).toISOString(),
        };
      }),
      createdAt: m.createdAt.toISOString(),
    })),
    people: contents.people.map((p) => ({
      id: p.id,
      name: p.name,
      hidden: p.hidden,
      coverFaceId: p.coverFaceId,
      faces: contents.faces
        .filter((f) => f.person?.id === p.id && inArchive.has(f.asset.id))
        .map((f) => ({ id: f.id, memoryId: f.asset.id, box: f.box, atSeconds: f.atSeconds, score: f.score, assignedByPerson: f.assignedByPerson, descriptor: Buffer.from(f.descriptor).toString('base64') })),
    })),
    stories: contents.stories.map((s) => ({
      id: s.id,
      lineageId: s.lineageId,
      version: s.version,
      title: s.title,
      style: s.style,
      published: s.published,
      content: s.content,
      paragraphs: s.paragraphs.map((p) => ({ ...p, assetIds: cited(p.assetIds) })),
      timeline: s.timeline.map((t) => ({ ...t, assetIds: cited(t.assetIds) })),
      themes: s.themes.map((t) => ({ ...t, assetIds: cited(t.assetIds) })),
      includeTimeline: s.includeTimeline,
      includeThemes: s.includeThemes,
      generation: s.generation,
      editedBy: s.editedBy,
      createdAt: s.createdAt.toISOString(),
    })),
    contributions: contents.contributions.map((c) => ({
      id: c.id,
      contributorName: c.contributorName,
      relationship: c.relationship,
      message: c.message,
      reviewedAt: c.reviewedAt?.toISOString() ?? null,
      createdAt: c.createdAt.toISOString(),
    })),
    // In the order of `memories` (ids change on import; the order does not), so a round trip gives the same list.
    dismissedDuplicates: contents.dismissals
      .filter((d) => position.has(d.firstAsset.id) && position.has(d.secondAsset.id))
      .map((d) => [d.firstAsset.id, d.secondAsset.id].sort((a, b) => position.get(a)! - position.get(b)!) as [string, string])
      .sort(([a1, b1], [a2, b2]) => position.get(a1)! - position.get(a2)! || position.get(b1)! - position.get(b2)!),
  };
}
