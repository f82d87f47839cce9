/**
 * `Range` and `If-None-Match` for /v2 (RFC 9110 §14 and §13). Pure functions on header values.
 *
 * A range header in another unit or not parseable is ignored (the whole blob, 200). One satisfiable range gives a
 * 206 of it. Several ranges give the whole blob (200; a server may ignore `Range`, and every client reads a 200),
 * unless none of them is satisfiable (416).
 */

export type RangeAnswer = { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeAnswer {
  if (!header) return { kind: 'whole' };
  const m = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!m?.[1]) return { kind: 'whole' };
  const specs = m[1].split(',').map((s) => s.trim()).filter(Boolean);
  if (!specs.length) return { kind: 'whole' };
  const parts: { start: number; end: number }[] = [];
  for (const spec of specs) {
    const s = SPEC.exec(spec);
    if (!s || (s[1] === '' && s[2] === '')) return { kind: 'whole' }; // not understood: ignored
    if (s[1] === '') {
      const suffix = Number(s[2]);
      if (suffix > 0 && size > 0) parts.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(s[1]);
    const end = s[2] === '' ? size - 1 : Math.min(Number(s[2]), size - 1);
    if (s[2] !== '' && Number(s[2]) < start) return { kind: 'whole' }; // last < first: invalid, ignored
    if (start < size && start <= end) parts.push({ start, end });
  }
  if (!parts.length) return { kind: 'unsatisfiable' };
  if (specs.length > 1) return { kind: 'whole' };
  const [only] = parts as [{ start: number; end: number }];
  return { kind: 'part', ...only };
}

/** Whether `If-None-Match` names this entity tag (or `*`); weak tags compare by their opaque part. */
export function matchesIfNoneMatch(header: string | string[] | undefined, etag: string): boolean {
  if (!header) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  return text.split(',').some((raw) => {
    const tag = raw.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}
