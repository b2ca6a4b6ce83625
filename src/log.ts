/**
 * The leveled logger: one line per event, errors and warnings on stderr, the rest on stdout.
 * LOG_FORMAT=text (default) prints `time level [scope] message key=value...`, readable in a
 * terminal; LOG_FORMAT=json prints one JSON object per line (time, level, scope, message and
 * the ids in context) for log shippers.
 *
 * Ids reach a line two ways, so call sites need not thread them through: the optional
 * `fields` argument, and the ambient context set with `withLogContext` (e.g. the HTTP handler
 * sets `request` for everything a request logs). The active trace id is added when tracing is on.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { trace } from "@opentelemetry/api";
import type { Config } from "./config.ts";

const ORDER = { debug: 0, info: 1, warn: 2, error: 3 } as const;
type Level = keyof typeof ORDER;

/** Ids and small facts attached to a line; ids use these names so lines can be joined on them. */
export interface LogFields {
  tenant?: string;
  operation?: string;
  chunk?: number;
  request?: string;
  worker?: string;
  [key: string]: string | number | boolean | null | undefined;
}

let threshold: number = ORDER.info;
let format: Config["logFormat"] = "text";
const ambient = new AsyncLocalStorage<LogFields>();

export function configureLog(config: Pick<Config, "logLevel" | "logFormat">): void {
  threshold = ORDER[config.logLevel];
  format = config.logFormat;
}

/** Runs `fn` with `fields` added to every line it logs (nested contexts merge). */
export function withLogContext<T>(fields: LogFields, fn: () => T): T {
  return ambient.run({ ...ambient.getStore(), ...fields }, fn);
}

/** An error as one field: its stack (or message), so JSON lines keep it on one line. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.stack ?? `${error.name}: ${error.message}` : String(error);
}

function traceId(): string | undefined {
  const context = trace.getActiveSpan()?.spanContext();
  return context && context.traceId !== "00000000000000000000000000000000" ? context.traceId : undefined;
}

function render(level: Level, scope: string, message: string, fields: LogFields): string {
  const time = new Date().toISOString();
  const context: LogFields = { ...ambient.getStore(), ...fields, trace: traceId() };
  const defined = Object.entries(context).filter(([, value]) => value !== undefined);
  // The fixed keys last: a context field of the same name cannot replace them.
  if (format === "json") return JSON.stringify({ ...Object.fromEntries(defined), time, level, scope, message });
  const suffix = defined.map(([key, value]) => ` ${key}=${value}`).join("");
  return `${time} ${level.padEnd(5)} [${scope}] ${message}${suffix}`;
}

function write(level: Level, scope: string, message: string, fields: LogFields = {}): void {
  if (ORDER[level] < threshold) return;
  const line = render(level, scope, message, fields);
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

export const log = {
  debug: (scope: string, message: string, fields?: LogFields) => write("debug", scope, message, fields),
  info: (scope: string, message: string, fields?: LogFields) => write("info", scope, message, fields),
  warn: (scope: string, message: string, fields?: LogFields) => write("warn", scope, message, fields),
  error: (scope: string, message: string, fields?: LogFields) => write("error", scope, message, fields),
};
