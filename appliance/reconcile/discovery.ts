/**
 * Discovery of a kind's resource: `GET /api/v1` for the core group, `/apis/GROUP/VERSION` otherwise, the resource
 * whose `kind` matches and whose name has no `/` (subresources such as `deployments/scale` share the kind). One list
 * per apiVersion is cached (and shared by concurrent callers); a kind the cached list lacks is looked up again (a
 * CRD just established), `forget` drops a list. A group the server does not serve (404) is an unknown kind. ADR 023.
 */
import type { ResourceInfo } from '../../src/kube/cluster-api.js';
import { apiVersionPath } from './kube-paths.js';

interface ApiResource {
  name?: string;
  kind?: string;
  namespaced?: boolean;
}

/** Reads one discovery document; resolves undefined when the server answers 404. */
export type DiscoveryGet = (path: string) => Promise<{ resources?: ApiResource[] } | undefined>;

export class Discovery {
  private readonly lists = new Map<string, Promise<ApiResource[] | undefined>>();

  constructor(private readonly get: DiscoveryGet) {}

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    const cached = this.lists.get(apiVersion);
    if (cached) {
      const found = find(await cached.catch(() => undefined), kind);
      if (found) return found;
    }
    const fresh = this.get(apiVersionPath(apiVersion)).then((doc) => (doc ? (doc.resources ?? []) : undefined));
    this.lists.set(apiVersion, fresh);
    fresh.catch(() => {
      if (this.lists.get(apiVersion) === fresh) this.lists.delete(apiVersion);
    });
    return find(await fresh, kind);
  }

  /** Whether the last look-up of `apiVersion` found it served (false after a 404). */
  async served(apiVersion: string): Promise<boolean> {
    const list = await this.lists.get(apiVersion)?.catch(() => undefined);
    return list !== undefined;
  }

  forget(apiVersion: string): void {
    this.lists.delete(apiVersion);
  }
}

function find(list: ApiResource[] | undefined, kind: string): ResourceInfo | undefined {
  const r = list?.find((x) => x.kind === kind && typeof x.name === 'string' && !x.name.includes('/'));
  return r?.name ? { plural: r.name, namespaced: r.namespaced === true } : undefined;
}
