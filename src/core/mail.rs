//! Mail delivery. Requests only write jobs to the outbox; this worker renders them (issuing
//! their tokens), sends them through SMTP — or, without `smtp.url`, writes them to the log —
//! and retries with backoff, so an SMTP outage never fails a request and a restart loses
//! nothing. Any number of instances may run a worker: each job is claimed by one.

use std::{ops::Deref, time::Duration};

use tokio::sync::watch;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};

use super::{
    Core,
    templates::{RenderedMail, Templates},
};
use crate::{config::Settings, store::OutboxRow};

/// How long a claimed job is reserved for one worker.
const LEASE_SECS: i64 = 120;
/// After this long a mail that could not be delivered is dropped (its link has expired).
const GIVE_UP_SECS: i64 = 86400;
/// Jobs handled per wake-up, so one tick stays short.
const BATCH: usize = 50;

enum Transport {
    /// Development without a mail server: the mail goes to the log, its link tokens masked
    /// unless `mail.log_links` is on.
    Log {
        links: bool,
    },
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

pub struct MailWorker {
    templates: Templates,
    transport: Transport,
    from: Mailbox,
}

impl MailWorker {
    /// Reads the templates and the SMTP settings; any error stops start-up.
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let templates = Templates::load(settings.mail.templates_dir.as_deref())?;
        let from: Mailbox = settings
            .smtp
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("invalid setting `smtp.from`: {e}"))?;
        let transport = match &settings.smtp.url {
            None => Transport::Log {
                links: settings.mail.log_links,
            },
            Some(url) => Transport::Smtp(Box::new(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("invalid setting `smtp.url`: {e}"))?
                    .timeout(Some(Duration::from_secs(15)))
                    .build(),
            )),
        };
        Ok(Self {
            templates,
            transport,
            from,
        })
    }

    /// Delivers due mail every second until `stop` turns true. A batch being sent is never
    /// interrupted; on the way out, what is due is delivered once more, so that mail
    /// requested just before a shutdown is not left waiting for the next start.
    pub async fn run<C: Deref<Target = Core>>(self, core: C, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                biased;
                // The guard `wait_for` returns must not live across an await.
                () = async { drop(stop.wait_for(|stopping| *stopping).await) } => break,
                _ = tick.tick() => self.deliver_due(&core).await,
            }
        }
        self.deliver_due(&core).await;
    }

    async fn deliver_due(&self, core: &Core) {
        for _ in 0..BATCH {
            let now = core.clock.now();
            match core.store.claim_mail(now, LEASE_SECS).await {
                Ok(Some(job)) => self.handle(core, job, now).await,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "mail outbox unavailable");
                    return;
                }
            }
        }
    }

    async fn handle(&self, core: &Core, job: OutboxRow, now: i64) {
        let id = job.id;
        let outcome = match self.prepare(core, &job).await {
            Ok(Some(mail)) => self.send(&mail).await,
            // Nothing to send (unknown address, already verified): done.
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        let stored = match outcome {
            Ok(()) => core.store.delete_mail(id).await,
            Err(e) if now - job.created_at > GIVE_UP_SECS => {
                tracing::error!(job = id, kind = %job.kind, error = %e, "mail given up after a day of failures");
                core.store.delete_mail(id).await
            }
            Err(e) => {
                let delay = backoff(job.attempts);
                tracing::warn!(job = id, kind = %job.kind, attempt = job.attempts, retry_in_secs = delay, error = %e, "mail not delivered; will retry");
                core.store.retry_mail_at(id, now + delay).await
            }
        };
        if let Err(e) = stored {
            tracing::warn!(job = id, error = %e, "mail outbox update failed; the job will be retried");
        }
    }

    /// The job's mail, rendered once and kept so that retries send the same link.
    async fn prepare(&self, core: &Core, job: &OutboxRow) -> anyhow::Result<Option<RenderedMail>> {
        if let Some(stored) = &job.message {
            return Ok(Some(serde_json::from_str(stored)?));
        }
        let Some(mail) = core.render_mail(job, &self.templates).await? else {
            return Ok(None);
        };
        core.store
            .set_mail_message(job.id, &serde_json::to_string(&mail)?)
            .await?;
        Ok(Some(mail))
    }

    async fn send(&self, mail: &RenderedMail) -> anyhow::Result<()> {
        match &self.transport {
            Transport::Log { links } => {
                let body = if *links {
                    mail.text.clone()
                } else {
                    mask_link_tokens(&mail.text)
                };
                tracing::info!(to = %mail.to, subject = %mail.subject, body = ?body, "mail (no smtp.url configured)");
                Ok(())
            }
            Transport::Smtp(smtp) => {
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(mail.to.parse()?)
                    .subject(mail.subject.clone())
                    .multipart(MultiPart::alternative_plain_html(
                        mail.text.clone(),
                        mail.html.clone(),
                    ))?;
                smtp.send(message).await?;
                Ok(())
            }
        }
    }
}

/// `text` with the value of every `token=` query parameter replaced, so that a logged mail
/// shows where its link goes without carrying a usable token.
fn mask_link_tokens(text: &str) -> String {
    const KEY: &str = "token=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(KEY) {
        let (head, tail) = rest.split_at(at + KEY.len());
        out.push_str(head);
        out.push_str("[masked; set mail.log_links = true to log it]");
        let end = tail
            .find(|c: char| {
                !(c.is_ascii_alphanumeric()
                    || c == '-'
                    || c == '_'
                    || c == '.'
                    || c == '~'
                    || c == '%')
            })
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Seconds before attempt `n + 1`: 5 s doubling up to 10 minutes.
fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 8) - 1;
    (5 * (1i64 << exp)).min(600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn logged_mail_keeps_the_link_but_not_its_token() {
        let text = "Open http://x/reset-password?token=abc-DEF_123 now.\nOr ?token=q9";
        let masked = super::mask_link_tokens(text);
        assert!(
            !masked.contains("abc-DEF_123") && !masked.contains("q9"),
            "{masked}"
        );
        assert!(masked.starts_with("Open http://x/reset-password?token=[masked"));
        assert!(masked.contains("] now.\nOr ?token=[masked"), "{masked}");
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff(1), 5);
        assert_eq!(super::backoff(2), 10);
        assert_eq!(super::backoff(30), 600);
    }
}
