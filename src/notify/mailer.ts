/**
 * E-mail through SMTP_URL with nodemailer: one SMTP connection per message (nodemailer's
 * default, non-pooled transport; e-mails are rare, one per finished operation and watcher).
 * A send as a whole, connection to the last byte, is bounded by the same timeout as a webhook
 * POST: at the deadline its socket is destroyed and the send fails, so no e-mail can still be
 * going out after the claim's lease (twice the timeout) lets another process send it too, and
 * stopping the deliverer waits at most the timeout. nodemailer's own per-phase timeouts
 * (connection, greeting, socket idle) do not bound a server that answers slowly but steadily.
 */
import net from "node:net";
import nodemailer from "nodemailer";

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** The event id, as Message-ID, so a re-sent e-mail can be recognised as the same message. */
  messageId: string;
}

export class Mailer {
  readonly #host: string;
  readonly #port: number;
  readonly #secure: boolean;
  readonly #auth: { user: string; pass: string } | undefined;

  constructor(smtpUrl: string, private readonly from: string, private readonly timeoutMs: number) {
    const url = new URL(smtpUrl);
    this.#host = url.hostname;
    this.#secure = url.protocol === "smtps:";
    this.#port = url.port ? Number(url.port) : this.#secure ? 465 : 587;
    this.#auth = url.username
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined;
  }

  async send(mail: Mail): Promise<void> {
    let socket: net.Socket | undefined;
    const transport = nodemailer.createTransport({
      host: this.#host,
      port: this.#port,
      secure: this.#secure,
      auth: this.#auth,
      connectionTimeout: this.timeoutMs,
      greetingTimeout: this.timeoutMs,
      socketTimeout: this.timeoutMs,
      // The message's own TCP socket (nodemailer upgrades it to TLS for smtps), so the deadline can destroy it.
      getSocket: (_options: unknown, callback: (error: Error | null, socketOptions: object | null) => void) => {
        const opened = net.connect({ host: this.#host, port: this.#port });
        socket = opened;
        opened.once("error", (error) => callback(error, null));
        opened.once("connect", () => callback(null, { connection: opened }));
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`no answer within ${this.timeoutMs} ms (WEBHOOK_TIMEOUT_MS)`);
        socket?.destroy(error);
        reject(error);
      }, this.timeoutMs);
    });
    try {
      await Promise.race([
        transport.sendMail({
          from: this.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          messageId: `<${mail.messageId}@bulk-ops>`,
        }),
        deadline,
      ]);
    } finally {
      clearTimeout(timer);
      socket?.destroy();
      transport.close();
    }
  }
}
