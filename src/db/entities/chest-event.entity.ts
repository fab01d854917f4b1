import type { Opt } from '@mikro-orm/core';
import { BigIntType } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { ChestEventKind } from '../enums.js';
import { Chest } from './chest.entity.js';

/**
 * Something that happened in a chest, numbered per chest (1, 2, 3, ...) so a client that lost its
 * websocket can ask for everything after the last number it saw (`chestEvents(chestId, since)`).
 * Rows hold ids and a small state; what a caller may see of them is decided when they are read.
 */
@Entity({ tableName: 'chest_event' })
export class ChestEvent {
  @ManyToOne({ entity: () => Chest, primary: true, deleteRule: 'cascade' })
  chest!: Chest;

  @PrimaryKey({ type: new BigIntType('number') })
  seq!: number;

  @Enum({ items: () => ChestEventKind })
  kind!: ChestEventKind;

  @Property({ type: 'uuid', nullable: true })
  assetId: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  storyId: string | null = null;

  @Property({ type: 'uuid', nullable: true })
  contributionId: string | null = null;

  /** Kind-specific state, e.g. a processing stage: `{ stage, percent, status, error }`. Small by design. */
  @Property({ type: 'jsonb', nullable: true })
  data: Opt<Record<string, string | number | null>> | null = null;

  @Property({ type: 'timestamptz', onCreate: () => new Date() })
  createdAt: Opt<Date> = new Date();
}
