//! Table definitions shared by both backends; the SQL lives in migrations/{postgres,sqlite}.

diesel::table! {
    applications (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
        mask_phone_numbers -> Bool,
        conversation_url -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (key_hash) {
        key_hash -> Text,
        app_id -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        label -> Text,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    conversations (id) {
        id -> Text,
        app_id -> Text,
        kind -> Text,
        subject -> Nullable<Text>,
        owner_email -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
        message_count -> BigInt,
        pinned_message -> Nullable<BigInt>,
    }
}

diesel::table! {
    participants (id) {
        id -> Text,
        conversation_id -> Text,
        position -> BigInt,
        email -> Text,
        display_name -> Nullable<Text>,
        external_id -> Nullable<Text>,
        joined_at -> Timestamp,
        left_at -> Nullable<Timestamp>,
        last_read_seq -> BigInt,
        muted -> Bool,
        pinned -> Bool,
        archived_at -> Nullable<Timestamp>,
        last_opened_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    messages (conversation_id, seq) {
        conversation_id -> Text,
        seq -> BigInt,
        sender_id -> Text,
        sender_email -> Text,
        sender_name -> Nullable<Text>,
        body -> Text,
        source -> Text,
        created_at -> Timestamp,
        recipients -> Text,
        inbound_id -> Nullable<Text>,
        trimmed_text -> Nullable<Text>,
    }
}

diesel::table! {
    outbox (id) {
        id -> BigInt,
        event_id -> Text,
        app_id -> Text,
        conversation_id -> Text,
        conversation_seq -> BigInt,
        event_type -> Text,
        payload -> Binary,
        created_at -> Timestamp,
        position -> Nullable<BigInt>,
        trace_context -> Nullable<Text>,
    }
}

diesel::table! {
    outbox_lease (id) {
        id -> Integer,
        holder -> Text,
        expires_at -> Timestamp,
        last_position -> BigInt,
        published_position -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (app_id, idem_key) {
        app_id -> Text,
        idem_key -> Text,
        request_hash -> Text,
        status -> Integer,
        location -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(conversations, participants, messages, applications);
diesel::allow_tables_to_appear_in_same_query!(applications, api_keys);
