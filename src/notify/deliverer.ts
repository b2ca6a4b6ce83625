/**
 * The deliverer: sends what the outbox holds. One per worker-pool process (API and
 * `deno task worker`), on the pool's maintenance connections, never inside chunk work: it
 * claims due deliveries (delivery-queue.ts), sends them concurrently (webhooks signed per
 * Standard Webhooks, e-mails through SMTP), records each result, and sleeps NOTIFY_POLL_MS
 * when nothing is due. Hourly it prunes history older than NOTIFY_RETENTION_DAYS. Deliverers of several processes share the work through SKIP LOCKED.
 * A process claims only the channels it can send (webhooks need WEBHOOK_SECRET_KEY, e-mail
 * SMTP_URL) and runs no loop when it can send neither.
 */
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import { checkWebhookUrl, UnsafeUrlError } from "./address-guard.ts";
import {
  type Channel,
  claimDeliveries,
  type ClaimedDelivery,
  expireDeliveries,
  type FailedAttempt,
  recordDelivered,
  recordFailed,
  releaseDelivery,
} from "./delivery-queue.ts";
import { Mailer } from "./mailer.ts";
import { emailMessage, webhookBody } from "./messages.ts";
import { pruneNotifications } from "./retention.ts";
import { decryptSecret, signatureHeader } from "./secrets.ts";
import { postWebhook } from "./webhook-send.ts";
import { errorMessage } from "../guards.ts";

/**
 * Deliveries in flight at once in one process. Slots are refilled as each one ends, so a
 * receiver that hangs until the timeout holds one slot, not a whole batch.
 */
const MAX_IN_FLIGHT = 10;
/** How often each deliverer prunes history older than NOTIFY_RETENTION_DAYS (and once at start). */
const PRUNE_EVERY_MS = 3_600_000;

/** What one attempt gave (a webhook's SendOutcome is one). */
type Result = { ok: true; statusCode: number | null } | ({ ok: false } & FailedAttempt);
const failed = (error: string): Result => ({ ok: false, statusCode: null, error, gone: false });

/**
 * This process cannot send the delivery because of its own configuration, not the
 * receiver's fault: the delivery is released for another process, not counted against the
 * endpoint.
 */
class ConfigurationError extends Error {}

export interface DelivererSettings {
  publicUrl: string;
  secretKey: Uint8Array | undefined;
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  retryBaseMs: number;
  maxConsecutiveFailures: number;
  pollMs: number;
  retentionDays: number;
  smtpUrl: string | undefined;
  smtpFrom: string;
}

export class Deliverer {
  #stopping = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #inFlight = new Set<Promise<void>>();
  #prunedAt = 0;
  #mailer: Mailer | null;
  /** The channels this process can send: webhooks need WEBHOOK_SECRET_KEY, e-mails SMTP_URL. */
  readonly channels: readonly Channel[];

  constructor(private readonly db: Db, private readonly settings: DelivererSettings) {
    this.#mailer = settings.smtpUrl ? new Mailer(settings.smtpUrl, settings.smtpFrom, settings.timeoutMs) : null;
    this.channels = [
      ...(settings.secretKey ? ["WEBHOOK" as const] : []),
      ...(this.#mailer ? ["EMAIL" as const] : []),
    ];
  }

  /** Starts the loop, unless this process can send no channel: then it leaves every delivery to others. */
  start(): this {
    if (this.channels.length === 0) {
      log.debug("notify", "no deliverer: neither WEBHOOK_SECRET_KEY nor SMTP_URL is set in this process");
      return this;
    }
    this.#loop = this.#run();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      if (Date.now() - this.#prunedAt >= PRUNE_EVERY_MS) await this.#prune();
      const free = MAX_IN_FLIGHT - this.#inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          await expireDeliveries(this.db, free, this.channels);
          // The claim's lease: twice the send timeout, the send plus room to record its result.
          const deliveries = await claimDeliveries(this.db, free, 2 * this.settings.timeoutMs, this.channels);
          claimed = deliveries.length;
          deliveries.forEach((delivery) => this.#track(this.#deliver(delivery)));
        } catch (error) {
          log.warn("notify", `deliverer: ${errorMessage(error)}`);
        }
      }
      // A full claim may leave more due at once; otherwise wait for the poll or a freed slot.
      if (free === 0 || claimed < free) await this.#sleep();
    }
    await Promise.all(this.#inFlight);
  }

  async #prune(): Promise<void> {
    this.#prunedAt = Date.now();
    try {
      const deleted = await pruneNotifications(this.db, this.settings.retentionDays);
      if (deleted > 0) {
        log.info("notify", `pruned ${deleted} notification events older than ${this.settings.retentionDays} days`);
      }
    } catch (error) {
      log.warn("notify", `pruning: ${errorMessage(error)}`);
    }
  }

  #track(delivery: Promise<void>): void {
    const tracked: Promise<void> = delivery
      .catch((error) => log.warn("notify", `deliverer: ${errorMessage(error)}`))
      .finally(() => {
        this.#inFlight.delete(tracked);
        this.#wake?.();
      });
    this.#inFlight.add(tracked);
  }

  #sleep(): Promise<void> {
    if (this.#stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.settings.pollMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  async #deliver(delivery: ClaimedDelivery): Promise<void> {
    let result: Result;
    try {
      result = delivery.channel === "WEBHOOK" ? await this.#sendWebhook(delivery) : await this.#sendEmail(delivery);
    } catch (error) {
      if (error instanceof ConfigurationError) {
        // Released for a process whose configuration can send it (after a retry base, so a lone misconfigured
        // process does not spin on it); the retry window still ends it if none can.
        log.warn("notify", `delivery ${delivery.id} released: ${error.message}`);
        return await releaseDelivery(this.db, delivery, error.message, this.settings.retryBaseMs);
      }
      // Every claimed delivery gets an outcome; otherwise it would be claimed again at every lease expiry.
      result = failed(`internal error: ${errorMessage(error)}`);
    }
    if (result.ok) return await recordDelivered(this.db, delivery, result.statusCode);
    log.debug("notify", `delivery ${delivery.id} attempt ${delivery.attempts} failed: ${result.error}`);
    await recordFailed(this.db, delivery, result, {
      retryBaseMs: this.settings.retryBaseMs,
      maxConsecutiveFailures: this.settings.maxConsecutiveFailures,
    });
  }

  async #sendWebhook(delivery: ClaimedDelivery): Promise<Result> {
    const endpoint = await this.db.selectFrom("webhook_endpoints")
      .select(["id", "url", "enabled", "secret_ciphertext", "previous_secret_ciphertext", "previous_secret_expires_at"])
      .where("id", "=", delivery.endpointId!).executeTakeFirst();
    if (!endpoint || !endpoint.enabled) return failed("the endpoint is disabled");
    const secrets = [await this.#decrypt(endpoint.id, endpoint.secret_ciphertext)];
    if (
      endpoint.previous_secret_ciphertext && endpoint.previous_secret_expires_at &&
      new Date(endpoint.previous_secret_expires_at) > new Date()
    ) {
      secrets.push(await this.#decrypt(endpoint.id, endpoint.previous_secret_ciphertext));
    }
    let url: URL;
    try {
      url = checkWebhookUrl(endpoint.url);
    } catch (error) {
      if (error instanceof UnsafeUrlError) return failed(error.message);
      throw error;
    }
    const body = webhookBody(delivery.payload, this.settings.publicUrl);
    const now = new Date();
    return await postWebhook(
      url,
      {
        "webhook-id": delivery.eventId,
        "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
        "webhook-signature": signatureHeader(secrets, delivery.eventId, now, body),
      },
      body,
      { timeoutMs: this.settings.timeoutMs, allowPrivateNetworks: this.settings.allowPrivateNetworks },
    );
  }

  /** A signing secret; one this process's key cannot open is a ConfigurationError (another key sealed it). */
  async #decrypt(endpointId: string, sealed: Uint8Array): Promise<string> {
    const key = this.settings.secretKey;
    if (!key) throw new ConfigurationError("WEBHOOK_SECRET_KEY is not set in this process");
    try {
      return await decryptSecret(key, endpointId, sealed);
    } catch {
      throw new ConfigurationError(
        "this process's WEBHOOK_SECRET_KEY cannot decrypt the endpoint's secret (every delivering process needs the same key)",
      );
    }
  }

  async #sendEmail(delivery: ClaimedDelivery): Promise<Result> {
    if (!this.#mailer) throw new ConfigurationError("SMTP_URL is not set in this process");
    const { subject, text } = emailMessage(delivery.payload, this.settings.publicUrl);
    try {
      await this.#mailer.send({ to: delivery.recipient!, subject, text, messageId: delivery.eventId });
      return { ok: true, statusCode: null };
    } catch (error) {
      return failed(`SMTP: ${errorMessage(error)}`);
    }
  }
}

/** The deliverer's settings from the configuration. */
export function delivererSettings(config: Config): DelivererSettings {
  return {
    publicUrl: config.publicUrl,
    secretKey: config.webhookSecretKey,
    timeoutMs: config.webhookTimeoutMs,
    allowPrivateNetworks: config.webhookAllowPrivateNetworks,
    retryBaseMs: config.notifyRetryBaseMs,
    maxConsecutiveFailures: config.webhookMaxConsecutiveFailures,
    pollMs: config.notifyPollMs,
    retentionDays: config.notifyRetentionDays,
    smtpUrl: config.smtpUrl,
    smtpFrom: config.smtpFrom,
  };
}
