//! What happens to one mail, in order: read it, refuse our own mail coming back, find our
//! address, ask conversation-api whom it names, verify it, classify, check the sender,
//! de-duplicate, cap loops, extract the reply, post it, and record all of it in the
//! incoming log. [`Inbound::evaluate`] decides without changing anything (that is
//! `inbound-mail inspect`); [`Inbound::receive`] acts on the decision.

use std::sync::Arc;

use chrono::{DurationRound, TimeDelta, Utc};
use conversations_domain::reply_address::{CodeKind, ReplyAddressCodec};
use conversations_events::internal::{EmailReply, ReplyTarget};
use conversations_inbound::Kind;
use tokio::sync::Notify;

use crate::client::{ClientError, ConversationsClient};
use crate::config::InboundConfig;
use crate::decide::{self, Addressed, Outcome, Verdict};
use crate::evaluation::{
    BounceFacts, Evaluation, Handled, apply, blank, classification, log_entry, offline_evaluation,
};
use crate::mail::{self, ReadMail};
use crate::store::{Bounced, InboundStore, LogEntry, Notice};

/// A mail could not be handled now: nothing was decided for good, the sender's MTA (or
/// the provider) tries again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

impl From<ClientError> for Unavailable {
    fn from(e: ClientError) -> Self {
        Self(e.to_string())
    }
}

impl From<conversations_db::DbError> for Unavailable {
    fn from(e: conversations_db::DbError) -> Self {
        Self(format!("inbound database: {e}"))
    }
}

/// The inbound-mail service's core, shared by HTTP intake and replay.
#[derive(Clone)]
pub struct Inbound {
    config: Arc<InboundConfig>,
    codec: ReplyAddressCodec,
    store: InboundStore,
    client: ConversationsClient,
    relay_wake: Arc<Notify>,
}

impl Inbound {
    /// Puts the parts together.
    pub fn new(
        config: Arc<InboundConfig>,
        store: InboundStore,
        client: ConversationsClient,
        relay_wake: Arc<Notify>,
    ) -> Self {
        let codec = ReplyAddressCodec::new(
            secrecy::ExposeSecret::expose_secret(&config.reply_secret).to_vec(),
            config.reply_domain.clone(),
        );
        Self {
            config,
            codec,
            store,
            client,
            relay_wake,
        }
    }

    /// The store (routes read the log through it).
    pub fn store(&self) -> &InboundStore {
        &self.store
    }

    /// Tells the relay that the outbox has a new event.
    pub fn wake_relay(&self) {
        self.relay_wake.notify_one();
    }

    /// The settings.
    pub fn config(&self) -> &InboundConfig {
        &self.config
    }

    /// Decides what would happen to `raw`, changing nothing.
    pub async fn evaluate(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
    ) -> Result<Evaluation, Unavailable> {
        self.evaluate_except(raw, envelope_recipient, None).await
    }

    /// [`Self::evaluate`], not counting the log entry `replayed` as an earlier delivery.
    async fn evaluate_except(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
        replayed: Option<&str>,
    ) -> Result<Evaluation, Unavailable> {
        let mut e = blank(Outcome::Rejected, String::new(), String::new());
        // Parsing and extraction are CPU work on input anyone can send: off the async
        // runtime in one go (extracted before it is known to be needed: one hand-over
        // instead of two), and a panic in a parser becomes a refusal, not a lost worker.
        let owned = raw.to_vec();
        let domain = self.config.reply_domain.clone();
        let read = tokio::task::spawn_blocking(move || {
            mail::read(&owned).map(|mail| {
                let extracted = std::panic::catch_unwind(|| decide::extract(&domain, &mail)).ok();
                (mail, extracted)
            })
        });
        let (mail, extracted) = match read.await {
            Ok(Ok(read)) => read,
            Ok(Err(unreadable)) => {
                e.reason = format!("unreadable mail: {unreadable}");
                return Ok(e);
            }
            Err(_) => {
                e.reason = "unreadable mail: the parser failed on it".into();
                return Ok(e);
            }
        };
        e.classification = Some(classification(&mail.kind).to_owned());
        e.sender.clone_from(&mail.from);
        e.message_id.clone_from(&mail.dedupe_id);
        e.subject.clone_from(&mail.subject);
        e.attachments.clone_from(&mail.attachments);
        e.dedupe_key = format!("-:{}", mail.dedupe_id);
        if decide::is_own_mail(&self.config.reply_domain, &mail) {
            e.reason = "our own notification came back (mail loop)".into();
            return Ok(e);
        }
        let Some(addressed) = decide::find_address(&self.codec, envelope_recipient, &mail) else {
            e.unknown_address = true;
            e.reason = "not sent to a reply address of this deployment".into();
            return Ok(e);
        };
        e.reply_address = Some(addressed.address.clone());
        e.address_kind = Some(match addressed.kind {
            CodeKind::Bounce => "bounce",
            _ => "reply",
        });
        let target = addressed.target;
        e.conversation_id = Some(target.conversation_id.to_string());
        e.participant_id = Some(target.participant_id.to_string());
        // The leak guard needs everyone's address only when the reply has one in it.
        let with_people = extracted
            .as_ref()
            .is_none_or(|x| x.reply_text.contains('@'));
        let facts = self
            .client
            .reply_target(
                &target.conversation_id.to_string(),
                &target.participant_id.to_string(),
                with_people,
            )
            .await?;
        let Some(facts) = facts else {
            e.unknown_address = true;
            e.reason =
                "the conversation or participant of this reply address does not exist (any more)"
                    .into();
            return Ok(e);
        };
        let verified = match decide::verify(&self.codec, &addressed, &facts) {
            Ok(v) => v,
            Err(verdict) => {
                e.unknown_address = true;
                e.signature_valid = Some(false);
                e.reason = verdict.reason;
                return Ok(e);
            }
        };
        e.signature_valid = Some(true);
        e.app_id = Some(verified.app.to_string());
        e.dedupe_key = format!("{}:{}", verified.app, mail.dedupe_id);
        e.sender_matches = Some(mail.from.eq_ignore_ascii_case(facts.email.trim()));
        if let Some((verdict, bounce)) = Self::bounce(&addressed, &mail, &facts) {
            e.bounce = bounce;
            return Ok(apply(e, verdict));
        }
        if let Some(verdict) =
            decide::check_reply(&mail, &facts, self.config.authserv_id.as_deref())
        {
            return Ok(apply(e, verdict));
        }
        // What would be posted, shown (and logged) for duplicates and loops too.
        let Some(extracted) = extracted else {
            e.reason = "the reply text could not be extracted (extraction failed)".into();
            return Ok(e);
        };
        let extracted = decide::masked(extracted, &facts);
        e.answers_seq =
            decide::answered_seq(&self.config.reply_domain, verified.conversation, &mail);
        e.rule = Some(decide::rule_name(extracted.rule));
        e.confidence = Some(decide::confidence_name(extracted.confidence));
        e.elided_text = Some(extracted.elided_text);
        e.reply_text = Some(extracted.reply_text);
        let since = Utc::now()
            - TimeDelta::from_std(self.config.loop_window).unwrap_or(TimeDelta::minutes(10));
        let (store, key, replayed, conversation, sender) = (
            self.store.clone(),
            e.dedupe_key.clone(),
            replayed.map(str::to_owned),
            facts.conversation_id.clone(),
            mail.from.clone(),
        );
        let (before, recent) = tokio::task::spawn_blocking(move || {
            store.prechecks(&key, replayed.as_deref(), &conversation, &sender, since)
        })
        .await
        .map_err(|err| Unavailable(err.to_string()))??;
        if let Some(before) = before {
            e.outcome = Outcome::Duplicate;
            e.reason = format!("already handled as {} ({})", before.outcome, before.id);
            e.message_seq = before.message_seq.and_then(|n| u64::try_from(n).ok());
            return Ok(e);
        }
        if recent >= self.config.loop_limit {
            e.reason = format!(
                "more than {} mails from this sender to this conversation within {} s (loop defence)",
                self.config.loop_limit,
                self.config.loop_window.as_secs()
            );
            return Ok(e);
        }
        if e.reply_text.as_deref().is_none_or(|t| t.trim().is_empty()) {
            e.reason = "nothing was written above the quoted text".into();
            e.notify_sender = true;
            return Ok(e);
        }
        e.outcome = Outcome::Posted;
        e.reason = "posted".into();
        Ok(e)
    }

    /// A bounce (to the VERP address, or a report to the reply address that names the
    /// participant's address), or a complaint: the verdict, and what counts against the
    /// participant's address.
    fn bounce(
        addressed: &Addressed,
        mail: &ReadMail,
        facts: &ReplyTarget,
    ) -> Option<(Verdict, Option<BounceFacts>)> {
        let (permanent, status, names_participant, what) = match &mail.kind {
            // A report that the mail arrived: recorded, counted against nobody.
            Kind::Bounce(b) if b.delivered() => {
                return Some((
                    Verdict {
                        outcome: Outcome::Bounce,
                        reason: format!("delivery report ({}): delivered, nothing to do", b.reason),
                        notify_sender: false,
                    },
                    None,
                ));
            }
            Kind::Bounce(b) => (
                b.permanent,
                b.status.clone(),
                b.recipient
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(facts.email.trim())),
                format!("delivery report ({})", b.reason),
            ),
            Kind::FeedbackReport => (true, None, true, "feedback (abuse) report".to_owned()),
            // Anything else sent to a bounce address is a report we cannot read: transient.
            _ if addressed.kind == CodeKind::Bounce => {
                (false, None, true, "mail to the bounce address".to_owned())
            }
            _ => return None,
        };
        if addressed.kind != CodeKind::Bounce && !names_participant {
            let reason = format!("{what} that does not name the participant's address");
            return Some((
                Verdict {
                    outcome: Outcome::Bounce,
                    reason,
                    notify_sender: false,
                },
                None,
            ));
        }
        let reason = format!(
            "{what}: {} failure{}",
            if permanent { "permanent" } else { "transient" },
            status
                .as_deref()
                .map(|s| format!(" {s}"))
                .unwrap_or_default()
        );
        let facts = BounceFacts {
            email: facts.email.trim().to_ascii_lowercase(),
            permanent,
            status,
        };
        Some((
            Verdict {
                outcome: Outcome::Bounce,
                reason,
                notify_sender: false,
            },
            Some(facts),
        ))
    }

    /// Handles a received mail: decides, acts, records. `Err` only when it could not be
    /// handled now (then nothing was decided for good and the mail should come again).
    pub async fn receive(
        &self,
        raw: Vec<u8>,
        envelope_recipient: Option<String>,
    ) -> Result<Handled, Unavailable> {
        let id = uuid::Uuid::now_v7().to_string();
        let received_at = Utc::now()
            .duration_trunc(TimeDelta::microseconds(1))
            .unwrap_or_else(|_| Utc::now());
        let evaluation = match self.evaluate(&raw, envelope_recipient.as_deref()).await {
            Ok(e) => e,
            Err(unavailable) => {
                self.record_error(&id, &raw, envelope_recipient.as_deref(), &unavailable)
                    .await;
                return Err(unavailable);
            }
        };
        let evaluation = match self.act(evaluation, &id).await {
            Ok(e) => e,
            Err(unavailable) => {
                self.record_error(&id, &raw, envelope_recipient.as_deref(), &unavailable)
                    .await;
                return Err(unavailable);
            }
        };
        let entry = log_entry(&id, received_at, &raw, envelope_recipient, &evaluation);
        let store = self.store.clone();
        let bounce = self.bounce_to_record(&evaluation);
        let (transient_limit, window) = (
            self.config.transient_limit,
            TimeDelta::from_std(self.config.bounce_window).unwrap_or(TimeDelta::days(7)),
        );
        let notice = self.notice_to_send(&id, &evaluation);
        // `wake`: an event was written to the outbox (a suppression, a notice).
        let (wake, notice) = tokio::task::spawn_blocking(
            move || -> Result<(bool, Option<&'static str>), conversations_db::DbError> {
                match (bounce, notice) {
                    (Some((app, email, permanent, status)), _) => store
                        .record_bounce(
                            &entry,
                            &Bounced {
                                app_id: &app,
                                email: &email,
                                permanent,
                                status: status.as_deref(),
                                transient_limit,
                                window,
                            },
                            received_at,
                        )
                        .map(|suppressed| (suppressed, None)),
                    (None, Some(notice)) => store
                        .record_with_notice(&entry, &notice, received_at)
                        .map(|queued| {
                            let said = if queued {
                                "queued"
                            } else {
                                "already_sent_today"
                            };
                            (queued, Some(said))
                        }),
                    (None, None) => store.record(&entry).map(|()| (false, None)),
                }
            },
        )
        .await
        .map_err(|e| Unavailable(e.to_string()))??;
        if wake {
            self.relay_wake.notify_one();
        }
        crate::metrics::handled(evaluation.outcome.as_str());
        tracing::info!(
            inbound.id = %id,
            outcome = evaluation.outcome.as_str(),
            reason = %evaluation.reason,
            "inbound mail"
        );
        Ok(Handled {
            id,
            notice,
            evaluation,
        })
    }

    /// The notice a refused reply's sender gets, when it is to be told.
    fn notice_to_send(&self, id: &str, e: &Evaluation) -> Option<Notice> {
        if !e.notify_sender || e.sender.is_empty() {
            return None;
        }
        Some(Notice {
            app_id: e.app_id.clone()?,
            email: e.sender.clone(),
            reason: e.reason.clone(),
            subject: e.subject.clone(),
            inbound_id: id.to_owned(),
            conversation_id: e.conversation_id.clone().unwrap_or_default(),
        })
    }

    /// Runs a logged mail that was not posted through the current code again, and
    /// updates its log entry. Bounces are not counted a second time.
    pub async fn replay(&self, entry: LogEntry) -> Result<Handled, Unavailable> {
        let raw = entry
            .raw_message
            .clone()
            .ok_or_else(|| Unavailable("the raw mail is no longer kept".into()))?;
        let evaluation = self
            .evaluate_except(
                &raw,
                entry.details.envelope_recipient.as_deref(),
                Some(&entry.id),
            )
            .await?;
        let evaluation = self.act(evaluation, &entry.id).await?;
        let mut updated = log_entry(
            &entry.id,
            entry.received_at.and_utc(),
            &raw,
            entry.details.envelope_recipient.clone(),
            &evaluation,
        );
        // The entry stays the application's even if the address no longer resolves.
        updated.app_id = updated.app_id.or(entry.app_id);
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.update(&updated))
            .await
            .map_err(|e| Unavailable(e.to_string()))??;
        Ok(Handled {
            id: entry.id,
            notice: None,
            evaluation,
        })
    }

    fn bounce_to_record(&self, e: &Evaluation) -> Option<(String, String, bool, Option<String>)> {
        let b = e.bounce.as_ref()?;
        Some((
            e.app_id.clone()?,
            b.email.clone(),
            b.permanent,
            b.status.clone(),
        ))
    }

    /// Posts a mail evaluated as `posted`, naming its log entry `id`.
    async fn act(&self, mut e: Evaluation, id: &str) -> Result<Evaluation, Unavailable> {
        if e.outcome != Outcome::Posted {
            return Ok(e);
        }
        let (Some(app_id), Some(conversation), Some(participant), Some(text)) = (
            e.app_id.clone(),
            e.conversation_id.clone(),
            e.participant_id.clone(),
            e.reply_text.clone(),
        ) else {
            return Err(Unavailable("incomplete evaluation of a reply".into()));
        };
        let reply = EmailReply {
            app_id,
            participant_id: participant,
            text,
            idempotency_key: e.dedupe_key.clone(),
            read_up_to: e.answers_seq,
            inbound_id: Some(id.to_owned()),
            trimmed_text: e.elided_text.clone().filter(|t| !t.trim().is_empty()),
        };
        match self.client.post_reply(&conversation, &reply).await {
            Ok(posted) => {
                e.message_seq = Some(posted.seq);
            }
            Err(ClientError::Refused(detail)) => {
                e.outcome = Outcome::Rejected;
                e.reason = format!("conversation-api refused the reply: {detail}");
                e.notify_sender = true;
            }
            Err(unavailable) => return Err(unavailable.into()),
        }
        Ok(e)
    }

    /// Records that a mail could not be handled now (best effort: the database may be
    /// what is down).
    async fn record_error(
        &self,
        id: &str,
        raw: &[u8],
        envelope_recipient: Option<&str>,
        error: &Unavailable,
    ) {
        tracing::warn!(inbound.id = %id, error = %error, "inbound mail deferred");
        let evaluation = self
            .evaluate_offline(raw, error)
            .unwrap_or_else(|| offline_evaluation(error));
        let entry = log_entry(
            id,
            Utc::now(),
            raw,
            envelope_recipient.map(str::to_owned),
            &evaluation,
        );
        let store = self.store.clone();
        let recorded = tokio::task::spawn_blocking(move || store.record(&entry)).await;
        if !matches!(recorded, Ok(Ok(()))) {
            tracing::warn!(inbound.id = %id, "could not record the deferred mail either");
        }
    }

    fn evaluate_offline(&self, raw: &[u8], error: &Unavailable) -> Option<Evaluation> {
        let mail = mail::read(raw).ok()?;
        let mut e = offline_evaluation(error);
        e.sender = mail.from;
        e.message_id = mail.dedupe_id;
        e.subject = mail.subject;
        Some(e)
    }
}
