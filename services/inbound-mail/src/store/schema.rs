//! inbound-mail's tables, as diesel sees them (the outbox is reached through
//! `conversations_db::Outbox`).

diesel::table! {
    im_inbound (id) {
        id -> Text,
        app_id -> Nullable<Text>,
        received_at -> Timestamp,
        sender -> Text,
        reply_address -> Nullable<Text>,
        message_id -> Text,
        dedupe_key -> Text,
        subject -> Text,
        size_bytes -> BigInt,
        outcome -> Text,
        reason -> Text,
        conversation_id -> Nullable<Text>,
        participant_id -> Nullable<Text>,
        message_seq -> Nullable<BigInt>,
        details -> Text,
        raw_message -> Nullable<Binary>,
    }
}

diesel::table! {
    im_bounces (id) {
        id -> Text,
        app_id -> Text,
        email -> Text,
        permanent -> Bool,
        status -> Nullable<Text>,
        received_at -> Timestamp,
    }
}

diesel::table! {
    im_suppressions (app_id, email) {
        app_id -> Text,
        email -> Text,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    im_deleted_conversations (conversation_id) {
        conversation_id -> Text,
        deleted_at -> Timestamp,
    }
}

diesel::table! {
    im_checkpoint (id) {
        id -> Integer,
        feed_position -> BigInt,
    }
}

diesel::table! {
    im_notices (app_id, email, day) {
        app_id -> Text,
        email -> Text,
        day -> Text,
    }
}
