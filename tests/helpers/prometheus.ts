/**
 * Reads a /metrics page (the Prometheus text exposition format) into samples, strictly:
 * every non-comment line must be `name{label="value",...} number`, or parsing throws.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y;

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (match[2]) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < match[2].length) {
        const label = LABEL.exec(match[2]);
        if (!label) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
      }
    }
    samples.push({ name: match[1], labels, value: Number(match[3].replace("+Inf", "Infinity")) });
  }
  return samples;
}

export async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  if (!response.headers.get("content-type")?.startsWith("text/plain")) {
    throw new Error(`GET ${url}: content-type ${response.headers.get("content-type")}`);
  }
  return parseMetrics(await response.text());
}

/** Sum of the samples named `name` whose labels include `labels` (0 when none). */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Every label set of `name` with its value, for delta checks. */
export function seriesOf(samples: Sample[], name: string): Map<string, number> {
  return new Map(
    samples.filter((s) => s.name === name).map((s) => [JSON.stringify(Object.entries(s.labels).sort()), s.value]),
  );
}
