import { builder } from "../builder.ts";
import type { UserError } from "../errors.ts";

export const UserErrorRef = builder.objectRef<UserError>("UserError").implement({
  description: "A problem with a mutation's input or the state it meets. Nothing was changed.",
  fields: (t) => ({
    code: t.exposeString("code", {
      description:
        "Machine-readable code, e.g. INVALID_INPUT, NOT_FOUND, INVALID_TRANSITION, FORBIDDEN, VERSION_CONFLICT.",
    }),
    field: t.exposeStringList("field", {
      nullable: true,
      description: 'Path to the input field at fault, e.g. ["input", "title"].',
    }),
    message: t.exposeString("message", { description: "Human-readable explanation." }),
    retryAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "RATE_LIMITED and TOO_MANY_WAITING: when trying again can succeed.",
      resolve: (e) => e.retryAt ?? null,
    }),
  }),
});

/** A mutation answers its first refusal: the cost rule counts a userErrors list as one object. */
export const USER_ERRORS_LIST = { maxItems: 1 } as const;
