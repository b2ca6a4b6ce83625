/** Minimal leveled logger writing one line per event to stderr/stdout. */
import type { Config } from "./config.ts";

const ORDER = { debug: 0, info: 1, warn: 2, error: 3 } as const;
let threshold: number = ORDER.info;

export function setLogLevel(level: Config["logLevel"]): void {
  threshold = ORDER[level];
}

function write(level: keyof typeof ORDER, scope: string, message: string): void {
  if (ORDER[level] < threshold) return;
  const line = `${new Date().toISOString()} ${level.padEnd(5)} [${scope}] ${message}`;
  if (level === "error" || level === "warn") console.error(line);
  else console.log(line);
}

export const log = {
  debug: (scope: string, message: string) => write("debug", scope, message),
  info: (scope: string, message: string) => write("info", scope, message),
  warn: (scope: string, message: string) => write("warn", scope, message),
  error: (scope: string, message: string) => write("error", scope, message),
};
