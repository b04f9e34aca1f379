//! metadata-query end to end: conversation-api on PostgreSQL publishes through the real
//! RabbitMQ; metadata-query replicas with their own PostgreSQL databases and queues build
//! the inbox; the tests read it over HTTP as integrators and browsers do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod catch_up;
mod helpers;
mod live;
mod migrations;
mod privacy;
mod projection_order;
mod tenants;

use std::collections::HashSet;

use helpers::{eventually, ids, item, world};
use serde_json::json;

pub(crate) const FRED: &str = "fred@example.com";
pub(crate) const TINA: &str = "tina@example.com";
pub(crate) const OLGA: &str = "olga@example.com";

#[tokio::test]
async fn unread_counts_move_when_others_post_when_you_post_and_when_you_read() {
    let w = world().await;
    let c = w.conversation(FRED, &[TINA], "first").await;
    let tina = w
        .settled(0, TINA, "", |p| p["@items"][0]["unread"] == 1)
        .await;
    assert_eq!(tina["badge"], 1);
    assert_eq!(item(&tina, &c)["participants"], json!(["Fred"]));
    assert_eq!(item(&tina, &c)["last_message"]["preview"], "first");
    assert_eq!(item(&tina, &c)["last_message"]["from_contact"], false);
    assert_eq!(item(&tina, &c)["subject"], "About first");
    let fred = w.settled(0, FRED, "", |p| p["@paging"]["found"] == 1).await;
    assert_eq!(
        item(&fred, &c)["unread"],
        0,
        "your own message is not unread"
    );

    // Others post: Tina's count grows; Tina posts: her marker moves, Fred's count grows.
    w.say(&c, FRED, "second").await;
    w.settled(0, TINA, "", |p| p["@items"][0]["unread"] == 2)
        .await;
    w.say(&c, TINA, "reply").await;
    let tina = w
        .settled(0, TINA, "", |p| p["@items"][0]["unread"] == 0)
        .await;
    assert_eq!(tina["badge"], 0);
    assert_eq!(item(&tina, &c)["last_message"]["from_contact"], true);
    w.settled(0, FRED, "", |p| p["@items"][0]["unread"] == 1)
        .await;

    // Marking read moves the count, partially and then fully.
    w.say(&c, TINA, "more").await;
    w.settled(0, FRED, "", |p| p["@items"][0]["unread"] == 2)
        .await;
    w.post(
        &format!("/api/v1/conversations/{c}/read"),
        json!({"participant": FRED, "up_to": 3}),
    )
    .await;
    w.settled(0, FRED, "", |p| p["@items"][0]["unread"] == 1)
        .await;
    w.post(
        &format!("/api/v1/conversations/{c}/read"),
        json!({"participant": FRED}),
    )
    .await;
    let fred = w
        .settled(0, FRED, "", |p| p["@items"][0]["unread"] == 0)
        .await;
    assert_eq!(fred["badge"], 0);
    assert_eq!(item(&fred, &c)["last_read"], 4);
    w.finish().await;
}

#[tokio::test]
async fn filters_and_relevance_select_exactly_the_right_conversations() {
    let w = world().await;
    // Tina is in every conversation; each has one property.
    let read = w.conversation(TINA, &[FRED], "read one").await;
    let unread = w.conversation(FRED, &[TINA], "unread one").await;
    let muted = w.conversation(TINA, &[FRED], "muted one").await;
    let pinned = w.conversation(TINA, &[FRED], "pinned one").await;
    let archived = w.conversation(TINA, &[FRED], "archived one").await;
    let ongoing = w.conversation(TINA, &[FRED], "call now").await;
    let missed = w.conversation(TINA, &[FRED], "call missed").await;
    let crm = w.conversation(TINA, &[FRED], "crm").await;
    let participant = |c: &str| format!("/api/v1/conversations/{c}/participants/{TINA}");
    w.patch(&participant(&muted), json!({"muted": true})).await;
    w.patch(&participant(&pinned), json!({"pinned": true}))
        .await;
    w.patch(&participant(&archived), json!({"archived": true}))
        .await;
    w.say_with_source(&ongoing, FRED, "started", Some("call"))
        .await;
    w.say_with_source(&missed, FRED, "started", Some("call"))
        .await;
    w.say_with_source(&missed, FRED, "missed: nobody answered", Some("call"))
        .await;
    w.say_with_source(&crm, FRED, "Purchased a bike", Some("salesforce_history"))
        .await;
    let all = w
        .settled(0, TINA, "limit=100", |p| {
            p["@paging"]["found"] == 8
                && p["@items"].as_array().unwrap().iter().any(|i| {
                    i["id"] == crm.as_str() && i["last_message"]["source"] == "salesforce_history"
                })
        })
        .await;
    assert_eq!(all["@paging"]["total"], 8);
    // Calls and integrator events do not count as unread by default.
    assert_eq!(item(&all, &crm)["unread"], 0);
    assert_eq!(item(&all, &missed)["unread"], 0);
    assert_eq!(all["badge"], 1);
    assert_eq!(item(&all, &ongoing)["has_call"], true);
    assert_eq!(item(&all, &ongoing)["has_ongoing_call"], true);
    assert_eq!(item(&all, &missed)["has_ongoing_call"], false);
    assert_eq!(item(&all, &missed)["has_missed_call"], true);
    assert_eq!(item(&all, &read)["has_call"], false);

    let contact = w.contact_id(0, TINA).await;
    let select = |query: &'static str| {
        let w = &w;
        let contact = contact.clone();
        async move {
            let mut got = ids(&w.inbox(0, &contact, query).await);
            got.sort();
            got
        }
    };
    let sorted = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(select("relevant=unread messages").await, sorted(&[&unread]));
    assert_eq!(select("relevant=ongoing%20call").await, sorted(&[&ongoing]));
    assert_eq!(select("relevant=missed_call").await, sorted(&[&missed]));
    assert_eq!(
        select("relevant=all").await,
        sorted(&[&unread, &ongoing, &missed])
    );
    assert_eq!(select("muted=true").await, sorted(&[&muted]));
    assert_eq!(select("pinned=true").await, sorted(&[&pinned]));
    assert_eq!(select("archived=true").await, sorted(&[&archived]));
    assert_eq!(
        select("archived=false&muted=false&limit=100").await.len(),
        6
    );
    let first = ids(&w.inbox(0, &contact, "pinned_first=true").await);
    assert_eq!(first[0], pinned, "pinned first when asked");

    // updated_after: only what happened later.
    let mark = chrono::Utc::now();
    w.say(&read, FRED, "later").await;
    let later = w
        .settled(
            0,
            TINA,
            &format!("updated_after={}", mark.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            |p| p["@paging"]["found"] == 1,
        )
        .await;
    assert_eq!(ids(&later), vec![read.clone()]);

    // Reading past the missed call clears it.
    w.post(
        &format!("/api/v1/conversations/{missed}/read"),
        json!({"participant": TINA}),
    )
    .await;
    w.settled(0, TINA, "relevant=missed%20call", |p| {
        p["@paging"]["found"] == 0
    })
    .await;

    // The application decides that CRM events count as unread.
    let r = w
        .client
        .put(format!("{}/api/v1/settings/unread-sources", w.inbox_url(0)))
        .bearer_auth(&w.key)
        .json(&json!({"sources": ["salesforce_history"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = w
        .settled(0, TINA, "relevant=unread%20messages&limit=100", |p| {
            p["@paging"]["found"] == 3
        })
        .await;
    assert_eq!(item(&page, &crm)["unread"], 1);

    // Bad filter values are refused with problem details.
    for query in [
        "relevant=someday",
        "muted=maybe",
        "limit=0",
        "limit=101",
        "updated_after=yesterday",
        "cursor=nonsense",
        "start=-1",
    ] {
        let (status, body) = w
            .get_as(
                0,
                &w.key,
                &format!("/api/v1/contacts/{contact}/conversations?{query}"),
            )
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["status"], 400);
    }
    w.finish().await;
}

#[tokio::test]
async fn paging_never_skips_or_repeats_while_messages_arrive() {
    let w = world().await;
    let mut all = Vec::new();
    for n in 0..25 {
        all.push(w.conversation(FRED, &[TINA], &format!("topic {n}")).await);
    }
    w.settled(0, TINA, "", |p| p["@paging"]["found"] == 25)
        .await;
    let contact = w.contact_id(0, TINA).await;

    // Offset paging (Minddistrict's start/limit) covers everything once.
    let mut by_offset = Vec::new();
    for start in [0, 10, 20] {
        let page = w
            .inbox(0, &contact, &format!("start={start}&limit=10"))
            .await;
        assert_eq!(page["@paging"]["start"], start);
        by_offset.extend(ids(&page));
    }
    assert_eq!(by_offset.len(), 25);
    assert_eq!(by_offset.iter().collect::<HashSet<_>>().len(), 25);

    // Cursor paging while new messages arrive in conversations already seen and not yet
    // seen: nothing is served twice; whatever did not move is served exactly once; what
    // moved is at the top of a fresh first page and counted as changed.
    let first = w.inbox(0, &contact, "limit=10").await;
    let mut seen = ids(&first);
    let seen_already = seen[3].clone();
    let not_yet_seen = all[0].clone(); // the oldest: last in the inbox
    w.say(&seen_already, FRED, "bump").await;
    w.say(&not_yet_seen, FRED, "bump").await;
    w.settled(0, TINA, "limit=1", |p| {
        p["@items"][0]["last_message"]["preview"] == "bump"
            && p["@items"][0]["id"] == not_yet_seen.as_str()
    })
    .await;
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let mut changed;
    loop {
        let page = w
            .inbox(0, &contact, &format!("limit=10&cursor={cursor}"))
            .await;
        seen.extend(ids(&page));
        changed = page["@paging"]["changed_since_first_page"]
            .as_i64()
            .unwrap();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no repeats"
    );
    for c in &all {
        if *c != not_yet_seen {
            assert!(seen.contains(c), "{c} was skipped");
        }
    }
    assert_eq!(changed, 2);
    let fresh = w.inbox(0, &contact, "limit=2").await;
    let mut top = ids(&fresh);
    top.sort();
    let mut moved = vec![seen_already, not_yet_seen];
    moved.sort();
    assert_eq!(top, moved);
    w.finish().await;
}

#[tokio::test]
async fn tokens_see_only_their_contact_and_keys_only_their_application() {
    let w = world().await;
    let shared = w.conversation(FRED, &[TINA], "shared").await;
    let private = w.conversation(FRED, &[OLGA], "not for tina").await;
    w.settled(0, OLGA, "", |p| p["@paging"]["found"] == 1).await;
    let olga = w.contact_id(0, OLGA).await;
    let tina_contact = w.contact_id(0, TINA).await;
    let tina = w.token_for(TINA).await;

    // The inbox of the token's own contact, by id or as `me`; nobody else's.
    for path in [
        format!("/api/v1/contacts/{tina_contact}/conversations"),
        "/api/v1/contacts/me/conversations".to_owned(),
    ] {
        let (status, body) = w.get_as(0, &tina, &path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body), vec![shared.clone()]);
        assert!(
            !body.to_string().contains(FRED),
            "a token never sees another person's address: {body}"
        );
    }
    for path in [
        format!("/api/v1/contacts/{olga}/conversations"),
        format!("/api/v1/contacts/{olga}"),
        format!("/api/v1/contacts?email={OLGA}"),
    ] {
        let (status, _) = w.get_as(0, &tina, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    let r = w
        .client
        .post(format!(
            "{}/api/v1/contacts/{olga}/recent-messages",
            w.inbox_url(0)
        ))
        .bearer_auth(&tina)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, participants) = w
        .get_as(
            0,
            &tina,
            &format!("/api/v1/participants?conversation_ids={shared},{private}"),
        )
        .await;
    assert_eq!(participants["conversations"].as_array().unwrap().len(), 1);
    assert_eq!(participants["conversations"][0]["id"], shared.as_str());
    let (status, _) = w.get_as(0, &tina, "/api/v1/settings/unread-sources").await;
    assert_eq!(status, 403);

    // In conversation-api: open, mark read and post in her own conversation, as herself.
    let get = |path: String, key: String| {
        let client = w.client.clone();
        let api = w.api.clone();
        async move {
            let r = client
                .get(format!("{api}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get(format!("/api/v1/conversations/{shared}"), tina.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(TINA) && !body.contains(FRED), "{body}");
    let (status, _) = get(format!("/api/v1/conversations/{private}"), tina.clone()).await;
    assert_eq!(status, 404);
    let (status, body) = w
        .post_as(
            &tina,
            &format!("/api/v1/conversations/{shared}"),
            json!({"sender": {"email": TINA}, "text": "from the browser"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = w
        .post_as(
            &tina,
            &format!("/api/v1/conversations/{shared}"),
            json!({"sender": {"email": FRED}, "text": "impersonating"}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = w
        .post_as(
            &tina,
            &format!("/api/v1/conversations/{private}"),
            json!({"sender": {"email": TINA}, "text": "intruding"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = w
        .post_as(
            &tina,
            &format!("/api/v1/conversations/{shared}/read"),
            json!({"participant": TINA}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = w
        .post_as(&tina, "/api/v1/conversations", json!({"subject": "new"}))
        .await;
    assert_eq!(status, 403, "creating conversations needs the API key");
    let (status, _) = w
        .post_as(&tina, "/api/v1/tokens", json!({"email": FRED}))
        .await;
    assert_eq!(status, 403, "a token cannot mint tokens");
    let forged = format!("{}x", &tina[..tina.len() - 1]);
    let (status, _) = w
        .get_as(0, &forged, "/api/v1/contacts/me/conversations")
        .await;
    assert_eq!(status, 401);

    // Another application's key sees nothing of this one.
    let other = w.create_app("Other shop").await;
    let other_key = other.clone();
    eventually(|| async {
        let (status, _) = w
            .get_as(0, &other_key, &format!("/api/v1/contacts?email={TINA}"))
            .await;
        (status == 404).then_some(())
    })
    .await;
    let (status, _) = w
        .get_as(
            0,
            &other,
            &format!("/api/v1/contacts/{tina_contact}/conversations"),
        )
        .await;
    assert_eq!(status, 404);
    let (_, participants) = w
        .get_as(
            0,
            &other,
            &format!("/api/v1/participants?conversation_ids={shared}"),
        )
        .await;
    assert_eq!(participants["conversations"], json!([]));
    let (status, _) = w
        .get_as(0, "cvk_not-a-key", "/api/v1/contacts?email=x@example.com")
        .await;
    assert_eq!(status, 401);

    // The internal event feed (every application's events) takes only its own token.
    let feed = format!("{}/internal/v1/events?after=0", w.api);
    for credential in [
        None,
        Some("not-the-feed-token-not-the-feed-token-00"),
        Some(w.key.as_str()),
        Some(tina.as_str()),
    ] {
        let mut request = w.client.get(&feed);
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{credential:?} read the feed");
    }
    let page: serde_json::Value = w
        .client
        .get(&feed)
        .bearer_auth(helpers::FEED_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!page["events"].as_array().unwrap().is_empty());
    w.finish().await;
}

#[tokio::test]
async fn recent_messages_of_a_contact_filter_by_source_and_page_per_conversation() {
    let w = world().await;
    let chat = w.conversation(FRED, &[TINA], "chat").await;
    let history = w.conversation(TINA, &[FRED], "history").await;
    for n in 1..=5 {
        w.say_with_source(
            &history,
            TINA,
            &format!("Purchased item {n}"),
            Some("salesforce_history"),
        )
        .await;
    }
    w.say(&chat, TINA, "thanks").await;
    w.settled(0, TINA, "", |p| {
        p["@items"][0]["last_message"]["preview"] == "thanks"
    })
    .await;
    let contact = w.contact_id(0, TINA).await;
    let recent = |body: serde_json::Value| {
        let w = &w;
        let contact = contact.clone();
        async move {
            let r = w
                .client
                .post(format!(
                    "{}/api/v1/contacts/{contact}/recent-messages",
                    w.inbox_url(0)
                ))
                .bearer_auth(&w.key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, all) = recent(json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(all[&chat]["data"].as_array().unwrap().len(), 2);
    assert_eq!(all[&chat]["data"][0]["content"], "thanks");
    assert_eq!(all[&chat]["data"][0]["from_contact"], true);

    let (_, crm) = recent(json!({"filter_sources": ["salesforce_history"], "limit": 2})).await;
    assert!(crm.get(&chat).is_none(), "no matching messages: left out");
    let page = &crm[&history];
    assert_eq!(page["pagination_data"]["total"], 5);
    let texts = |page: &serde_json::Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(texts(page), vec!["Purchased item 5", "Purchased item 4"]);
    let mut cursor = page["pagination_data"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut rest = Vec::new();
    loop {
        let (_, next) = recent(json!({"filter_sources": ["salesforce_history"], "limit": 2,
                                      "cursors": {history.clone(): cursor}}))
        .await;
        assert!(next.get(&chat).is_none(), "cursors select conversations");
        rest.extend(texts(&next[&history]));
        match next[&history]["pagination_data"]["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        rest,
        vec!["Purchased item 3", "Purchased item 2", "Purchased item 1"]
    );
    let (status, _) = recent(json!({"filter_sources": ["Not A Source"]})).await;
    assert_eq!(status, 400);
    let (status, _) = recent(json!({"cursors": {chat.clone(): "forged"}})).await;
    assert_eq!(status, 400);
    let (status, _) = recent(json!({"unknown": 1})).await;
    assert_eq!(status, 400);
    w.finish().await;
}
