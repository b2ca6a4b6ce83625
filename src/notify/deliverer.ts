/**
 * The deliverer: sends what the outbox holds. One per worker-pool process (API and
 * `deno task worker`), on the pool's maintenance connections, never inside chunk work: it
 * claims due deliveries (delivery-queue.ts), sends them concurrently (webhooks signed per
 * Standard Webhooks, e-mails through SMTP), records each result, and sleeps NOTIFY_POLL_MS
 * when nothing is due. Hourly it prunes history older than NOTIFY_RETENTION_DAYS. Deliverers of several processes share the work through SKIP LOCKED.
 */
import type { Config } from "../config.ts";
import type { Db } from "../db/database.ts";
import { log } from "../log.ts";
import { checkWebhookUrl, UnsafeUrlError } from "./address-guard.ts";
import {
  claimDeliveries,
  type ClaimedDelivery,
  type FailedAttempt,
  recordDelivered,
  recordFailed,
} from "./delivery-queue.ts";
import { Mailer } from "./mailer.ts";
import { emailMessage, webhookBody } from "./messages.ts";
import { pruneNotifications } from "./retention.ts";
import { decryptSecret, signatureHeader } from "./secrets.ts";
import { postWebhook } from "./webhook-send.ts";

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

  constructor(private readonly db: Db, private readonly settings: DelivererSettings) {
    this.#mailer = settings.smtpUrl ? new Mailer(settings.smtpUrl, settings.smtpFrom, settings.timeoutMs) : null;
  }

  start(): this {
    this.#loop = this.#run();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    this.#mailer?.close();
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      if (Date.now() - this.#prunedAt >= PRUNE_EVERY_MS) await this.#prune();
      const free = MAX_IN_FLIGHT - this.#inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          // The claim's lease: twice the send timeout, the send plus room to record its result.
          const deliveries = await claimDeliveries(this.db, free, 2 * this.settings.timeoutMs);
          claimed = deliveries.length;
          deliveries.forEach((delivery) => this.#track(this.#deliver(delivery)));
        } catch (error) {
          log.warn("notify", `deliverer: ${(error as Error).message}`);
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
      log.warn("notify", `pruning: ${(error as Error).message}`);
    }
  }

  #track(delivery: Promise<void>): void {
    const tracked: Promise<void> = delivery
      .catch((error) => log.warn("notify", `deliverer: ${(error as Error).message}`))
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
      // Every claimed delivery gets an outcome (e.g. a secret stored under another WEBHOOK_SECRET_KEY does not
      // decrypt); otherwise it would be claimed again at every lease expiry and never reach its 24-hour end.
      result = failed(`internal error: ${(error as Error).message}`);
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
    if (!this.settings.secretKey) return failed("WEBHOOK_SECRET_KEY is not set in this process");
    const secrets = [await decryptSecret(this.settings.secretKey, endpoint.id, endpoint.secret_ciphertext)];
    if (
      endpoint.previous_secret_ciphertext && endpoint.previous_secret_expires_at &&
      new Date(endpoint.previous_secret_expires_at) > new Date()
    ) {
      secrets.push(await decryptSecret(this.settings.secretKey, endpoint.id, endpoint.previous_secret_ciphertext));
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

  async #sendEmail(delivery: ClaimedDelivery): Promise<Result> {
    if (!this.#mailer) return failed("SMTP_URL is not set in this process");
    const { subject, text } = emailMessage(delivery.payload, this.settings.publicUrl);
    try {
      await this.#mailer.send({ to: delivery.recipient!, subject, text, messageId: delivery.eventId });
      return { ok: true, statusCode: null };
    } catch (error) {
      return failed(`SMTP: ${(error as Error).message}`);
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
