import { Entity, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { Asset } from './asset.entity.js';
import { Chest } from './chest.entity.js';
import { Contribution } from './contribution.entity.js';
import { Person } from './person.entity.js';
import { Story } from './story.entity.js';

export const SEARCH_CONFIG = 'english';

/**
 * One searchable text of a chest (domain/search): a memory's caption, place, tags, document text
 * or one transcript segment; a person's name; a contribution's message; a story's text; the
 * chest's person name or description. Derived data, rebuilt per source object: database triggers
 * keep the rows of chests, memories, people and contributions current in the transaction that
 * changes them (migration search_entries), domain/search/story-entries.ts those of stories (their
 * text is indexed as it is read, hidden names rewritten). Who may find a row is decided when
 * searching, from the source's current state (visibility, moderation, hidden people), never here.
 */
@Entity({ tableName: 'search_entry' })
@Index({ name: 'search_entry_tsv_idx', expression: 'create index "search_entry_tsv_idx" on "search_entry" using gin ("tsv")' })
export class SearchEntry {
  // Written by triggers too, so the database makes the id.
  @PrimaryKey({ type: 'uuid', defaultRaw: 'gen_random_uuid()' })
  id!: string;

  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade', index: true })
  chest!: Chest;

  @ManyToOne({ entity: () => Asset, nullable: true, deleteRule: 'cascade', index: true })
  asset: Asset | null = null;

  @ManyToOne({ entity: () => Person, nullable: true, deleteRule: 'cascade', index: true })
  person: Person | null = null;

  @ManyToOne({ entity: () => Contribution, nullable: true, deleteRule: 'cascade', index: true })
  contribution: Contribution | null = null;

  @ManyToOne({ entity: () => Story, nullable: true, deleteRule: 'cascade', index: true })
  story: Story | null = null;

  /** What the text is (domain/search SearchField): CAPTION, PLACE, TAGS, DOCUMENT_TEXT, TRANSCRIPT, MEMORY (all of a memory's texts together), PERSON, MESSAGE, STORY, CHEST_NAME, CHEST_DESCRIPTION. */
  @Property({ type: 'varchar', length: 32 })
  field!: string;

  /** A transcript segment's start, in seconds. */
  @Property({ type: 'double precision', nullable: true })
  atSeconds: number | null = null;

  @Property({ type: 'text' })
  text!: string;

  /** Never read by the application: the index's lexemes. */
  @Property({ type: 'unknown', columnType: 'tsvector', generated: `(to_tsvector('${SEARCH_CONFIG}', text)) stored`, lazy: true, nullable: true })
  tsv?: unknown;
}
