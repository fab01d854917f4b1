import { type EntityClass, type EntityMetadata, ReferenceKind } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Rows of a page as plain read models: the entity's properties (names, Dates and custom types as
 * the entity has them; a many-to-one as `{ id }`, like an unloaded reference), but no managed
 * entity — no identity-map entry, no change-tracking snapshot that re-serialises every jsonb
 * column. Managed entities made hydration about a third of a nested read's CPU (issue 14). For
 * what is only read and answered; whatever is changed and flushed is loaded through the ORM.
 */
export function readModel<T extends object>(em: EntityManager, entity: EntityClass<T>, row: Record<string, unknown>): T {
  const meta = em.getMetadata().get(entity);
  const data = em.getComparator().mapResult(meta, row as never) as Record<string, unknown>;
  for (const { name, convert } of conversionsOf(em, meta)) {
    const value = data[name];
    if (value !== undefined && value !== null) data[name] = convert(value);
  }
  return data as T;
}

interface Conversion {
  name: string;
  convert: (value: unknown) => unknown;
}

const conversions = new WeakMap<EntityMetadata, Conversion[]>();

/** Per entity, once: which properties need more than the driver gives (references, custom types). */
function conversionsOf(em: EntityManager, meta: EntityMetadata): Conversion[] {
  const known = conversions.get(meta);
  if (known) return known;
  const platform = em.getPlatform();
  const list: Conversion[] = [];
  for (const prop of meta.props) {
    if (prop.persist === false) continue;
    if (prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) {
      list.push({ name: prop.name, convert: (id) => ({ id }) });
    } else if (prop.kind === ReferenceKind.SCALAR && prop.customType) {
      const type = prop.customType;
      list.push({ name: prop.name, convert: (value) => type.convertToJSValue(value, platform) });
    }
  }
  conversions.set(meta, list);
  return list;
}
