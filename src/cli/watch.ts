/**
 * Follows one operation over graphql-ws (bulkOperationProgress) until its terminal state.
 * On a terminal: a progress bar redrawn in place on stderr. Otherwise: plain progress lines on
 * stderr (at most one a second, plus every status change). With --json: one JSON object per
 * event on stdout (NDJSON). The summary with the error breakdown ends it.
 */
import { WatchOperationDocument } from "../clients/generated/graphql.ts";
import { connect, subscribe } from "../clients/transport.ts";
import { isTerminal, type Operation, RateMeter } from "../clients/progress.ts";
import { progressLine, summary } from "./format.ts";

export interface WatchOptions {
  wsUrl: string;
  token: string;
  json: boolean;
  /** Draw a bar (a terminal) or print lines; default: whether stderr is a terminal. */
  tty?: boolean;
  /** false: no progress output at all, only the summary (`start --wait`). */
  progress?: boolean;
  write?: (text: string) => void;
  writeErr?: (text: string) => void;
}

const encoder = new TextEncoder();
const stdout = (text: string) => Deno.stdout.writeSync(encoder.encode(text));
const stderr = (text: string) => Deno.stderr.writeSync(encoder.encode(text));

function columns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 100;
  }
}

/** Resolves with the last state seen (terminal unless the stream broke, which rejects). */
export function watchOperation(id: string, options: WatchOptions): Promise<Operation> {
  const write = options.write ?? stdout;
  const writeErr = options.writeErr ?? stderr;
  const tty = options.tty ?? Deno.stderr.isTerminal();
  const showProgress = options.progress ?? true;
  const meter = new RateMeter();
  const client = connect(options.wsUrl, options.token, { retryAttempts: 3 });
  let last: Operation | null = null;
  let lastLineAt = 0;
  let lastStatus = "";
  let drawn = false;

  const render = (op: Operation, final: boolean) => {
    meter.observe(op.counts.processed);
    const rate = op.throughput ?? meter.perSecond;
    if (options.json) {
      write(JSON.stringify(op) + "\n");
      return;
    }
    if (!showProgress) return;
    if (tty) {
      writeErr(`\r\x1b[2K${progressLine(op, rate, columns())}${final ? "\n" : ""}`);
      drawn = !final;
      return;
    }
    const now = Date.now();
    if (final || op.status !== lastStatus || now - lastLineAt >= 1000) {
      writeErr(progressLine(op, rate, 100) + "\n");
      lastLineAt = now;
      lastStatus = op.status;
    }
  };

  return new Promise<Operation>((resolve, reject) => {
    const finish = (error?: unknown) => {
      if (drawn) writeErr("\n");
      void client.dispose();
      if (error !== undefined) return reject(error);
      if (!last) return reject(new Error("the subscription ended without an event"));
      if (!options.json) write(summary(last) + "\n");
      resolve(last);
    };
    subscribe(client, WatchOperationDocument, { id }, {
      next(data) {
        last = data.bulkOperationProgress;
        render(last, isTerminal(last.status));
      },
      error: (error) => finish(error),
      complete: () => finish(),
    });
  });
}
