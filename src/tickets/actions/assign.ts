/** ASSIGN: sets the assignee (an ADMIN or AGENT of the tenant), or unassigns with null. */
import { ActionParamsError, type BulkAction } from "../../bulk/action.ts";
import { assigneeRefusal } from "../rules.ts";
import { sql } from "kysely";
import { closedIsReadOnlySql, noChangeWhen, ticketChangeLedger } from "./ticket-change.ts";
import { fieldOf } from "../../guards.ts";

export const assign: BulkAction<{ assigneeId: string | null }> = {
  type: "ASSIGN",
  requiredRole: "AGENT",
  graphql: {
    input: {
      type: {
        fields: {
          assigneeId: {
            type: { node: "User" },
            required: false,
            description: "A user of your tenant; null unassigns.",
          },
        },
      },
    },
    output: {
      fields: {
        assignee: {
          type: { node: "User" },
          param: "assigneeId",
          nullable: true,
          description: "null: the operation unassigns.",
        },
      },
    },
  },
  async parseParams(raw, ctx) {
    const value = fieldOf(raw, "assigneeId");
    if (value === null || value === undefined) return { assigneeId: null };
    if (typeof value !== "string" || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) {
      throw new ActionParamsError("assigneeId", "assigneeId must be a user id or null.");
    }
    const user = await ctx.tx.selectFrom("users").select("role").where("tenant_id", "=", ctx.tenantId)
      .where("id", "=", value).executeTakeFirst();
    if (!user) throw new ActionParamsError("assigneeId", "No user with this id in your tenant.");
    const refusal = assigneeRefusal(user.role);
    if (refusal) throw new ActionParamsError("assigneeId", refusal);
    return { assigneeId: value };
  },
  ledgerSql: (chunk) =>
    ticketChangeLedger(chunk, { assignee_id: chunk.params.assigneeId }, [
      closedIsReadOnlySql,
      noChangeWhen(
        sql`t.assignee_id IS NOT DISTINCT FROM ${chunk.params.assigneeId}::uuid`,
        chunk.params.assigneeId ? "Already assigned to this user." : "Already unassigned.",
      ),
    ]),
};
