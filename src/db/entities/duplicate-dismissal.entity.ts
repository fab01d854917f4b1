import { Entity, Index, ManyToOne, Unique } from '@mikro-orm/decorators/legacy';
import { Account } from './account.entity.js';
import { Asset } from './asset.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';

/**
 * An owner's "these are not duplicates" (dismissDuplicates): one row per pair of memories, the
 * smaller id first, so Chest.duplicateGroups never joins them again. Goes with either memory.
 */
@Entity({ tableName: 'duplicate_dismissal' })
@Unique({ name: 'duplicate_dismissal_pair_uniq', properties: ['firstAsset', 'secondAsset'] })
@Index({ name: 'duplicate_dismissal_chest_idx', properties: ['chest'] })
export class DuplicateDismissal extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  @ManyToOne({ entity: () => Asset, deleteRule: 'cascade' })
  firstAsset!: Asset;

  @ManyToOne({ entity: () => Asset, deleteRule: 'cascade', index: true })
  secondAsset!: Asset;

  @ManyToOne({ entity: () => Account, nullable: true, deleteRule: 'set null' })
  dismissedBy: Account | null = null;
}
