//! Mail delivery. Requests only write jobs to the outbox; this worker renders them (issuing
//! their tokens), sends them through SMTP — or, without `smtp.url`, writes them to the log —
//! and retries with backoff, so an SMTP outage never fails a request and a restart loses
//! nothing. Any number of instances may run a worker: each job is claimed by one.

use std::{ops::Deref, time::Duration};

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
    Log,
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
            None => Transport::Log,
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

    /// Delivers due mail every second, forever.
    pub async fn run<C: Deref<Target = Core>>(self, core: C) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            self.deliver_due(&core).await;
        }
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
            Transport::Log => {
                // The documented development behaviour: without SMTP the whole mail, link
                // included, goes to the log so that someone can follow it.
                tracing::info!(to = %mail.to, subject = %mail.subject, body = ?mail.text, "mail (no smtp.url configured)");
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

/// Seconds before attempt `n + 1`: 5 s doubling up to 10 minutes.
fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 8) - 1;
    (5 * (1i64 << exp)).min(600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff(1), 5);
        assert_eq!(super::backoff(2), 10);
        assert_eq!(super::backoff(30), 600);
    }
}
