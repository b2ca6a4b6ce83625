/**
 * How an action shows in the GraphQL API, as plain data: the member of the `@oneOf`
 * BulkActionInput that starts it and the member of the BulkAction union that shows it.
 * Action files declare it next to their code (BulkAction.graphql), so adding an action is
 * its file plus one line in its domain's list; src/graphql/types/bulk-action.ts builds the
 * Pothos types from the served domain's descriptors. Data, not schema refs: action files
 * are loaded by worker threads, which must not load the schema builder (it would build
 * the whole API type registry in every thread for nothing).
 */

/** An enum of the domain's vocabulary, declared once per name (the same name must mean the same values). */
export interface EnumDescriptor<V extends string = string> {
  enum: string;
  values: readonly V[];
  description?: string;
}

/** The node types an action field may refer to by global id (bulk-action.ts maps each to its type and loader). */
export type ActionNodeType = "User";

/**
 * A field's GraphQL type: a scalar, an enum of the domain, a node (its global id as input,
 * the node itself as output, stored as its key), or an action type of the served domain.
 */
export type ActionFieldType =
  | "String"
  | "Boolean"
  | EnumDescriptor
  | { node: ActionNodeType }
  | "BulkActionType";

export interface ActionInputField {
  type: ActionFieldType;
  required: boolean;
  /** Shown in the schema; say the limits parseParams enforces. */
  description?: string;
}

/** A list of texts (output only), with the most items it can hold (the cost rule needs it). */
export interface StringListType {
  list: "String";
  maxItems: number;
}

export interface ActionOutputField {
  type: ActionFieldType | StringListType;
  /** Default false. */
  nullable?: boolean;
  description?: string;
  /** The stored parameter it shows; default the field's own name. */
  param?: string;
}

export interface ActionGraphQL {
  /**
   * The BulkActionInput member that starts the action; absent for actions clients cannot
   * start (the rollback action). Each input field becomes the parameter of the same name.
   */
  input?: {
    /** Default: the action type in camelCase (SET_STATUS: setStatus). */
    field?: string;
    /** Of the BulkActionInput field. */
    description?: string;
    /**
     * Default name: the action type in PascalCase + "ActionInput". Actions may share one
     * input type by giving the same name and fields.
     */
    type: { name?: string; description?: string; fields: Readonly<Record<string, ActionInputField>> };
  };
  /** The BulkAction union member; `type` (BulkActionType) comes on top. Default name: PascalCase + "Action". */
  output: { name?: string; fields: Readonly<Record<string, ActionOutputField>> };
}
