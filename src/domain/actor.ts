/**
 * Who is asking. Accounts and chest roles arrive with the people-and-access work; until then
 * every caller is the household running this server, which is why the server listens on
 * loopback by default.
 */
export type Actor = { kind: 'household' };

export const HOUSEHOLD: Actor = { kind: 'household' };
