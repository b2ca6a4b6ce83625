import { builder } from "../builder.ts";
import { type UserRow, viewerOf } from "../context.ts";
import { UUID_PATTERN } from "../ids.ts";

export const RoleEnum = builder.enumType("Role", {
  description: "ADMIN: everything. AGENT: read and change tickets, run bulk operations. VIEWER: read only.",
  values: ["ADMIN", "AGENT", "VIEWER"] as const,
});

export const UserRef = builder.objectRef<UserRow>("User");

builder.node(UserRef, {
  description: "A person of the caller's tenant.",
  id: { resolve: (user) => user.id },
  loadMany: (ids, ctx) => Promise.all(ids.map((id) => UUID_PATTERN.test(id) ? ctx.loaders.user.load(id) : null)),
  fields: (t) => ({
    email: t.exposeString("email"),
    name: t.exposeString("name"),
    role: t.field({ type: RoleEnum, resolve: (user) => user.role }),
    createdAt: t.field({ type: "DateTime", resolve: (user) => user.created_at }),
  }),
});

const TenantRef = builder.objectRef<{ id: string; name: string }>("Tenant").implement({
  fields: (t) => ({ id: t.exposeID("id"), name: t.exposeString("name") }),
});

const ViewerRef = builder.objectRef<{ userId: string; tenantId: string }>("Viewer").implement({
  description: "The caller: the user behind the API token and their tenant.",
  fields: (t) => ({
    user: t.field({
      type: UserRef,
      resolve: async (viewer, _args, ctx) => (await ctx.loaders.user.load(viewer.userId))!,
    }),
    tenant: t.field({
      type: TenantRef,
      resolve: async (viewer, _args, ctx) =>
        await ctx.services.db.selectFrom("tenants").select(["id", "name"]).where("id", "=", viewer.tenantId)
          .executeTakeFirstOrThrow(),
    }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: ViewerRef,
    description: "The caller.",
    resolve: (_root, _args, ctx) => viewerOf(ctx),
  }));

/** One tenant's people fit one list: the console's assignee pickers read them all at once. */
const MAX_USERS = 500;

builder.queryField("users", (t) =>
  t.field({
    type: [UserRef],
    description: `The people of your tenant, by name (the first ${MAX_USERS}): for assignee pickers.`,
    extensions: { maxItems: MAX_USERS },
    resolve: async (_root, _args, ctx) =>
      // users_tenant_idx (tenant_id, id) finds the tenant's rows; the sort is over at most one tenant's people.
      await ctx.services.db.selectFrom("users").selectAll().where("tenant_id", "=", viewerOf(ctx).tenantId)
        .orderBy("name").orderBy("id").limit(MAX_USERS).execute(),
  }));
