/** `deno task schema`: writes schema.graphql from the Pothos schema (CI checks it is fresh). */
import { printedSchema } from "../graphql/schema.ts";

await Deno.writeTextFile(new URL("../../schema.graphql", import.meta.url), printedSchema());
console.log("wrote schema.graphql");
