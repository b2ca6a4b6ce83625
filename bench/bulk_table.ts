/**
 * The figures of bench/bulk_bench.ts, printed two ways: one table for people, and with `--json` one JSON
 * object under stable names for scripts (a scenario that did not run has null figures).
 */

/** The scenarios, in the order they run: `--scenarios a,b,c,d` picks a subset. */
export const SCENARIOS = {
  a: "one set-based UPDATE",
  b: "graphile-worker, one job per chunk, set-based UPDATE, no ledger",
  c: "graphile-worker, one job per chunk, one CTE with a per-item ledger (before/after jsonb)",
  d: "this engine: SET_STATUS, startOperation to terminal state",
} as const;
export type ScenarioName = keyof typeof SCENARIOS;

function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}

/** Parses `a,b,c,d` (any non-empty subset, any order); returns the set, or an error message. */
export function parseScenarios(text: string): Set<ScenarioName> | string {
  const names = text.split(",").map((name) => name.trim().toLowerCase());
  const unknown = names.filter((name) => !isScenarioName(name));
  if (unknown.length > 0 || names.length === 0) {
    return `--scenarios takes a comma-separated subset of ${Object.keys(SCENARIOS).join(",")}, got "${text}"`;
  }
  return new Set(names.filter(isScenarioName));
}

export interface Timing {
  items: number;
  seconds: number;
}

export interface EngineTiming extends Timing {
  startMs: number;
  peakRssMb: number;
  status: string;
  /** The transaction of the chunk that finished the operation, against the median chunk's. */
  finishingChunkMs: number;
  medianChunkMs: number;
  chunks: number;
  /** A 10-item operation started once the big one's first chunks committed: start to finished. */
  smallDuringBigMs?: number;
  /** A second operation over the same tickets, cancelled once its first chunks committed. */
  cancel: {
    total: number;
    appliedBefore: number;
    requestMs: number;
    requestStatus: string;
    untilCancelledS: number;
    cancelledItems: number;
    status: string;
  };
}

export interface BulkFigures {
  tickets: number;
  workers: number;
  chunkSize: number;
  seedSeconds: number;
  raw?: Timing;
  gwNoLedger?: Timing;
  gwLedger?: Timing;
  engine?: EngineTiming;
  /** After (d): the same change worked by a `deno task worker` process alone (first chunk to end), its peak RSS. */
  workerProcess?: Timing & { peakRssMb: number };
}

const perSecond = (timing: Timing) => timing.items / timing.seconds;
const rate = (timing?: Timing) => timing ? perSecond(timing) : null;
const ratio = (timing?: Timing, base?: Timing) => timing && base ? perSecond(timing) / perSecond(base) : null;
const round = (x: number | null, digits: number) => x === null ? null : Number(x.toFixed(digits));

/** Every figure under a stable snake_case name; seconds to the ms, ratios to 3 decimals. */
export function figuresJson(figures: BulkFigures) {
  const { raw, gwNoLedger, gwLedger, engine, workerProcess } = figures;
  return {
    tickets: figures.tickets,
    workers: figures.workers,
    chunk_size: figures.chunkSize,
    seed_s: round(figures.seedSeconds, 3),
    raw_update_s: round(raw?.seconds ?? null, 3),
    raw_update_items_per_s: round(rate(raw), 0),
    gw_no_ledger_s: round(gwNoLedger?.seconds ?? null, 3),
    gw_no_ledger_items_per_s: round(rate(gwNoLedger), 0),
    gw_no_ledger_vs_raw: round(ratio(gwNoLedger, raw), 3),
    gw_ledger_s: round(gwLedger?.seconds ?? null, 3),
    gw_ledger_items_per_s: round(rate(gwLedger), 0),
    gw_ledger_vs_raw: round(ratio(gwLedger, raw), 3),
    engine_s: round(engine?.seconds ?? null, 3),
    engine_items_per_s: round(rate(engine), 0),
    engine_vs_raw: round(ratio(engine, raw), 3),
    engine_vs_gw_ledger: round(ratio(engine, gwLedger), 3),
    start_ms: round(engine?.startMs ?? null, 0),
    peak_rss_mb: round(engine?.peakRssMb ?? null, 0),
    engine_status: engine?.status ?? null,
    finishing_chunk_ms: round(engine?.finishingChunkMs ?? null, 0),
    median_chunk_ms: round(engine?.medianChunkMs ?? null, 0),
    cancel_total_items: engine?.cancel.total ?? null,
    cancel_request_ms: round(engine?.cancel.requestMs ?? null, 0),
    cancel_until_cancelled_s: round(engine?.cancel.untilCancelledS ?? null, 3),
    cancel_cancelled_items: engine?.cancel.cancelledItems ?? null,
    small_during_big_ms: round(engine?.smallDuringBigMs ?? null, 0),
    worker_process_s: round(workerProcess?.seconds ?? null, 3),
    worker_process_items_per_s: round(rate(workerProcess), 0),
    worker_process_peak_rss_mb: round(workerProcess?.peakRssMb ?? null, 0),
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
  };
}

/** A count or rate for people: rounded, with thousands separators. */
export const fmt = (x: number) => Math.round(x).toLocaleString("en-US");

/** The table (and the engine's extra figures) as lines of text. */
export function figuresTable(figures: BulkFigures): string[] {
  const { raw, engine } = figures;
  const rows = ([["a", raw], ["b", figures.gwNoLedger], ["c", figures.gwLedger], ["d", engine]] as const)
    .flatMap(([name, timing]) =>
      timing
        ? [[
          `(${name}) ${SCENARIOS[name]}`,
          fmt(timing.items),
          timing.seconds.toFixed(2),
          fmt(perSecond(timing)),
          raw ? (perSecond(timing) / perSecond(raw)).toFixed(2) : "-",
        ]]
        : []
    );
  const header = [
    `way of doing it (${figures.workers} workers, chunks of ${fmt(figures.chunkSize)})`,
    "items",
    "s",
    "items/s",
    "ratio to one UPDATE",
  ];
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]) =>
    `| ${
      cells.map((cell, column) => column === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[column])).join(" | ")
    } |`;
  const lines = [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)];
  const enginePeer = ratio(engine, figures.gwLedger);
  if (enginePeer !== null) lines.push(`engine / graphile-worker ledger peer (c): ${enginePeer.toFixed(2)}`);
  if (engine) {
    lines.push(
      `engine: startOperation ${fmt(engine.startMs)} ms, ${engine.status}; ` +
        `peak RSS of this process (API + worker threads) during (d): ${engine.peakRssMb.toFixed(0)} MB`,
      `engine: the finishing chunk's transaction took ${fmt(engine.finishingChunkMs)} ms ` +
        `(median chunk ${fmt(engine.medianChunkMs)} ms, ${engine.chunks} chunks)`,
      ...(engine.smallDuringBigMs === undefined ? [] : [
        `engine: a 10-item operation started during (d) finished ${fmt(engine.smallDuringBigMs)} ms after its start`,
      ]),
      `engine: cancel of a ${fmt(engine.cancel.total)}-item operation after ${fmt(engine.cancel.appliedBefore)} ` +
        `items: request ${fmt(engine.cancel.requestMs)} ms (${engine.cancel.requestStatus}); CANCELLED ` +
        `${engine.cancel.untilCancelledS.toFixed(2)} s after it, ${fmt(engine.cancel.cancelledItems)} items ` +
        `cancelled (${engine.cancel.status})`,
    );
  }
  if (figures.workerProcess) {
    const { items, seconds, peakRssMb } = figures.workerProcess;
    lines.push(
      `engine in a \`deno task worker\` process alone: ${fmt(items)} items in ${seconds.toFixed(2)} s ` +
        `(${fmt(items / seconds)} items/s, first chunk to end); its peak RSS ${peakRssMb.toFixed(0)} MB`,
    );
  }
  return lines;
}
