/** Types for the `cookie` package (a dependency of express; it ships none): the parser the appliance uses. */
declare module 'cookie' {
  /** Cookie header → name/value pairs; a value that is not valid percent-encoding is kept as sent. */
  export function parse(header: string, options?: { decode?: (value: string) => string }): Record<string, string | undefined>;
}
