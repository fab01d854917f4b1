/** GraphQL over HTTP for the fan-out benches, and the chest they watch: an owner signs up and creates it. */
export type Gql = <T>(query: string, variables: Record<string, unknown>, token?: string) => Promise<T>;

export function gqlAt(url: string): Gql {
  return async <T>(query: string, variables: Record<string, unknown>, token?: string): Promise<T> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown };
    if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };
}

/** Signs up `email`, signs in and creates a chest: the owner's token and the chest's id. */
export async function ownerWithChest(url: string, email: string): Promise<{ gql: Gql; token: string; chestId: string }> {
  const gql = gqlAt(url);
  const password = 'correct horse battery staple';
  await gql(`mutation($i: SignUpInput!) { signUp(input: $i) { email } }`, { i: { email, password, displayName: 'Bench' } });
  const { signIn } = await gql<{ signIn: { token: string } }>(`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token } }`, { e: email, p: password });
  const { createChest } = await gql<{ createChest: { id: string } }>(`mutation($i: CreateChestInput!) { createChest(input: $i) { id } }`, { i: { personName: 'Rose Ellis' } }, signIn.token);
  return { gql, token: signIn.token, chestId: createChest.id };
}
