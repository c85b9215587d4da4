// Package mail composes Latchkey's email and delivers it over SMTP through
// the outbox table (models.OutboxMessage).
//
// A message is composed from templates (templates.Mail: a plain-text and
// an HTML part per kind), checked (one bare address, no CR or LF in any
// header value, bounded sizes: RFC 5322 §2.2 and §3.6, RFC 5321 §4.5.3.1),
// sealed with the master key (a message may carry a one-time link) and
// queued with Mailer.Queue on the transaction of the action that causes
// it. Mailer.Deliver, run by a background job on every instance, claims
// due rows atomically, sends them with github.com/wneessen/go-mail, and
// retries failures with exponential backoff up to a cap, giving a message
// up (undeliverable) after MaxAttempts or at once on a permanent (5xx)
// SMTP answer. Delivery is at least once: a sender that dies between the
// SMTP answer and the database update sends again when its lease ends.
//
// It imports models and templates, and go-mail.
package mail
