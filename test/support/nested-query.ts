/**
 * Every nested field a chest has, in one selection: the SQL-count test counts its statements
 * (any per-row query would show), and the query-limits test checks the default limits let it pass.
 */
export const NESTED_CHEST = `
  id personName myRole heroImage { id filename }
  members { role account { displayName } }
  links { shareLinkActive }
  assets(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id filename location { latitude } tags { name } } } }
  images: assets(first: 5, types: [IMAGE]) { totalCount edges { node { id } } }
  stories { edges { node { id title timeline { date } } } }
  contributions { edges { node { id status } } }
  summary { totalAssets images totalBytes recentAssets { id location { latitude } } }`;
