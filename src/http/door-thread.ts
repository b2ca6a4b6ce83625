/**
 * The front door (src/http/head-deadline.ts) on a thread of its own (a Deno Web Worker,
 * src/http/door-worker.ts; workers inherit the process's permissions): it holds the public TCP
 * listener and copies every connection's bytes to and from the inner Deno.serve's Unix socket.
 *
 * Why a thread: at 1,000 graphql-ws subscribers the main thread does both the progress fan-out
 * and the door's copying of every frame; a V8 profile of the main isolate (docs/performance.md,
 * "fan-out") showed the door's TCP writes at 16% of its busy time and its Unix-socket reads at
 * ~6%, plus their garbage. On its own thread that copying runs beside the fan-out, on the other
 * core. The door needs nothing of the main thread: its body rule (client bytes past the body
 * deadline cut once the answer began) watches the answer's first bytes on the connection itself.
 */
import type { FrontDoorOptions } from "./head-deadline.ts";
import type { Config } from "../config.ts";
import { log } from "../log.ts";

/** What configureLog needs: the thread logs as the process does. */
type LogSettings = Pick<Config, "logLevel" | "logFormat">;

export type DoorToThread =
  | { type: "open"; options: FrontDoorOptions; log: LogSettings }
  | { type: "close" }
  | { type: "drain" };

export type DoorFromThread =
  | { type: "listening"; hostname: string; port: number }
  | { type: "failed"; name: string; message: string }
  | { type: "closed" }
  | { type: "drained" };

export interface FrontDoorThread {
  hostname: string;
  port: number;
  /** Stops accepting and closes connections still sending their head (FrontDoor.close). */
  close(): Promise<void>;
  /** After the inner server's shutdown: lets the answers passed on end (FrontDoor.drain), then ends the thread. */
  terminate(): Promise<void>;
}

/** The failure as the typed Deno error the door threw (AddrInUse, AddrNotAvailable...), else an Error. */
function rebuilt(name: string, message: string): Error {
  const typed = Object.entries(Deno.errors).find(([key]) => key === name)?.[1];
  return typed ? new typed(message) : Object.assign(new Error(message), { name });
}

/** Resolves once the thread listens (or rejects with the door's error: the port taken...). */
export function openFrontDoorThread(options: FrontDoorOptions, logSettings: LogSettings): Promise<FrontDoorThread> {
  const worker = new Worker(new URL("./door-worker.ts", import.meta.url), { type: "module", name: "front door" });
  const replies = new Map<DoorFromThread["type"], () => void>();
  const ask = (message: DoorToThread, reply: DoorFromThread["type"]) =>
    new Promise<void>((resolve) => {
      replies.set(reply, resolve);
      worker.postMessage(message);
    });
  return new Promise((resolve, reject) => {
    // Not prevented: an exception in the door is fatal to the process, as it was on the main thread.
    worker.onerror = (event) => {
      log.error("http", `front door thread crashed: ${event.message}`);
      reject(new Error(`front door thread crashed: ${event.message}`));
    };
    worker.onmessage = (event: MessageEvent<DoorFromThread>) => {
      const message = event.data;
      if (message.type === "failed") {
        worker.terminate();
        reject(rebuilt(message.name, message.message));
      } else if (message.type === "listening") {
        resolve({
          hostname: message.hostname,
          port: message.port,
          close: () => ask({ type: "close" }, "closed"),
          terminate: async () => {
            await ask({ type: "drain" }, "drained");
            worker.terminate();
          },
        });
      } else {
        replies.get(message.type)?.();
      }
    };
    worker.postMessage({ type: "open", options, log: logSettings } satisfies DoorToThread);
  });
}
