/**
 * One RFC 6902 operation (add, remove, replace, move, copy, test) on a copy of a plain JSON value. Pure. Returns
 * the new value or a problem in words (a path that is absent, a test that fails).
 */

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function tokens(pointer: string): string[] | string {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return `path "${pointer}" is not a JSON pointer (it must start with "/")`;
  return pointer.slice(1).split('/').map(unescape);
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object';
}

/** The parent of the pointer's last token, and that token; or a problem when the parent does not exist. */
function locate(doc: unknown, pointer: string): { parent: Container; key: string } | string {
  const path = tokens(pointer);
  if (typeof path === 'string') return path;
  if (!path.length) return `path "${pointer}" names the whole object; patch a field of it`;
  let at: unknown = doc;
  for (let i = 0; i < path.length - 1; i++) {
    const t = path[i] as string;
    const next = isContainer(at) ? (Array.isArray(at) ? (/^\d+$/.test(t) ? at[Number(t)] : undefined) : (at as Record<string, unknown>)[t]) : undefined;
    if (!isContainer(next)) return `path "${pointer}" is absent (no "/${path.slice(0, i + 1).join('/')}")`;
    at = next;
  }
  return { parent: at as Container, key: path[path.length - 1] as string };
}

function get(doc: unknown, pointer: string): { value: unknown } | string {
  const where = locate(doc, pointer);
  if (typeof where === 'string') return where;
  const { parent, key } = where;
  if (Array.isArray(parent)) {
    if (!/^\d+$/.test(key) || Number(key) >= parent.length) return `path "${pointer}" is absent`;
    return { value: parent[Number(key)] };
  }
  if (!Object.prototype.hasOwnProperty.call(parent, key)) return `path "${pointer}" is absent`;
  return { value: parent[key] };
}

function remove(doc: unknown, pointer: string): string | undefined {
  const where = locate(doc, pointer);
  if (typeof where === 'string') return where;
  const { parent, key } = where;
  if (Array.isArray(parent)) {
    if (!/^\d+$/.test(key) || Number(key) >= parent.length) return `path "${pointer}" is absent`;
    parent.splice(Number(key), 1);
    return undefined;
  }
  if (!Object.prototype.hasOwnProperty.call(parent, key)) return `path "${pointer}" is absent`;
  delete parent[key];
  return undefined;
}

function add(doc: unknown, pointer: string, value: unknown, replace: boolean): string | undefined {
  const where = locate(doc, pointer);
  if (typeof where === 'string') return where;
  const { parent, key } = where;
  if (Array.isArray(parent)) {
    if (key === '-' && !replace) {
      parent.push(value);
      return undefined;
    }
    const i = /^\d+$/.test(key) ? Number(key) : -1;
    if (i < 0 || (replace ? i >= parent.length : i > parent.length)) return `path "${pointer}" is absent`;
    parent.splice(i, replace ? 1 : 0, value);
    return undefined;
  }
  if (replace && !Object.prototype.hasOwnProperty.call(parent, key)) return `path "${pointer}" is absent`;
  parent[key] = value;
  return undefined;
}

export interface JsonPatchOp {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

/** Applies one operation to a copy of `doc`. */
export function applyPatch<T>(doc: T, op: JsonPatchOp): { result: T } | { problem: string } {
  const copy = structuredClone(doc);
  let problem: string | undefined;
  switch (op.op) {
    case 'add':
      problem = add(copy, op.path, structuredClone(op.value), false);
      break;
    case 'replace':
      problem = add(copy, op.path, structuredClone(op.value), true);
      break;
    case 'remove':
      problem = remove(copy, op.path);
      break;
    case 'test': {
      const found = get(copy, op.path);
      if (typeof found === 'string') problem = found;
      else if (JSON.stringify(found.value) !== JSON.stringify(op.value)) problem = `test of "${op.path}" failed: it is ${JSON.stringify(found.value)}, not ${JSON.stringify(op.value)}`;
      break;
    }
    case 'move':
    case 'copy': {
      const from = op.from ?? '';
      const found = get(copy, from);
      if (typeof found === 'string') problem = found.replace('path', 'from');
      else {
        if (op.op === 'move') problem = remove(copy, from);
        problem ??= add(copy, op.path, structuredClone(found.value), false);
      }
      break;
    }
    default:
      problem = `op "${op.op}" does not exist (use add, remove, replace, move, copy or test)`;
  }
  return problem ? { problem } : { result: copy };
}
