/** Tickets and comments: the node types, the tickets connection and single-item mutations. */
import {
  LIMITS,
  TICKET_CATEGORY_ENUM,
  TICKET_PRIORITY_ENUM,
  TICKET_STATUS_ENUM,
  type TicketFilter,
  type TicketRow,
} from "../../tickets/model.ts";
import {
  addComment,
  type CommentRow,
  countTickets,
  createTicket,
  listTickets,
  updateTicket,
  userRoleInTenant,
} from "../../tickets/queries.ts";
import { assigneeRefusal } from "../../tickets/rules.ts";
import { builder } from "../builder.ts";
import { viewerOf } from "../context.ts";
import { badInput, userError } from "../errors.ts";
import { BIGINT_PATTERN, encodeId, expectId } from "../ids.ts";
import { type Payload, runMutation } from "../mutation-result.ts";
import { pageRequest, toConnection } from "../pagination.ts";
import { auditMutation } from "./audit.ts";
import { USER_ERRORS_LIST, UserErrorRef } from "./user-error.ts";
import type { DomainGraphQL } from "./bulk-domain.ts";
import { defineDomainEnum } from "./domain-enums.ts";
import { UserRef } from "./users.ts";

export const TicketStatusEnum = defineDomainEnum(TICKET_STATUS_ENUM);
export const TicketPriorityEnum = defineDomainEnum(TICKET_PRIORITY_ENUM);
export const TicketCategoryEnum = defineDomainEnum(TICKET_CATEGORY_ENUM);

export const TicketRef = builder.objectRef<TicketRow>("Ticket");
export const CommentRef = builder.objectRef<CommentRow>("Comment");

builder.node(CommentRef, {
  id: { resolve: (comment) => comment.id },
  // Comments are reached through their ticket; `node(id:)` on a comment id returns null.
  loadOne: () => null,
  fields: (t) => ({
    body: t.exposeString("body"),
    author: t.field({ type: UserRef, nullable: true, resolve: (c, _a, ctx) => ctx.loaders.user.load(c.author_id) }),
    createdAt: t.field({ type: "DateTime", resolve: (c) => c.created_at }),
  }),
});

builder.node(TicketRef, {
  description: "A support ticket of the caller's tenant.",
  id: { resolve: (ticket) => ticket.id },
  loadMany: (ids, ctx) => Promise.all(ids.map((id) => BIGINT_PATTERN.test(id) ? ctx.loaders.ticket.load(id) : null)),
  fields: (t) => ({
    title: t.exposeString("title"),
    body: t.exposeString("body"),
    status: t.field({ type: TicketStatusEnum, resolve: (ticket) => ticket.status }),
    priority: t.field({ type: TicketPriorityEnum, resolve: (ticket) => ticket.priority }),
    category: t.field({ type: TicketCategoryEnum, resolve: (ticket) => ticket.category }),
    assignee: t.field({
      type: UserRef,
      nullable: true,
      resolve: (ticket, _args, ctx) => ticket.assignee_id ? ctx.loaders.user.load(ticket.assignee_id) : null,
    }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      resolve: (ticket, _args, ctx) => ticket.created_by ? ctx.loaders.user.load(ticket.created_by) : null,
    }),
    version: t.exposeInt("version", { description: "Bumped by every change; pass it as expectedVersion." }),
    createdAt: t.field({ type: "DateTime", resolve: (ticket) => ticket.created_at }),
    updatedAt: t.field({ type: "DateTime", resolve: (ticket) => ticket.updated_at }),
    deletedAt: t.field({ type: "DateTime", nullable: true, resolve: (ticket) => ticket.deleted_at }),
    comments: t.connection({
      type: CommentRef,
      description: "Comments, oldest first.",
      resolve: async (ticket, args, ctx) => {
        const request = pageRequest(args, ["bigint"]);
        const forward = request.direction === "forward";
        let query = ctx.services.db.selectFrom("ticket_comments").selectAll()
          .where("tenant_id", "=", ticket.tenant_id).where("ticket_id", "=", ticket.id);
        if (request.seek) query = query.where("id", forward ? ">" : "<", request.seek[0]);
        const rows = await query.orderBy("id", forward ? "asc" : "desc").limit(request.limit + 1).execute();
        return toConnection(rows, request, (c) => [c.id]);
      },
    }),
  }),
});

export const TicketFilterInput = builder.inputType("TicketFilter", {
  description: "All given conditions must hold. Lists match any of their values.",
  fields: (t) => ({
    status: t.field({ type: [TicketStatusEnum], required: false }),
    priority: t.field({ type: [TicketPriorityEnum], required: false }),
    category: t.field({ type: [TicketCategoryEnum], required: false }),
    assigneeId: t.id({ required: false, description: "Tickets assigned to this user." }),
    unassigned: t.boolean({ required: false, description: "Only tickets without an assignee." }),
    titleContains: t.string({
      required: false,
      description: `Case-insensitive; at most ${LIMITS.searchMax} characters.`,
    }),
    createdAfter: t.field({ type: "DateTime", required: false, description: "Inclusive." }),
    createdBefore: t.field({ type: "DateTime", required: false, description: "Exclusive." }),
    includeDeleted: t.boolean({ required: false, description: "Include soft-deleted tickets (default false)." }),
  }),
});

type TicketFilterArg = typeof TicketFilterInput.$inferInput;

/** Validates a GraphQL TicketFilter into the domain's filter (throws BAD_USER_INPUT). */
export function toTicketFilter(input: TicketFilterArg | null | undefined): TicketFilter {
  if (!input) return {};
  if (input.titleContains != null && input.titleContains.length > LIMITS.searchMax) {
    throw badInput(`titleContains is limited to ${LIMITS.searchMax} characters.`, "titleContains");
  }
  if (input.titleContains?.includes("\u0000")) {
    throw badInput("titleContains must not contain NUL characters.", "titleContains");
  }
  if (input.assigneeId != null && input.unassigned) {
    throw badInput("Pass assigneeId or unassigned, not both.", "unassigned");
  }
  return {
    status: input.status ?? undefined,
    priority: input.priority ?? undefined,
    category: input.category ?? undefined,
    assigneeId: input.assigneeId != null ? expectId(input.assigneeId, "User", "assigneeId") : undefined,
    unassigned: input.unassigned ?? undefined,
    titleContains: input.titleContains || undefined,
    createdAfter: input.createdAfter ?? undefined,
    createdBefore: input.createdBefore ?? undefined,
    includeDeleted: input.includeDeleted ?? undefined,
  };
}

/** The tickets domain's pieces of the bulk API (bulk-domain.ts): schema.ts builds the schema with them. */
export const ticketsGraphQL: DomainGraphQL = {
  targetType: TicketRef,
  loadTarget: (ctx, key) => ctx.loaders.ticket.load(key),
  filterInput: TicketFilterInput,
  toFilter: toTicketFilter,
  itemCodesDescription: "Why an item failed or was skipped. FAILED: NOT_FOUND (missing or another tenant's), " +
    "DELETED, INVALID_TRANSITION, FORBIDDEN (closed tickets are read-only), INTERNAL (gave up after retries). " +
    "SKIPPED: NO_CHANGE (already in the target state), CONFLICT (rollback: changed since).",
};

builder.queryFields((t) => ({
  ticket: t.field({
    type: TicketRef,
    nullable: true,
    description: "A ticket of the caller's tenant (soft-deleted ones too); null when missing or another tenant's.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => ctx.loaders.ticket.load(expectId(args.id, "Ticket", "id")),
  }),
  tickets: t.connection({
    type: TicketRef,
    description: "Tickets newest first, keyset-paginated (at most 100 per page).",
    args: { filter: t.arg({ type: TicketFilterInput, required: false }) },
    resolve: async (_root, args, ctx) => {
      const viewer = viewerOf(ctx);
      const request = pageRequest(args, ["bigint"]);
      const rows = await listTickets(ctx.services.db, viewer.tenantId, toTicketFilter(args.filter), {
        limit: request.limit + 1,
        afterId: request.seek?.[0],
        direction: request.direction === "forward" ? "desc" : "asc",
      });
      return toConnection(rows, request, (ticket) => [ticket.id]);
    },
  }),
  ticketCount: t.int({
    description:
      "How many tickets match the filter, counted up to BULK_MAX_TARGETS + 1 (more than an operation may target " +
      'reads as that). For "select all N matching".',
    args: { filter: t.arg({ type: TicketFilterInput, required: false }) },
    resolve: (_root, args, ctx) =>
      countTickets(
        ctx.services.db,
        viewerOf(ctx).tenantId,
        toTicketFilter(args.filter),
        ctx.services.config.maxTargets + 1,
      ),
  }),
}));

// ---- mutations ----------------------------------------------------------------------

function checkText(value: string | null | undefined, field: string, max: number, required: boolean) {
  if (value === null || value === undefined) return;
  if (required && value.trim() === "") throw badInput(`${field} must not be empty.`, field);
  // PostgreSQL text cannot hold U+0000; without this check the insert fails as an internal error.
  if (value.includes("\u0000")) throw badInput(`${field} must not contain NUL characters.`, field);
  if (value.length > max) throw badInput(`${field} is limited to ${max} characters (got ${value.length}).`, field);
}

/** Resolves an assignee global id to a user of the tenant; null unassigns. */
async function assigneeFor(
  ctx: Parameters<typeof viewerOf>[0],
  assigneeId: string | null | undefined,
): Promise<string | null | undefined> {
  if (assigneeId === undefined) return undefined;
  if (assigneeId === null) return null;
  const id = expectId(assigneeId, "User", "assigneeId");
  const role = await userRoleInTenant(ctx.services.db, viewerOf(ctx).tenantId, id);
  if (!role) throw badInput("No user with this id in your tenant.", "assigneeId");
  const refusal = assigneeRefusal(role);
  if (refusal) throw badInput(refusal, "assigneeId");
  return id;
}

const TicketPayload = builder.objectRef<Payload<{ ticket: TicketRow }>>("TicketPayload").implement({
  fields: (t) => ({
    ticket: t.field({ type: TicketRef, nullable: true, resolve: (p) => p.ticket ?? null }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

const CreateTicketInput = builder.inputType("CreateTicketInput", {
  fields: (t) => ({
    title: t.string({ required: true, description: `1 to ${LIMITS.titleMax} characters.` }),
    body: t.string({ required: false, description: `At most ${LIMITS.bodyMax} characters.` }),
    priority: t.field({ type: TicketPriorityEnum, required: false }),
    category: t.field({ type: TicketCategoryEnum, required: false }),
    assigneeId: t.id({ required: false }),
  }),
});

const UpdateTicketInput = builder.inputType("UpdateTicketInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    title: t.string({ required: false }),
    body: t.string({ required: false }),
    status: t.field({ type: TicketStatusEnum, required: false, description: "Checked against the transition table." }),
    priority: t.field({ type: TicketPriorityEnum, required: false }),
    category: t.field({ type: TicketCategoryEnum, required: false }),
    assigneeId: t.id({ required: false, description: "null unassigns." }),
    expectedVersion: t.int({ required: false, description: "Refuse the change unless the ticket is at this version." }),
  }),
});

const AddCommentInput = builder.inputType("AddCommentInput", {
  fields: (t) => ({
    ticketId: t.id({ required: true }),
    body: t.string({ required: true, description: `1 to ${LIMITS.commentMax} characters.` }),
  }),
});

const AddCommentPayload = builder.objectRef<Payload<{ comment: CommentRow; ticket: TicketRow | null }>>(
  "AddCommentPayload",
).implement({
  fields: (t) => ({
    comment: t.field({ type: CommentRef, nullable: true, resolve: (p) => p.comment ?? null }),
    ticket: t.field({ type: TicketRef, nullable: true, resolve: (p) => p.ticket ?? null }),
    userErrors: t.field({ type: [UserErrorRef], extensions: USER_ERRORS_LIST, resolve: (p) => p.userErrors }),
  }),
});

/** The input fields a mutation set (names only: titles and bodies stay out of the audit trail). */
function givenFields(input: Record<string, unknown>, skip: string[] = []): string[] {
  return Object.keys(input).filter((key) => input[key] !== undefined && !skip.includes(key)).sort();
}

builder.mutationFields((t) => ({
  createTicket: t.field({
    type: TicketPayload,
    authScopes: { agent: true },
    args: { input: t.arg({ type: CreateTicketInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        checkText(input.title, "title", LIMITS.titleMax, true);
        checkText(input.body, "body", LIMITS.bodyMax, false);
        const viewer = viewerOf(ctx);
        const ticket = await createTicket(ctx.services.db, viewer.tenantId, viewer.userId, {
          title: input.title,
          body: input.body ?? undefined,
          priority: input.priority ?? undefined,
          category: input.category ?? undefined,
          assigneeId: await assigneeFor(ctx, input.assigneeId),
        });
        await auditMutation(ctx, "TICKET_CREATED", encodeId("Ticket", ticket.id), { fields: givenFields(input) });
        return { ticket, userErrors: [] };
      }),
  }),
  updateTicket: t.field({
    type: TicketPayload,
    authScopes: { agent: true },
    args: { input: t.arg({ type: UpdateTicketInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        const id = expectId(input.id, "Ticket", "id");
        if (input.title === null) throw badInput("title cannot be null.", "title");
        checkText(input.title, "title", LIMITS.titleMax, true);
        checkText(input.body, "body", LIMITS.bodyMax, false);
        const result = await updateTicket(ctx.services.db, viewerOf(ctx).tenantId, id, {
          title: input.title,
          body: input.body ?? undefined,
          status: input.status ?? undefined,
          priority: input.priority ?? undefined,
          category: input.category ?? undefined,
          assigneeId: await assigneeFor(ctx, input.assigneeId),
        }, input.expectedVersion ?? undefined);
        if (!result.ok) {
          return [userError(result.code, result.message, result.code === "NOT_FOUND" ? ["input", "id"] : null)];
        }
        await auditMutation(ctx, "TICKET_UPDATED", encodeId("Ticket", id), {
          fields: givenFields(input, ["id", "expectedVersion"]),
          version: result.ticket.version,
        });
        return { ticket: result.ticket, userErrors: [] };
      }),
  }),
  addComment: t.field({
    type: AddCommentPayload,
    authScopes: { agent: true },
    args: { input: t.arg({ type: AddCommentInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      runMutation(async () => {
        const ticketId = expectId(input.ticketId, "Ticket", "ticketId");
        checkText(input.body, "body", LIMITS.commentMax, true);
        const viewer = viewerOf(ctx);
        const result = await addComment(ctx.services.db, viewer.tenantId, ticketId, viewer.userId, input.body);
        if (!result.ok) {
          return [userError(result.code, result.message, result.code === "NOT_FOUND" ? ["input", "ticketId"] : null)];
        }
        await auditMutation(ctx, "COMMENT_ADDED", encodeId("Ticket", ticketId), { commentId: result.comment.id });
        return { comment: result.comment, ticket: await ctx.loaders.ticket.load(ticketId), userErrors: [] };
      }),
  }),
}));
