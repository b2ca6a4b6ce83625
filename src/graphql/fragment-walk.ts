/**
 * The one memoised fragment walk the limit rules share (depth-limit.ts, query-cost.ts: cost and root fields).
 * Each fragment is measured once per variant (the cost's page size; "" for the others) and the figure reused at
 * every spread, which keeps validation linear in the document: the 22-level fragment bomb of issue #15
 * (`fragment Fi { ...F(i+1) ...F(i+1) }`) walked 2^22 spreads, 9.3 s, when each spread was walked again.
 */
import { type DocumentNode, type FragmentDefinitionNode, Kind } from "graphql";

const fragmentMaps = new WeakMap<DocumentNode, ReadonlyMap<string, FragmentDefinitionNode>>();

/** The fragments of a document by name, built once per parsed document (Yoga reuses parsed documents). */
export function fragmentsOf(document: DocumentNode): ReadonlyMap<string, FragmentDefinitionNode> {
  let fragments = fragmentMaps.get(document);
  if (!fragments) {
    fragments = new Map(
      document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
    );
    fragmentMaps.set(document, fragments);
  }
  return fragments;
}

/**
 * `spread(name, variant)`: `measure(fragment, variant)`, computed once per (fragment, variant) within this walk.
 * An unknown fragment measures 0, and so does a fragment met again while it is being measured (a cycle, which
 * graphql-js's NoFragmentCycles reports).
 */
export function memoisedSpreads<V extends string | number>(
  document: DocumentNode,
  measure: (fragment: FragmentDefinitionNode, variant: V) => number,
): (name: string, variant: V) => number {
  const fragments = fragmentsOf(document);
  const memo = new Map<string, number>();
  return (name, variant) => {
    const key = `${name}:${variant}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    memo.set(key, 0);
    const value = fragment ? measure(fragment, variant) : 0;
    memo.set(key, value);
    return value;
  };
}
