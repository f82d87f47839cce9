/**
 * Drift: the fields airlock sets (those of the desired object) compared with the live object. Fields the server
 * or controllers add are not drift; a field airlock sets that differs or is gone is. Pure.
 */
export interface FieldDrift {
  path: string;
  want: unknown;
  have: unknown;
}

const IGNORED_METADATA = new Set(['creationTimestamp', 'resourceVersion', 'uid', 'generation', 'managedFields', 'selfLink']);

export function driftOf(desiredObject: Record<string, unknown>, live: Record<string, unknown>): FieldDrift[] {
  const out: FieldDrift[] = [];
  const desired = secretAsStored(desiredObject);
  for (const [key, want] of Object.entries(desired)) {
    if (key === 'status' || key === 'apiVersion' || key === 'kind') continue;
    if (key === 'metadata') {
      const meta = (want ?? {}) as Record<string, unknown>;
      const liveMeta = (live.metadata ?? {}) as Record<string, unknown>;
      for (const [mk, mv] of Object.entries(meta)) {
        if (IGNORED_METADATA.has(mk) || mk === 'namespace') continue;
        compare(mv, liveMeta[mk], `metadata.${mk}`, out);
      }
      continue;
    }
    compare(want, live[key], key, out);
  }
  return out;
}

/** A Secret's `stringData` is write-only: the server stores it base64-encoded in `data`. */
function secretAsStored(o: Record<string, unknown>): Record<string, unknown> {
  if (o.kind !== 'Secret' || !o.stringData || typeof o.stringData !== 'object') return o;
  const { stringData, ...rest } = o;
  const data = { ...((rest.data as Record<string, string> | undefined) ?? {}) };
  for (const [k, v] of Object.entries(stringData as Record<string, unknown>)) data[k] = Buffer.from(String(v)).toString('base64');
  return { ...rest, data };
}

function compare(want: unknown, have: unknown, path: string, out: FieldDrift[]): void {
  if (want === null || want === undefined) return;
  if (Array.isArray(want)) {
    if (!Array.isArray(have) || have.length !== want.length) {
      out.push({ path, want, have });
      return;
    }
    want.forEach((w, i) => compare(w, have[i], `${path}[${i}]`, out));
    return;
  }
  if (typeof want === 'object') {
    if (!have || typeof have !== 'object' || Array.isArray(have)) {
      out.push({ path, want, have });
      return;
    }
    for (const [k, v] of Object.entries(want as Record<string, unknown>)) compare(v, (have as Record<string, unknown>)[k], `${path}.${k}`, out);
    return;
  }
  if (!sameScalar(want, have)) out.push({ path, want, have });
}

/** `3` and `"3"` are the same to the API server in many places (ports, quantities as written). */
function sameScalar(want: unknown, have: unknown): boolean {
  if (want === have) return true;
  if ((typeof want === 'number' || typeof want === 'string') && (typeof have === 'number' || typeof have === 'string')) return String(want) === String(have);
  return false;
}

/** One line per drifted field: `spec.replicas: want 2, have 5`. */
export function renderDrift(drift: FieldDrift[]): string {
  return drift.map((d) => `${d.path}: want ${show(d.want)}, have ${show(d.have)}`).join('\n');
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  const text = JSON.stringify(v);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
