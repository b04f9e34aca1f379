//! diesel's view of metadata-query's tables (see `migrations/`).

diesel::table! {
    mq_api_keys (key_hash) {
        key_hash -> Text,
        app_id -> Text,
        app_name -> Text,
    }
}

diesel::table! {
    mq_unread_sources (app_id, source) {
        app_id -> Text,
        source -> Text,
    }
}

diesel::table! {
    mq_contacts (id) {
        id -> Text,
        app_id -> Text,
        email -> Text,
        display_name -> Nullable<Text>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    mq_conversations (id) {
        id -> Text,
        app_id -> Text,
        kind -> Text,
        subject -> Nullable<Text>,
        info_seq -> BigInt,
        last_activity -> Timestamp,
        last_message_seq -> BigInt,
        last_message_sender -> Nullable<Text>,
        last_message_sender_contact -> Nullable<Text>,
        last_message_preview -> Nullable<Text>,
        last_message_source -> Nullable<Text>,
        last_message_at -> Nullable<Timestamp>,
        last_call_seq -> BigInt,
        call_ongoing -> Bool,
        last_missed_call_seq -> BigInt,
        deleted_seq -> BigInt,
    }
}

diesel::table! {
    mq_memberships (conversation_id, contact_id) {
        conversation_id -> Text,
        contact_id -> Text,
        app_id -> Text,
        email -> Text,
        display_name -> Nullable<Text>,
        external_id -> Nullable<Text>,
        // `state_seq BIGINT` is only written and compared by the projection's SQL
        // (store/apply.rs); left out here to stay within diesel's 16 columns.
        active -> Bool,
        muted -> Bool,
        pinned -> Bool,
        archived_at -> Nullable<Timestamp>,
        last_opened_at -> Nullable<Timestamp>,
        read_seq -> BigInt,
        unread -> BigInt,
        last_activity -> Timestamp,
        call_ongoing -> Bool,
        last_missed_call_seq -> BigInt,
    }
}

diesel::table! {
    mq_messages (conversation_id, seq) {
        conversation_id -> Text,
        seq -> BigInt,
        app_id -> Text,
        sender_contact -> Text,
        sender_name -> Nullable<Text>,
        source -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mq_checkpoint (id) {
        id -> Integer,
        feed_position -> BigInt,
    }
}

diesel::table! {
    mq_deliveries (conversation_id, message_seq, participant_id) {
        conversation_id -> Text,
        message_seq -> BigInt,
        participant_id -> Text,
        app_id -> Text,
        recipient -> Text,
        status -> Text,
        status_rank -> Integer,
        attempts -> Integer,
        smtp_reply -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(mq_memberships -> mq_conversations (conversation_id));
diesel::allow_tables_to_appear_in_same_query!(
    mq_api_keys,
    mq_unread_sources,
    mq_contacts,
    mq_conversations,
    mq_memberships,
    mq_messages,
    mq_checkpoint,
    mq_deliveries
);
