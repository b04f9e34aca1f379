use chrono::TimeZone;

use super::*;

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse("email", s).unwrap()
}

fn person(s: &str) -> NewParticipant {
    NewParticipant::from_email(email(s))
}

fn text(s: &str) -> MessageText {
    MessageText::parse("text", s).unwrap()
}

/// Runs commands against a conversation the way the store does: decide, then apply.
struct Harness {
    state: Conversation,
    minute: i64,
}

impl Harness {
    fn new() -> Self {
        Self {
            state: Conversation::shell(ConversationId::new(), AppId::new(), now(0)),
            minute: 0,
        }
    }

    fn run(&mut self, command: Command) -> Result<Vec<Event>, DomainError> {
        self.minute += 1;
        let mut ids = ParticipantId::new;
        let mut ctx = Context {
            now: now(self.minute),
            new_participant_id: &mut ids,
        };
        let events = decide(&self.state, command, &mut ctx)?;
        for e in &events {
            self.state.apply(e);
        }
        Ok(events)
    }

    fn group(members: &[&str]) -> Self {
        let mut h = Self::new();
        h.run(Command::Create {
            kind: ConversationKind::Group,
            subject: None,
            owner: None,
            participants: members.iter().map(|m| person(m)).collect(),
        })
        .unwrap();
        h
    }

    fn post(&mut self, sender: &str, body: &str) -> Message {
        let events = self
            .run(Command::PostMessage {
                sender: person(sender),
                to: vec![],
                subject: None,
                text: text(body),
                source: Source::api(),
                inbound_id: None,
                trimmed_text: None,
            })
            .unwrap();
        match events.into_iter().last().map(|e| e.kind) {
            Some(EventKind::MessagePosted(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn unread(&self, who: &str) -> u64 {
        self.state
            .participant(&email(who))
            .unwrap()
            .unread(self.state.message_count)
    }
}

fn now(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

#[test]
fn messages_are_numbered_per_conversation_and_events_per_version() {
    let mut h = Harness::group(&["hugo@example.com", "fred@example.com"]);
    let first = h.post("hugo@example.com", "one");
    let second = h.post("fred@example.com", "two");
    assert_eq!((first.seq, second.seq), (1, 2));
    let version = h.state.version;
    assert!(
        h.run(Command::MarkRead {
            email: email("fred@example.com"),
            up_to: Some(9)
        })
        .is_err(),
        "only two messages exist"
    );
    assert_eq!(h.state.version, version, "a refused command is no event");
    let events = h.run(Command::Delete).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].seq,
        version + 1,
        "each event takes the next number"
    );
}

#[test]
fn the_sender_and_recipients_join_the_conversation() {
    let mut h = Harness::group(&[]);
    let events = h
        .run(Command::PostMessage {
            sender: person("hugo@example.com"),
            to: vec![person("fred@example.com")],
            subject: None,
            text: text("hello"),
            source: Source::api(),
            inbound_id: None,
            trimmed_text: None,
        })
        .unwrap();
    let added = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ParticipantAdded(_)))
        .count();
    assert_eq!(added, 2);
    assert_eq!(h.state.active_participants().count(), 2);
}

#[test]
fn everyone_but_the_sender_is_notified_and_muted_ones_are_skipped() {
    let mut h = Harness::group(&["a@example.com", "b@example.com", "c@example.com"]);
    h.run(Command::UpdateParticipant {
        email: email("c@example.com"),
        changes: ParticipantChanges {
            muted: Some(true),
            ..Default::default()
        },
    })
    .unwrap();
    let m = h.post("a@example.com", "hi");
    assert_eq!(m.recipients.len(), 2);
    let notified: Vec<_> = m.notified().map(EmailAddress::as_str).collect();
    assert_eq!(notified, ["b@example.com"]);
}

#[test]
fn the_first_message_sets_the_subject_and_later_ones_do_not() {
    let mut h = Harness::group(&["a@example.com"]);
    h.run(Command::PostMessage {
        sender: person("a@example.com"),
        to: vec![],
        subject: Some(Subject::parse("subject", "Example message").unwrap()),
        text: text("this is a message"),
        source: Source::api(),
        inbound_id: None,
        trimmed_text: None,
    })
    .unwrap();
    h.run(Command::PostMessage {
        sender: person("a@example.com"),
        to: vec![],
        subject: Some(Subject::parse("subject", "Other").unwrap()),
        text: text("again"),
        source: Source::api(),
        inbound_id: None,
        trimmed_text: None,
    })
    .unwrap();
    assert_eq!(
        h.state.subject.as_ref().unwrap().as_str(),
        "Example message"
    );
}

#[test]
fn without_a_subject_the_first_message_text_gives_one() {
    let mut h = Harness::group(&["a@example.com"]);
    h.post("a@example.com", "Lunch on Friday?\nLet me know");
    assert_eq!(
        h.state.subject.as_ref().unwrap().as_str(),
        "Lunch on Friday?"
    );
}

#[test]
fn posting_moves_your_own_read_marker_and_others_stay_unread() {
    let mut h = Harness::group(&["a@example.com", "b@example.com"]);
    h.post("a@example.com", "one");
    h.post("a@example.com", "two");
    assert_eq!(h.unread("a@example.com"), 0);
    assert_eq!(h.unread("b@example.com"), 2);
    h.post("b@example.com", "three");
    assert_eq!(h.unread("b@example.com"), 0);
    assert_eq!(h.unread("a@example.com"), 1);
}

#[test]
fn marking_read_emits_an_event_once_and_refuses_unknown_messages() {
    let mut h = Harness::group(&["a@example.com", "b@example.com"]);
    h.post("a@example.com", "one");
    h.post("a@example.com", "two");
    let events = h
        .run(Command::MarkRead {
            email: email("b@example.com"),
            up_to: Some(1),
        })
        .unwrap();
    assert!(matches!(
        events[0].kind,
        EventKind::ConversationRead { up_to: 1, .. }
    ));
    assert_eq!(h.unread("b@example.com"), 1);
    let again = h
        .run(Command::MarkRead {
            email: email("b@example.com"),
            up_to: Some(1),
        })
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(
        h.run(Command::MarkRead {
            email: email("b@example.com"),
            up_to: Some(9),
        }),
        Err(DomainError::NoSuchMessage(9))
    );
    h.run(Command::MarkRead {
        email: email("b@example.com"),
        up_to: None,
    })
    .unwrap();
    assert_eq!(h.unread("b@example.com"), 0);
}

#[test]
fn when_the_owner_leaves_the_next_participant_owns_it() {
    let mut h = Harness::group(&["a@example.com", "b@example.com", "c@example.com"]);
    assert_eq!(h.state.owner, Some(email("a@example.com")));
    h.run(Command::RemoveParticipant(email("a@example.com")))
        .unwrap();
    assert_eq!(h.state.owner, Some(email("b@example.com")));
    h.run(Command::RemoveParticipant(email("c@example.com")))
        .unwrap();
    assert_eq!(h.state.owner, Some(email("b@example.com")));
}

#[test]
fn the_last_participant_out_deletes_the_conversation() {
    let mut h = Harness::group(&["a@example.com", "b@example.com"]);
    let first = h
        .run(Command::RemoveParticipant(email("a@example.com")))
        .unwrap();
    assert!(
        !first
            .iter()
            .any(|e| e.kind == EventKind::ConversationDeleted)
    );
    let last = h
        .run(Command::RemoveParticipant(email("b@example.com")))
        .unwrap();
    assert_eq!(last.last().unwrap().kind, EventKind::ConversationDeleted);
}

#[test]
fn leaving_twice_or_as_a_stranger_is_refused() {
    let mut h = Harness::group(&["a@example.com", "b@example.com"]);
    h.run(Command::RemoveParticipant(email("a@example.com")))
        .unwrap();
    assert_eq!(
        h.run(Command::RemoveParticipant(email("a@example.com"))),
        Err(DomainError::NotAParticipant(email("a@example.com")))
    );
}

#[test]
fn a_personal_conversation_has_exactly_two_people() {
    let mut h = Harness::new();
    let three = h.run(Command::Create {
        kind: ConversationKind::Personal,
        subject: None,
        owner: None,
        participants: vec![
            person("a@example.com"),
            person("b@example.com"),
            person("c@example.com"),
        ],
    });
    assert_eq!(three, Err(DomainError::PersonalNeedsTwo));
    h.run(Command::Create {
        kind: ConversationKind::Personal,
        subject: None,
        owner: None,
        participants: vec![person("a@example.com"), person("b@example.com")],
    })
    .unwrap();
    assert_eq!(
        h.run(Command::AddParticipant(person("c@example.com"))),
        Err(DomainError::PersonalNeedsTwo)
    );
}

#[test]
fn a_personal_conversation_reopened_keeps_its_history_and_participant() {
    let mut h = Harness::new();
    h.run(Command::Create {
        kind: ConversationKind::Personal,
        subject: None,
        owner: None,
        participants: vec![person("a@example.com"), person("b@example.com")],
    })
    .unwrap();
    h.post("a@example.com", "hello");
    let a_id = h.state.participant(&email("a@example.com")).unwrap().id;
    h.run(Command::RemoveParticipant(email("a@example.com")))
        .unwrap();
    let events = h
        .run(Command::AddParticipant(person("a@example.com")))
        .unwrap();
    match &events[0].kind {
        EventKind::ParticipantAdded(p) => {
            assert_eq!(p.id, a_id);
            assert!(p.is_active());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(h.state.message_count, 1);
}

#[test]
fn adding_an_active_participant_again_is_refused() {
    let mut h = Harness::group(&["a@example.com"]);
    assert_eq!(
        h.run(Command::AddParticipant(person("a@example.com"))),
        Err(DomainError::AlreadyParticipant(email("a@example.com")))
    );
}

#[test]
fn participant_state_changes_are_recorded_with_times() {
    let mut h = Harness::group(&["a@example.com"]);
    h.run(Command::UpdateParticipant {
        email: email("a@example.com"),
        changes: ParticipantChanges {
            muted: Some(true),
            pinned: Some(true),
            archived: Some(true),
            opened: true,
        },
    })
    .unwrap();
    let p = h
        .state
        .participant(&email("a@example.com"))
        .unwrap()
        .clone();
    assert!(p.muted && p.pinned);
    assert!(p.archived_at.is_some() && p.last_opened_at.is_some());
    let unchanged = h
        .run(Command::UpdateParticipant {
            email: email("a@example.com"),
            changes: ParticipantChanges {
                muted: Some(true),
                ..Default::default()
            },
        })
        .unwrap();
    assert!(unchanged.is_empty());
    h.run(Command::UpdateParticipant {
        email: email("a@example.com"),
        changes: ParticipantChanges {
            archived: Some(false),
            ..Default::default()
        },
    })
    .unwrap();
    assert!(
        h.state
            .participant(&email("a@example.com"))
            .unwrap()
            .archived_at
            .is_none()
    );
}

#[test]
fn only_existing_messages_can_be_pinned() {
    let mut h = Harness::group(&["a@example.com"]);
    h.post("a@example.com", "one");
    assert_eq!(
        h.run(Command::Update {
            subject: None,
            pinned_message: Some(Some(2)),
        }),
        Err(DomainError::NoSuchMessage(2))
    );
    h.run(Command::Update {
        subject: None,
        pinned_message: Some(Some(1)),
    })
    .unwrap();
    assert_eq!(h.state.pinned_message, Some(1));
}

#[test]
fn participants_are_limited() {
    let mut h = Harness::new();
    let many = (0..=MAX_PARTICIPANTS)
        .map(|i| person(&format!("p{i}@example.com")))
        .collect();
    assert_eq!(
        h.run(Command::Create {
            kind: ConversationKind::Group,
            subject: None,
            owner: None,
            participants: many,
        }),
        Err(DomainError::TooManyParticipants {
            max: MAX_PARTICIPANTS
        })
    );
}

#[test]
fn commands_other_than_create_need_a_created_conversation() {
    let mut h = Harness::new();
    assert!(h.run(Command::Delete).is_err());
}
