/**
 * Kubernetes label syntax (what `kubectl label` accepts), for site and cluster labels and for the names that go
 * into ownership labels. Pure. Each check returns a problem in words, or undefined when the text is valid.
 */

const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** A label key: `[prefix/]name`, the prefix a DNS subdomain of at most 253 characters, the name at most 63. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key "${key}": the prefix "${prefix}" must be a DNS subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)`;
  }
  if (!NAME.test(name)) return `label key "${key}": the name "${name}" must be 1 to 63 letters, digits, "-", "_" or ".", beginning and ending with a letter or digit`;
  return undefined;
}

/** A label value: empty, or up to 63 letters, digits, `-`, `_`, `.`, beginning and ending with a letter or digit. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || NAME.test(value)) return undefined;
  return `label value "${value}" must be at most 63 letters, digits, "-", "_" or ".", beginning and ending with a letter or digit`;
}

/** A site or cluster name: a DNS label (it becomes a label value and part of a placement's name). */
export function nameProblem(name: string): string | undefined {
  if (DNS_LABEL.test(name)) return undefined;
  return `name "${name}" must be a DNS label: 1 to 63 lower-case letters, digits and "-", beginning and ending with a letter or digit`;
}
