/**
 * Which browser origins may call the API (CORS_ORIGINS). Development: any origin (Yoga's
 * default). Production (NODE_ENV=production) without CORS_ORIGINS: none, same-origin only.
 * WebSocket upgrades are not covered by CORS in browsers, so the same list is checked
 * against their Origin header (src/http/server.ts).
 */
import type { Config } from "../config.ts";

/** Yoga's `cors` option for this configuration. */
export function corsOption(
  config: Pick<Config, "production" | "corsOrigins">,
): false | { origin: string[] } | undefined {
  if (config.corsOrigins) return { origin: config.corsOrigins };
  return config.production ? false : undefined;
}

/**
 * Whether a request from `origin` (its Origin header; null for non-browser clients) may go on.
 * `self` is the server's own origin as the request addressed it: same-origin pages (the
 * dashboard, GraphiQL) are always allowed.
 */
export function originAllowed(
  config: Pick<Config, "production" | "corsOrigins">,
  origin: string | null,
  self: string,
): boolean {
  if (origin === null || origin === self) return true;
  if (config.corsOrigins) return config.corsOrigins.includes("*") || config.corsOrigins.includes(origin);
  return !config.production;
}
