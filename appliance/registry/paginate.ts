/**
 * Pagination of the tags list and the catalog (OCI distribution spec, "Listing tags" / the catalog API): entries in
 * lexical order after `last`, at most `n` of them (and at most `maxPage`), and when more follow, a
 * `Link: <PATH?n=N&last=LAST>; rel="next"` header. Pure.
 */

export type Page = { items: string[]; link?: string } | { error: string };

export function paginate(sorted: readonly string[], query: { n?: unknown; last?: unknown }, path: string, maxPage: number): Page {
  let n = maxPage;
  if (query.n !== undefined) {
    if (typeof query.n !== 'string' || !/^\d{1,9}$/.test(query.n)) return { error: `n must be a whole number of entries, not ${JSON.stringify(query.n)}` };
    n = Math.min(Number(query.n), maxPage);
  }
  if (query.last !== undefined && typeof query.last !== 'string') return { error: 'last must be given once' };
  const last = query.last;
  const after = last === undefined || last === '' ? sorted : sorted.filter((entry) => entry > last);
  const items = after.slice(0, n);
  const lastItem = items[items.length - 1];
  if (lastItem === undefined || items.length >= after.length) return { items };
  return { items, link: `<${path}?n=${n}&last=${encodeURIComponent(lastItem)}>; rel="next"` };
}
