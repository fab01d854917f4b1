import { ErrorCode } from '../../src/domain/errors.js';
import type { Operation } from './operations.js';
import type { World } from './world.js';

/** Codes a caller may see: the catalogue, and those GraphQL and Apollo give malformed requests. */
const ALLOWED_CODES = new Set<string>([
  ...Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR),
  'SERVICE_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
]);

/** What an internal message looks like when it escapes: SQL, stack frames, runtime type errors. */
const UNMASKED = /\bselect\b[\s\S]*\bfrom\b|\binsert into\b|\bviolates\b|node_modules|\n\s+at |\.[cm]?[jt]s:\d+|cannot read propert|is not a function|is not defined(?! by type)|TypeError|RangeError|MikroORM|pg-boss|out of range for type/i;

export interface Answer {
  data?: unknown;
  errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

/**
 * What is wrong with one answer: an INTERNAL_SERVER_ERROR or a code outside the catalogue, a
 * message that shows internals, or a string of a private chest — in data at all, in errors unless
 * the caller sent it (a coercion message quotes the value it refused).
 */
export function problems(op: Operation, answer: Answer, world: Pick<World, 'secrets'>): string[] {
  const found: string[] = [];
  for (const e of answer.errors ?? []) {
    const code = e.extensions?.code;
    if (typeof code !== 'string' || !ALLOWED_CODES.has(code)) found.push(`code ${String(code)}: ${e.message}`);
    if (UNMASKED.test(e.message) && !UNMASKED.test(JSON.stringify(op))) found.push(`unmasked message: ${e.message.slice(0, 300)}`);
  }
  const sent = JSON.stringify(op).toLowerCase();
  const data = JSON.stringify(answer.data ?? null).toLowerCase();
  const errors = JSON.stringify(answer.errors ?? []).toLowerCase();
  for (const secret of world.secrets) {
    const s = secret.toLowerCase();
    if (data.includes(s)) found.push(`private chest's ${secret} in data`);
    if (errors.includes(s) && !sent.includes(s)) found.push(`private chest's ${secret} in an error`);
  }
  return found;
}

/** Figures of a run: operations by caller, transport and root kind, errors by code. */
export class Figures {
  operations = 0;
  readonly byCaller: Record<string, number> = {};
  readonly byTransport: Record<string, number> = {};
  readonly byKind: Record<string, number> = {};
  readonly errorsByCode: Record<string, number> = {};
  readonly fields = new Set<string>();
  succeeded = 0;

  record(transport: string, caller: string, op: Operation, answer: Answer): void {
    this.operations++;
    bump(this.byCaller, caller);
    bump(this.byTransport, transport);
    bump(this.byKind, op.kind);
    this.fields.add(`${op.kind}.${op.field}`);
    if (!answer.errors?.length) this.succeeded++;
    for (const e of answer.errors ?? []) bump(this.errorsByCode, String(e.extensions?.code));
  }

  summary(): string {
    return JSON.stringify({ operations: this.operations, succeeded: this.succeeded, rootFields: this.fields.size, byTransport: this.byTransport, byCaller: this.byCaller, byKind: this.byKind, errorsByCode: this.errorsByCode });
  }
}

const bump = (m: Record<string, number>, k: string) => void (m[k] = (m[k] ?? 0) + 1);
