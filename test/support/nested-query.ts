/**
 * Every nested field a chest has, in one selection: the SQL-count test counts its statements
 * (any per-row query would show), and the query-limits test checks the default limits let it pass.
 * It holds the nested chest query of issue 14 (summary, assets with dates, status, tags and
 * thumbnails, stories, contributions, the published story) and the chest's other nested fields.
 */
export const NESTED_CHEST = `
  id personName myRole heroImage { id filename }
  members { role account { displayName } }
  links { shareLinkActive }
  assets(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node {
    id filename dateTaken status location { latitude } tags { name } thumbnails { name width height mimeType url } } } }
  images: assets(first: 5, types: [IMAGE]) { totalCount edges { node { id } } }
  stories { edges { node { id title timeline { date } } } }
  contributions { edges { node { id status } } }
  publishedStory { id title }
  summary { totalAssets images totalBytes recentAssets { id location { latitude } } }`;
