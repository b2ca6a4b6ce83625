/**
 * The operations material stays true to the code: docs/operations.md documents every metric
 * the registry exposes, and the alert rules and the Grafana dashboard use only those metrics.
 * (The rules' behaviour is tested by `promtool test rules monitoring/alerts_test.yml` in .ci/run.)
 */
import { expect } from "expect";
import { Histogram } from "prom-client";
import "../src/metrics/database.ts"; // registers the scrape-time gauges
import { registry } from "../src/metrics/registry.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

const exposed = registry.getMetricsAsArray().map((metric) => metric.name);
/** Series names a metric produces: a histogram also has _bucket, _sum and _count. */
const seriesNames = new Set(
  registry.getMetricsAsArray().flatMap((metric) =>
    metric instanceof Histogram
      ? [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`]
      : [metric.name]
  ),
);
const METRIC_NAME = /\b(?:bulk|http|graphql|db|notification)_[a-z_]+\b/g;

Deno.test("docs/operations.md documents every exposed metric", async () => {
  const doc = await read("docs/operations.md");
  expect(exposed.length).toBeGreaterThan(15);
  expect(exposed.filter((name) => !doc.includes(`\`${name}\``))).toEqual([]);
  // ... and no metric that does not exist: every metric-like name in a table's first column is exposed.
  const documented = [...doc.matchAll(/^\| `([a-z_]+)` +\|/gm)].map((match) => match[1]);
  expect(documented.length).toBe(exposed.length);
  expect(documented.filter((name) => !exposed.includes(name))).toEqual([]);
});

Deno.test("the alert rules and the Grafana dashboard use only exposed metrics", async () => {
  const rules = await read("monitoring/alerts.yml");
  const exprs = [...rules.matchAll(/expr: \|\n((?: {10}.*\n)+)/g)].map((m) => m[1]);
  expect(exprs.length).toBe(2);
  const dashboard = JSON.parse(await read("monitoring/grafana-dashboard.json"));
  const targets = dashboard.panels.flatMap((panel: { targets?: { expr: string }[] }) => panel.targets ?? []);
  expect(targets.length).toBeGreaterThan(15);
  const used = [...exprs, ...targets.map((t: { expr: string }) => t.expr)].flatMap((expr) => expr.match(METRIC_NAME));
  expect(used.filter((name) => !seriesNames.has(name!))).toEqual([]);
  // Every exposed metric is on the dashboard.
  expect(exposed.filter((name) => !used.some((u) => u === name || u!.startsWith(`${name}_`)))).toEqual([]);
});
