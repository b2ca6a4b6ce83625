/**
 * The test-only notes domain's GraphQL pieces (src/graphql/types/bulk-domain.ts DomainGraphQL):
 * its target type Note and its filter input NoteFilter, as a domain's own GraphQL module declares
 * them. domainSchema (domain_seam_test.ts) builds the notes schema with them.
 */
import { sql } from "kysely";
import { builder } from "../../src/graphql/builder.ts";
import { viewerOf } from "../../src/graphql/context.ts";
import { encodeId } from "../../src/graphql/ids.ts";
import type { DomainGraphQL } from "../../src/graphql/types/bulk-domain.ts";
import { domainEnum } from "../../src/graphql/types/domain-enums.ts";
import { NOTE_PRIORITY_ENUM, type NoteImage } from "./notes-domain.ts";

type NoteRow = NoteImage & { id: string };

const NotePriorityEnum = domainEnum(NOTE_PRIORITY_ENUM);

const NoteRef = builder.objectRef<NoteRow>("Note").implement({
  fields: (t) => ({
    id: t.id({ resolve: (note) => encodeId("Note", note.id) }),
    priority: t.field({ type: NotePriorityEnum, resolve: (note) => note.priority }),
    body: t.exposeString("body"),
    version: t.exposeInt("version"),
  }),
});

const NoteFilterInput = builder.inputType("NoteFilter", {
  fields: (t) => ({ priority: t.field({ type: [NotePriorityEnum], required: false }) }),
});

export const notesGraphQL: DomainGraphQL = {
  targetType: NoteRef,
  loadTarget: async (ctx, key) => {
    const { rows } = await sql<NoteRow>`SELECT id::text, priority, body, version FROM notes
      WHERE tenant_id = ${viewerOf(ctx).tenantId} AND id = ${key}::int8`.execute(ctx.services.db);
    return rows[0] ?? null;
  },
  filterInput: NoteFilterInput,
  toFilter: (input: typeof NoteFilterInput.$inferInput | null | undefined) => ({ priority: input?.priority ?? [] }),
  itemCodesDescription: "Why an item failed or was skipped: NOT_FOUND (no such note), INTERNAL (gave up after " +
    "retries); NO_CHANGE (already so), CONFLICT (rollback: changed since).",
};
