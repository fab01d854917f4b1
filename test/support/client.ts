import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface GqlResponse<T = any> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** A client of a running server over real HTTP and WebSocket, as an app would be. */
export function apiClient(baseUrl: string) {
  async function gql<T = any>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<GqlResponse<T>> {
    const res = await fetch(`${baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as GqlResponse<T>;
  }

  async function must<T = any>(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<T> {
    const r = await gql<T>(query, variables, token);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    return r.data as T;
  }

  /** A new account and a session for it (signUp answers no session: that comes from signIn). */
  async function signUp(email: string): Promise<string> {
    const password = 'correct horse battery staple';
    await must(`mutation($i: SignUpInput!) { signUp(input: $i) { email } }`, { i: { email, password, displayName: email.split('@')[0] } });
    const d = await must(`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }`, { e: email, p: password });
    return d.signIn.token as string;
  }

  async function createChest(token: string, personName = 'Rose Ellis'): Promise<string> {
    const d = await must(`mutation($i: CreateChestInput!) { createChest(input: $i) { id } }`, { i: { personName } }, token);
    return d.createChest.id as string;
  }

  /** Ticket, then the whole file in one PATCH. Returns the new asset's id. */
  async function upload(token: string, chestId: string, bytes: Buffer, filename: string, mimeType: string): Promise<string> {
    const d = await must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename, size: bytes.length, mimeType } }, token);
    const headers = Object.fromEntries((d.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    const res = await fetch(`${baseUrl}${d.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: bytes });
    const body = (await res.json()) as { assetId?: string; status?: string; errors?: unknown };
    if (res.status !== 200 || !body.assetId) throw new Error(`upload failed: ${res.status} ${JSON.stringify(body)}`);
    return body.assetId;
  }

  function ws(token?: string, shareToken?: string): Client {
    return createClient({
      url: `${baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { ...(token && { authorization: `Bearer ${token}` }), ...(shareToken && { shareToken }) },
      retryAttempts: 0,
      lazy: false,
    });
  }

  /**
   * Subscribes and collects results until `until` says stop (or the server ends it). `ready`
   * resolves once the server has the subscription running (its first `subscribe` returned).
   */
  function collect<T = any>(client: Client, query: string, variables: Record<string, unknown>, until: (all: GqlResponse<T>[]) => boolean) {
    const results: GqlResponse<T>[] = [];
    let stop: () => void = () => undefined;
    const done = new Promise<GqlResponse<T>[]>((resolve, reject) => {
      stop = client.subscribe<T>(
        { query, variables },
        {
          next: (r) => {
            results.push(r as GqlResponse<T>);
            if (until(results)) {
              stop();
              resolve(results);
            }
          },
          error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
          complete: () => resolve(results),
        },
      );
    });
    return { results, done, stop: () => stop() };
  }

  /** Resolves once every subscription sent before it on this socket is running on the server. */
  function settled(client: Client): Promise<void> {
    return new Promise<void>((resolve, reject) => client.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: reject, complete: resolve }));
  }

  return { gql, must, signUp, createChest, upload, ws, collect, settled };
}

/** Polls until check returns a value (not undefined), or fails after timeoutMs. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
