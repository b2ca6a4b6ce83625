/**
 * The typed action of a bulk operation, both ways: the `@oneOf` input clients send
 * (BulkActionInput) and the union the API shows (BulkAction), built from the served
 * domain's action descriptors (BulkAction.graphql, src/bulk/action-schema.ts) by
 * defineBulkActions, which build-schema.ts calls before the schema is built. The types that
 * use them (bulk-operation.ts, bulk-api.ts) reach them through bulkActions() inside their
 * field thunks, which Pothos runs at build time.
 */
import type { EnumRef, InputObjectRef, ObjectRef, UnionRef } from "@pothos/core";
import type { BulkAction, BulkDomain } from "../../bulk/action.ts";
import type {
  ActionFieldType,
  ActionGraphQL,
  ActionInputField,
  ActionNodeType,
  ActionOutputField,
} from "../../bulk/action-schema.ts";
import { builder, type Types } from "../builder.ts";
import type { Context } from "../context.ts";
import { badInput } from "../errors.ts";
import { expectId } from "../ids.ts";
import { domainEnum } from "./domain-enums.ts";
import { UserRef } from "./users.ts";
import { isRecord } from "../../guards.ts";

/** An operation's stored action, as the union members resolve it. */
export type StoredAction = { type: string; params: Record<string, unknown> };

/** What BulkActionInput carries: one member set, holding that action's input fields. */
export type ActionInputValue = Record<string, Record<string, unknown> | null | undefined>;

export interface BulkActionTypes {
  typeEnum: EnumRef<Types, string, string>;
  input: InputObjectRef<Types, ActionInputValue>;
  union: UnionRef<Types, StoredAction, StoredAction>;
  /** The engine's action type and parameters for a BulkActionInput (throws BAD_USER_INPUT). */
  toEngineAction(input: ActionInputValue): { actionType: string; params: Record<string, unknown> };
}

/** The nodes an action field may name, with the type that shows one and how a request loads it. */
const NODES: Record<ActionNodeType, { ref: ObjectRef<Types, unknown>; load(ctx: Context, key: string): unknown }> = {
  User: { ref: UserRef, load: (ctx, key) => ctx.loaders.user.load(key) },
};

const words = (actionType: string) => actionType.toLowerCase().split("_");
const capital = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
/** SET_STATUS: setStatus (the default BulkActionInput field). */
const camelName = (actionType: string) => words(actionType).map((w, i) => i === 0 ? w : capital(w)).join("");
/** SET_STATUS: SetStatus (the default type names). */
const pascalName = (actionType: string) => words(actionType).map(capital).join("");

type MemberFieldBuilder = PothosSchemaTypes.ObjectFieldBuilder<Types, StoredAction>;

let built: BulkActionTypes | undefined;

/** The action types of the schema being built (defineBulkActions must have run). */
export function bulkActions(): BulkActionTypes {
  if (!built) throw new Error("defineBulkActions(domain) must run before the schema is built");
  return built;
}

const isNode = (type: ActionFieldType): type is { node: ActionNodeType } => typeof type === "object" && "node" in type;

function descriptorOf(action: BulkAction): ActionGraphQL {
  if (!action.graphql) throw new Error(`Action ${action.type} declares no GraphQL input and union member.`);
  return action.graphql;
}

/** Registers BulkActionType, BulkActionInput and BulkAction for the domain; once per schema. */
export function defineBulkActions(domain: BulkDomain): BulkActionTypes {
  if (built) throw new Error("The bulk action types are already defined (one schema per process).");
  const actions = [...domain.actions.values()];
  const typeEnum = builder.enumType("BulkActionType", {
    description: `${domain.rollback.type} is the action of ROLLBACK operations (rollbackBulkOperation); ` +
      "clients cannot start it.",
    values: actions.map((action) => action.type),
  });
  const enumOf = (type: ActionFieldType) =>
    type === "BulkActionType" ? typeEnum : typeof type === "object" && "enum" in type ? domainEnum(type) : null;

  const inputTypes = new Map<string, { fields: string; ref: ReturnType<typeof inputObject> }>();
  const inputObject = (name: string, description: string | undefined, fields: Record<string, ActionInputField>) =>
    builder.inputType(name, {
      description,
      fields: (t) =>
        Object.fromEntries(
          Object.entries(fields).map(([fieldName, field]) => {
            const options = { required: field.required, description: field.description };
            const enumRef = enumOf(field.type);
            const ref = enumRef
              ? t.field({ type: enumRef, ...options })
              : field.type === "Boolean"
              ? t.boolean(options)
              : field.type === "String"
              ? t.string(options)
              : t.id(options);
            return [fieldName, ref];
          }),
        ),
    });
  /** Actions may share an input type: the same name must declare the same fields. */
  const inputTypeOf = (action: BulkAction, input: NonNullable<ActionGraphQL["input"]>) => {
    const name = input.type.name ?? `${pascalName(action.type)}ActionInput`;
    const fields = JSON.stringify(input.type.fields);
    const known = inputTypes.get(name);
    if (known && known.fields !== fields) throw new Error(`Input ${name} is declared with different fields.`);
    if (known) return known.ref;
    const ref = inputObject(name, input.type.description, { ...input.type.fields });
    inputTypes.set(name, { fields, ref });
    return ref;
  };

  /** BulkActionInput field -> the action it starts. */
  const starts = new Map<string, { action: BulkAction; input: NonNullable<ActionGraphQL["input"]> }>();
  for (const action of actions) {
    const declared = descriptorOf(action).input;
    if (declared) starts.set(declared.field ?? camelName(action.type), { action, input: declared });
  }
  const input = builder.inputType("BulkActionInput", {
    description: "Exactly one action (@oneOf).",
    isOneOf: true,
    fields: (t) =>
      Object.fromEntries(
        [...starts].map((
          [field, start],
        ) => [field, t.field({ type: inputTypeOf(start.action, start.input), description: start.input.description })]),
      ),
  });

  const union = builder.unionType("BulkAction", {
    description: "What the operation does to each target, with its parameters.",
    types: () => actions.map((action) => member(action, descriptorOf(action).output)),
  });

  function member(action: BulkAction, output: ActionGraphQL["output"]) {
    return builder.objectRef<StoredAction>(output.name ?? `${pascalName(action.type)}Action`).implement({
      isTypeOf: (value) => typeof value === "object" && value !== null && "type" in value && value.type === action.type,
      fields: (t) => ({
        type: t.field({ type: typeEnum, resolve: (a) => a.type }),
        ...Object.fromEntries(
          Object.entries(output.fields).map(([name, field]) => [name, outputField(t, name, field)]),
        ),
      }),
    });

    function outputField(t: MemberFieldBuilder, name: string, field: ActionOutputField) {
      const param = (a: StoredAction) => a.params[field.param ?? name];
      const text = (a: StoredAction) => {
        const value = param(a);
        return value === undefined || value === null ? null : String(value);
      };
      const options = { description: field.description };
      if (typeof field.type === "object" && "list" in field.type) {
        return t.stringList({
          ...options,
          extensions: { maxItems: field.type.maxItems },
          resolve: (a) => {
            const value = param(a);
            return Array.isArray(value) ? value.map(String) : [];
          },
        });
      }
      const enumRef = enumOf(field.type);
      if (enumRef) {
        return field.nullable
          ? t.field({ type: enumRef, nullable: true, ...options, resolve: text })
          : t.field({ type: enumRef, ...options, resolve: (a) => String(param(a)) });
      }
      if (field.type === "Boolean") return t.boolean({ ...options, resolve: (a) => param(a) === true });
      if (field.type === "String") {
        return field.nullable
          ? t.string({ nullable: true, ...options, resolve: text })
          : t.string({ ...options, resolve: (a) => String(param(a)) });
      }
      if (!isNode(field.type)) throw new Error(`Field ${name} of ${action.type} has an unknown type.`);
      const node = NODES[field.type.node];
      return t.field({
        type: node.ref,
        nullable: true,
        ...options,
        resolve: (a, _args, ctx) => {
          const key = text(a);
          return key === null ? null : node.load(ctx, key);
        },
      });
    }
  }

  const types: BulkActionTypes = {
    typeEnum,
    input,
    union,
    toEngineAction(value) {
      const given = Object.entries(value).filter(([, fields]) => fields !== null && fields !== undefined);
      const start = given.length === 1 ? starts.get(given[0][0]) : undefined;
      if (!start) throw badInput("Give exactly one action.", "action");
      const fields = given[0][1] ?? {};
      const params: Record<string, unknown> = {};
      for (const [name, field] of Object.entries(start.input.type.fields)) {
        const raw = fields[name];
        if (isNode(field.type)) {
          // null or absent: no node (e.g. ASSIGN with null unassigns).
          params[name] = typeof raw === "string" && raw !== "" ? expectId(raw, field.type.node, "action") : null;
        } else if (raw !== null && raw !== undefined) {
          params[name] = raw; // limits are checked by the action's parseParams
        }
      }
      return { actionType: start.action.type, params };
    },
  };
  built = types;
  return types;
}

/** A stored operation's action: action_params is the JSON object its action's checks returned at start. */
export const storedAction = (type: string, params: unknown): StoredAction => ({
  type,
  params: isRecord(params) ? params : {},
});
