/**
 * The console's DOM helpers. No framework and no innerHTML: every value is set as text, so whatever a ticket or an
 * operation holds (titles, descriptions, error messages) is inert on the page.
 */
import { isRecord } from "../guards.ts";

type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  text?: string;
  /** Attributes (aria-*, for, type, ...); `false`/`null` leave one out. */
  attrs?: Record<string, string | number | boolean | null | undefined>;
  /** data-* values. */
  data?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | string = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const p: Props = typeof props === "string" ? { class: props } : props;
  if (p.class) node.className = p.class;
  if (p.text !== undefined) node.textContent = p.text;
  for (const [name, value] of Object.entries(p.attrs ?? {})) {
    if (value === true) node.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  Object.assign(node.dataset, p.data ?? {});
  // A cast kept: Object.entries loses which event type goes with which listener type.
  for (const [type, listener] of Object.entries(p.on ?? {})) {
    node.addEventListener(type, listener as EventListener);
  }
  node.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return node;
}

export function button(label: string, onClick: () => void, props: Props = {}): HTMLButtonElement {
  const node = el("button", { ...props, text: label, attrs: { type: "button", ...props.attrs } });
  node.addEventListener("click", onClick);
  return node;
}

let controls = 0;
/** A unique id for a control, so its <label for> names it. */
export const controlId = (prefix: string) => `${prefix}-${++controls}`;

/** A labelled control: <label for=id>text</label> + the control. */
export function field(label: string, control: HTMLElement, className = "field"): HTMLElement {
  control.id ||= controlId("f");
  return el("div", className, el("label", { text: label, attrs: { for: control.id } }), control);
}

export function select(
  options: readonly (string | { value: string; label: string })[],
  props: Props & { multiple?: boolean; value?: string } = {},
): HTMLSelectElement {
  const node = el("select", props);
  node.multiple = props.multiple ?? false;
  for (const option of options) {
    const { value, label } = typeof option === "string" ? { value: option, label: humanize(option) } : option;
    node.append(el("option", { text: label, attrs: { value } }));
  }
  if (props.value !== undefined) node.value = props.value;
  return node;
}

/** Which of `all` a <select multiple> has selected (typed as `all`'s values); undefined when none: no condition. */
export function picked<T extends string>(node: HTMLSelectElement, all: readonly T[]): T[] | undefined {
  const chosen = new Set([...node.selectedOptions].map((o) => o.value));
  const values = all.filter((value) => chosen.has(value));
  return values.length ? values : undefined;
}

/** A date input's day as the instant it starts in the viewer's time zone; undefined when empty. */
export const startOfDay = (input: HTMLInputElement) =>
  input.value ? new Date(`${input.value}T00:00`).toISOString() : undefined;

/** FEATURE_REQUEST -> feature request */
export const humanize = (code: string) => code.replaceAll("_", " ").toLowerCase();

/** 13:05:09 today, else 2030-01-01 13:05. */
export function time(iso: string | null | undefined): string {
  if (!iso) return "";
  const at = new Date(iso);
  if (at.toDateString() === new Date().toDateString()) return at.toLocaleTimeString([], { hour12: false });
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${
    pad(at.getMinutes())
  }`;
}

/** A table with a header row; `rows` are appended to its tbody by the caller. */
export function table(caption: string, headers: readonly string[], className = "grid"): {
  table: HTMLTableElement;
  body: HTMLTableSectionElement;
} {
  const body = el("tbody");
  const node = el(
    "table",
    className,
    el("caption", { class: "visually-hidden", text: caption }),
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h, attrs: { scope: "col" } })))),
    body,
  );
  return { table: node, body };
}

/** before -> after of the fields that differ (or of every field when one side is missing). */
export function diff(before: unknown, after: unknown): HTMLElement {
  const b = isRecord(before) ? before : {};
  const a = isRecord(after) ? after : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((k) =>
    JSON.stringify(b[k]) !== JSON.stringify(a[k])
  );
  if (keys.length === 0) return el("span", { class: "muted", text: before || after ? "no change" : "" });
  const show = (
    v: unknown,
  ) => (v === undefined ? "–" : v === null ? "null" : typeof v === "string" ? v : JSON.stringify(v));
  return el(
    "dl",
    "diff",
    ...keys.flatMap((k) => [
      el("dt", { text: k }),
      el("dd", {}, el("del", { text: show(b[k]) }), " → ", el("ins", { text: show(a[k]) })),
    ]),
  );
}
