/**
 * Entry module of the front door's thread (a Deno Web Worker, started by src/http/door-thread.ts):
 * the door of src/http/head-deadline.ts, opened and closed on the main thread's messages.
 */
/// <reference lib="deno.worker" />
import { type FrontDoor, openFrontDoor } from "./head-deadline.ts";
import { configureLog } from "../log.ts";
import type { DoorFromThread, DoorToThread } from "./door-thread.ts";

let door: FrontDoor | null = null;
const post = (message: DoorFromThread) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<DoorToThread>) => {
  const message = event.data;
  if (message.type === "open") {
    configureLog(message.log);
    try {
      door = openFrontDoor(message.options);
    } catch (error) {
      // Deno's typed errors (AddrInUse, AddrNotAvailable...) do not survive structured cloning: by name.
      const { name, message: text } = error instanceof Error ? error : new Error(String(error));
      post({ type: "failed", name, message: text });
      return;
    }
    post({ type: "listening", hostname: door.addr.hostname, port: door.addr.port });
  } else if (message.type === "close") {
    door?.close();
    post({ type: "closed" });
  } else if (message.type === "drain") {
    await door?.drain();
    post({ type: "drained" });
  }
};
