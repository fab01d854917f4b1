import type { EntityManager } from '@mikro-orm/postgresql';
import type { Asset } from '../../db/entities/index.js';
import { ChestRole } from '../../db/enums.js';
import type { Actor } from '../actor.js';
import { pgArray } from '../batch.js';

/** Who brought one copy of a memory: a member, or a guest through a contribution. */
export interface ContributorEntry {
  /** The copy they added: the memory itself, or one merged into it (now in the bin). */
  assetId: string;
  contributionId: string | null;
  accountId: string | null;
  /** When that copy was merged in; null for the memory's own. */
  mergedAt: Date | null;
  /** Who it was in the chest an imported archive came from (MergedCopy.imported). */
  imported: { kind: 'MEMBER' | 'GUEST'; name: string | null } | null;
}

/** The memory's own origin first, then every copy merged into it (Asset.mergedFrom), oldest merge first. */
export function contributorsOf(asset: Pick<Asset, 'id' | 'contribution' | 'addedBy' | 'mergedFrom'>): ContributorEntry[] {
  return [
    { assetId: asset.id, contributionId: asset.contribution?.id ?? null, accountId: asset.addedBy?.id ?? null, mergedAt: null, imported: null },
    ...(asset.mergedFrom ?? []).map((m) => ({ assetId: m.assetId, contributionId: m.contributionId, accountId: m.accountId, mergedAt: new Date(m.mergedAt), imported: m.imported ?? null })),
  ];
}

/** GUEST when it came with a contribution (or did in the chest it was imported from), else MEMBER. */
export function contributorKind(entry: { contributionId: string | null; imported?: ContributorEntry['imported'] | undefined }): 'MEMBER' | 'GUEST' {
  return entry.contributionId ? 'GUEST' : (entry.imported?.kind ?? 'MEMBER');
}

/** Guests' names are for those who review contributions (owners and editors), as Chest.contributions is. */
export async function maySeeContributors(actor: Actor, chestId: string): Promise<boolean> {
  const role = actor.accountId ? await actor.roles.load(chestId) : null;
  return role === ChestRole.OWNER || role === ChestRole.EDITOR;
}

export interface ContributorNameKey {
  kind: 'contribution' | 'account';
  id: string;
}

/** Names of guests (their contribution's signature) and members (display name); null when gone. At most two statements. */
export async function loadContributorNames(em: EntityManager, keys: readonly ContributorNameKey[]): Promise<(string | null)[]> {
  const names = new Map<string, string>();
  const contributions = keys.filter((k) => k.kind === 'contribution').map((k) => k.id);
  const accounts = keys.filter((k) => k.kind === 'account').map((k) => k.id);
  if (contributions.length) {
    const rows = await em.execute<{ id: string; name: string }[]>('select id::text, contributor_name as name from contribution where id = any(?::uuid[])', [pgArray(contributions)]);
    for (const r of rows) names.set(`contribution:${r.id}`, r.name);
  }
  if (accounts.length) {
    const rows = await em.execute<{ id: string; name: string }[]>('select id::text, display_name as name from account where id = any(?::uuid[])', [pgArray(accounts)]);
    for (const r of rows) names.set(`account:${r.id}`, r.name);
  }
  return keys.map((k) => names.get(`${k.kind}:${k.id}`) ?? null);
}
