/** Replaces one benchmark's section of bench/RESULTS.md, keeping the others. */
import { readFile, writeFile } from 'node:fs/promises';

export async function updateResults(path: string, id: string, heading: string, body: string): Promise<void> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = '# Benchmark results\n\nWritten by the scripts in `bench/` (`npm run bench`). Ratios are airlock ÷ peer, measured in the same run on the same machine; lower is better.\n';
  }
  const start = `<!-- bench:${id} -->`;
  const end = `<!-- /bench:${id} -->`;
  const section = `${start}\n${heading}\n\n${body}\n${end}`;
  const re = new RegExp(`${start}[\\s\\S]*?${end}`);
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await writeFile(path, text);
}
