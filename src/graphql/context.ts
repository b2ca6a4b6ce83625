/** What every resolver receives: the caller (or null), per-request loaders and the services. */
import { createHash } from "node:crypto";
import type { Selectable } from "kysely";
import type { RequestOrigin } from "../audit/record.ts";
import type { Viewer } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import type { UsersTable } from "../db/tables.ts";
import type { BulkDomain } from "../bulk/action.ts";
import type { OperationEvents } from "../bulk/events.ts";
import { childOperations, operationsByIds } from "../bulk/history.ts";
import type { OperationRow } from "../bulk/operation.ts";
import type { TicketRow } from "../tickets/model.ts";
import { ticketsByIds } from "../tickets/queries.ts";
import type { CostTally } from "./actual-cost.ts";
import { BatchLoader } from "./loader.ts";
import type { SnapshotReader } from "./progress.ts";

export interface Services {
  db: Db;
  config: Config;
  /** The domain the bulk API runs (its targets, actions and item codes). */
  domain: BulkDomain;
  /** Operation state changes from LISTEN/NOTIFY, fanned out to subscribers. */
  events: OperationEvents;
  /** Shared, single-flight reads of operation state for subscriptions. */
  snapshots: SnapshotReader;
}

/** A users row as Kysely selects it. */
export type UserRow = Selectable<UsersTable>;

export interface Context {
  viewer: Viewer | null;
  /** The caller's cost bucket (cost-throttle.ts): a hash of its API token; "anonymous" without one. */
  rateKey: string;
  /** This request's actual cost, tallied by the resolvers (actual-cost.ts). */
  cost: CostTally;
  /** The request's IP and User-Agent, for the audit trail. */
  origin: RequestOrigin;
  services: Services;
  loaders: {
    user: BatchLoader<UserRow>;
    ticket: BatchLoader<TicketRow>;
    operation: BatchLoader<OperationRow>;
    /** The children of an operation: one query per level of a parent/children tree, not one per operation. */
    children: BatchLoader<OperationRow[]>;
  };
}

/**
 * A context ws.ts already built (createContext, from connection_init) that Yoga's context factory
 * receives again: it carries the services, which no HTTP request's initial context has.
 */
export const isContext = (value: object): value is Context => "services" in value && "loaders" in value;

const byId = <T extends { id: string }>(rows: T[]) => new Map(rows.map((r) => [r.id, r]));

/** The cost bucket key of a token (a hash: buckets outlive requests, raw tokens should not). */
export const rateKeyOf = (token: string | null) =>
  token ? `token:${createHash("sha256").update(token).digest("base64url")}` : "anonymous";

/**
 * Builds a request's context; loaders see only the viewer's tenant. `token` is the one the viewer came
 * from; `origin` the request's IP and User-Agent (audit trail).
 */
export function createContext(
  viewer: Viewer | null,
  services: Services,
  token: string | null,
  origin: RequestOrigin = { ip: null, userAgent: null },
): Context {
  const tenantId = viewer?.tenantId ?? "00000000-0000-0000-0000-000000000000";
  return {
    viewer: viewer && { ...viewer, origin },
    origin,
    rateKey: rateKeyOf(token),
    cost: { actual: 0 },
    services,
    loaders: {
      user: new BatchLoader(async (ids) =>
        byId(
          await services.db.selectFrom("users").selectAll().where("tenant_id", "=", tenantId)
            .where("id", "in", ids).execute(),
        )
      ),
      ticket: new BatchLoader(async (ids) => byId(await ticketsByIds(services.db, tenantId, ids))),
      operation: new BatchLoader(async (ids) => byId(await operationsByIds(services.db, tenantId, ids))),
      children: new BatchLoader((ids) => childOperations(services.db, tenantId, ids)),
    },
  };
}

/** The viewer of a resolver that scope-auth has already required to be authenticated. */
export function viewerOf(ctx: Context): Viewer {
  if (!ctx.viewer) throw new Error("viewerOf called without an authenticated viewer");
  return ctx.viewer;
}
