/**
 * Which cited memories are no longer in the chest's view: in the bin, erased, or otherwise not
 * visible. A story's text is never rewritten when a memory goes; readers get the ids to show
 * "(memory removed)" by, and nothing else about them (no name, no caption).
 * `visible` is the request's batch loader of visible memories by id (null for hidden or gone).
 */
export async function removedCitations(assetIds: readonly string[], visible: (id: string) => Promise<unknown>): Promise<string[]> {
  const found = await Promise.all(assetIds.map((id) => visible(id)));
  return assetIds.filter((_, i) => found[i] === null || found[i] === undefined);
}
