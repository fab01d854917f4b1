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

const selectLists = new WeakMap<EntityMetadata, Map<string, string>>();

/**
 * The entity's persisted columns, each named as its property (`a."date_taken" as "dateTaken"`), for
 * the select list of a read: pg then builds each row already keyed by property, and fromColumns
 * only converts references and custom types. Renaming 36 columns a row in JS (MikroORM's result
 * mapper behind readModel) was about 5 % of a nested read's CPU (issue 14). With `only`, just those
 * properties (the others absent, not null, on the read models): for a selection that reads no others.
 */
export function readColumns(em: EntityManager, entity: EntityClass<object>, alias: string, only?: ReadonlySet<string>): string {
  const meta = em.getMetadata().get(entity);
  let lists = selectLists.get(meta);
  if (!lists) selectLists.set(meta, (lists = new Map()));
  const key = only ? `${alias}\u0000${[...only].sort().join(',')}` : alias;
  const known = lists.get(key);
  if (known) return known;
  const columns: string[] = [];
  for (const prop of meta.props) {
    if (prop.persist === false || (only && !only.has(prop.name))) continue;
    if (prop.kind === ReferenceKind.EMBEDDED || prop.formula) throw new Error(`readColumns: ${meta.className}.${prop.name} is not a plain column`);
    const reference = prop.kind === ReferenceKind.MANY_TO_ONE || (prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner);
    if (prop.kind !== ReferenceKind.SCALAR && !reference) continue;
    if (prop.fieldNames.length !== 1) throw new Error(`readColumns: ${meta.className}.${prop.name} has ${prop.fieldNames.length} columns`);
    columns.push(`${alias}."${prop.fieldNames[0]}" as "${prop.name}"`);
  }
  const list = columns.join(', ');
  lists.set(key, list);
  return list;
}

/**
 * A row selected with readColumns as a read model, equal to readModel's: references as `{ id }`,
 * custom types converted, and dates parsed (the ORM has the driver hand timestamps over as text).
 */
export function fromColumns<T extends object>(em: EntityManager, entity: EntityClass<T>, row: Record<string, unknown>): T {
  for (const { name, convert } of columnConversionsOf(em, em.getMetadata().get(entity))) {
    const value = row[name];
    if (value !== undefined && value !== null) row[name] = convert(value);
  }
  return row as T;
}

const columnConversions = new WeakMap<EntityMetadata, Conversion[]>();

/** conversionsOf, and what MikroORM's result mapper does besides renaming: Dates from text, booleans. */
function columnConversionsOf(em: EntityManager, meta: EntityMetadata): Conversion[] {
  const known = columnConversions.get(meta);
  if (known) return known;
  const platform = em.getPlatform();
  const tz = platform.getTimezone();
  const list: Conversion[] = [...conversionsOf(em, meta)];
  for (const prop of meta.props) {
    if (prop.persist === false || prop.kind !== ReferenceKind.SCALAR || prop.customType) continue;
    if (prop.runtimeType === 'Date' && !platform.isNumericProperty(prop)) {
      list.push({ name: prop.name, convert: (value) => (value instanceof Date ? value : platform.parseDate(toDateInput(value, tz))) });
    } else if (prop.runtimeType === 'boolean') {
      list.push({ name: prop.name, convert: (value) => !!value });
    }
  }
  columnConversions.set(meta, list);
  return list;
}

/** As MikroORM's result mapper: text without an offset is read in the configured time zone. */
function toDateInput(value: unknown, tz: string | undefined): string | number {
  if (typeof value === 'bigint' || typeof value === 'number') return Number(value);
  const text = String(value);
  if (!tz || tz === 'local' || text.includes('+') || text.lastIndexOf('-') > 10 || text.endsWith('Z')) return text;
  return text + tz;
}
