/**
 * E-mail through SMTP_URL with nodemailer (one pooled transport per process). Sending is
 * bounded by the same timeout as a webhook POST, so a stuck SMTP server cannot hold a
 * delivery past its claim.
 */
import nodemailer from "nodemailer";

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** The event id, as Message-ID, so a re-sent e-mail can be recognised as the same message. */
  messageId: string;
}

export class Mailer {
  #transport: nodemailer.Transporter;

  constructor(smtpUrl: string, private readonly from: string, timeoutMs: number) {
    const url = new URL(smtpUrl);
    this.#transport = nodemailer.createTransport({
      host: url.hostname,
      port: url.port ? Number(url.port) : url.protocol === "smtps:" ? 465 : 587,
      secure: url.protocol === "smtps:",
      auth: url.username
        ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
        : undefined,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
  }

  async send(mail: Mail): Promise<void> {
    await this.#transport.sendMail({
      from: this.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      messageId: `<${mail.messageId}@bulk-ops>`,
    });
  }

  close(): void {
    this.#transport.close();
  }
}
