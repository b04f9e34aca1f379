//! The notifier's tables, as diesel sees them (the outbox is reached through
//! `conversations_db::Outbox`).

diesel::table! {
    nt_deliveries (id) {
        id -> Text,
        app_id -> Text,
        conversation_id -> Text,
        message_seq -> BigInt,
        participant_id -> Text,
        recipient -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_by -> Nullable<Text>,
        smtp_reply -> Nullable<Text>,
        envelope_from -> Text,
        raw_message -> Nullable<Binary>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        trace_context -> Nullable<Text>,
    }
}

diesel::table! {
    nt_suppressed (app_id, email) {
        app_id -> Text,
        email -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    nt_checkpoint (id) {
        id -> Integer,
        feed_position -> BigInt,
    }
}

diesel::table! {
    nt_deleted_conversations (conversation_id) {
        conversation_id -> Text,
        deleted_at -> Timestamp,
    }
}

diesel::table! {
    nt_outbox (id) {
        id -> BigInt,
        conversation_id -> Text,
        event_type -> Text,
        payload -> Binary,
    }
}
