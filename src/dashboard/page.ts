/** What every page of the console gets and gives back. */
import type { Session } from "./session.ts";

export interface PageContext {
  session: Session;
  /** Goes to a route, e.g. "#/operations/<id>". */
  navigate(hash: string): void;
  /** A status line for the page (role=status); "" hides it. */
  say(text: string, kind?: "info" | "error"): void;
  /** Shows what an error says. */
  fail(error: unknown): void;
}

export interface Page {
  element: HTMLElement;
  /** Ends the page's subscriptions and timers. */
  dispose(): void;
}
