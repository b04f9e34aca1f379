//! The domain rules as an integrator meets them through the API.

use serde_json::{Value, json};

use crate::helpers::{Db, TestApp, assert_problem, spawn_app};
use crate::on_both_backends;

async fn conversation(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["conversation"].clone()
}

fn detail<'a>(conversation: &'a Value, email: &str) -> &'a Value {
    conversation["participant_details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == email)
        .unwrap()
}

async fn participants_come_and_go_and_ownership_passes_on(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("hugo@example.com", &["fred@example.com"], "hi")
        .await;
    let base = format!("/api/v1/conversations/{id}");

    let added = app
        .post_json(
            &format!("{base}/participants"),
            &json!({"email": "Ann@Example.com", "name": "Ann", "external_id": "u-7"}),
        )
        .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["email"], "ann@example.com");
    assert!(
        added["reply_to"]
            .as_str()
            .unwrap()
            .ends_with("@reply.example.com")
    );
    let again = app
        .post_json(&format!("{base}/participants"), &json!("ann@example.com"))
        .await;
    assert_problem(again, 409).await;

    // The owner leaves: the next participant owns it; posting notifies only those left.
    assert_eq!(
        app.delete(&format!("{base}/participants/hugo@example.com"))
            .await
            .status(),
        204
    );
    let c = conversation(&app, &id).await;
    assert_eq!(c["owner"], "fred@example.com");
    assert_eq!(
        c["participants"],
        json!(["ann@example.com", "fred@example.com"])
    );
    assert_eq!(detail(&c, "hugo@example.com")["active"], false);
    let posted: Value = app
        .post_json(
            &base,
            &json!({"sender": "ann@example.com", "text": "hello"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(posted["notifications"], json!(["fred@example.com"]));
    assert_problem(
        app.delete(&format!("{base}/participants/hugo@example.com"))
            .await,
        404,
    )
    .await;

    // The last one out deletes the conversation.
    assert_eq!(
        app.delete(&format!("{base}/participants/ann@example.com"))
            .await
            .status(),
        204
    );
    assert_eq!(
        app.delete(&format!("{base}/participants/fred@example.com"))
            .await
            .status(),
        204
    );
    assert_problem(app.get(&base).await, 404).await;
    assert_eq!(app.counts().await.messages, 0);
}
on_both_backends!(participants_come_and_go_and_ownership_passes_on);

async fn a_personal_conversation_is_reopened_with_its_history(db: Db) {
    let app = spawn_app(db).await;
    let open = |text: &'static str| {
        let app = &app;
        async move {
            app.post_json(
                "/api/v1/conversations",
                &json!({"type": "personal", "sender": "a@example.com", "to": ["b@example.com"], "text": text}),
            )
            .await
        }
    };
    let first = open("first").await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let id = first["conversation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first["conversation"]["type"], "personal");

    assert_eq!(
        app.delete(&format!(
            "/api/v1/conversations/{id}/participants/a@example.com"
        ))
        .await
        .status(),
        204
    );
    let reopened = open("again").await;
    assert_eq!(reopened.status(), 200);
    let reopened: Value = reopened.json().await.unwrap();
    assert_eq!(reopened["conversation"]["id"], id.as_str());
    let texts: Vec<&str> = reopened["conversation"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "again"]);
    assert_eq!(
        reopened["conversation"]["participants"],
        json!(["a@example.com", "b@example.com"])
    );

    let third = app
        .post_json(
            &format!("/api/v1/conversations/{id}/participants"),
            &json!("c@example.com"),
        )
        .await;
    // The rule depends on the conversation (personal): 409, not a malformed request.
    assert_problem(third, 409).await;
    let three = app
        .post_json(
            "/api/v1/conversations",
            &json!({"type": "personal", "sender": "a@example.com", "to": ["b@example.com", "c@example.com"], "text": "x"}),
        )
        .await;
    assert_problem(three, 409).await;
}
on_both_backends!(a_personal_conversation_is_reopened_with_its_history);

async fn read_markers_unread_counts_and_participant_state(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("a@example.com", &["b@example.com"], "one")
        .await;
    let base = format!("/api/v1/conversations/{id}");
    app.post_json(&base, &json!({"sender": "a@example.com", "text": "two"}))
        .await;
    app.post_json(&base, &json!({"sender": "a@example.com", "text": "three"}))
        .await;
    let c = conversation(&app, &id).await;
    assert_eq!(detail(&c, "b@example.com")["unread"], 3);
    assert_eq!(detail(&c, "a@example.com")["unread"], 0);

    let read: Value = app
        .post_json(
            &format!("{base}/read"),
            &json!({"participant": "b@example.com", "up_to": 2}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["unread"], 1);
    assert_problem(
        app.post_json(
            &format!("{base}/read"),
            &json!({"participant": "b@example.com", "up_to": 9}),
        )
        .await,
        409,
    )
    .await;
    let all: Value = app
        .post_json(
            &format!("{base}/read"),
            &json!({"participant": "b@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["unread"], 0);

    // Muted participants are not notified.
    let muted: Value = app
        .patch_json(
            &format!("{base}/participants/b@example.com"),
            &json!({"muted": true, "pinned": true, "archived": true, "opened": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(muted["muted"], true);
    assert_eq!(muted["pinned"], true);
    assert!(muted["archived_at"].is_string() && muted["last_opened_at"].is_string());
    let posted: Value = app
        .post_json(&base, &json!({"sender": "a@example.com", "text": "four"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(posted["notifications"], json!([]));

    // Subject and pinned message.
    let updated: Value = app
        .patch_json(&base, &json!({"subject": "Renamed", "pinned_message": 2}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["conversation"]["subject"], "Renamed");
    assert_eq!(updated["conversation"]["pinned_message"], 2);
    assert_problem(
        app.patch_json(&base, &json!({"pinned_message": 50})).await,
        409,
    )
    .await;
    let unpinned: Value = app
        .patch_json(&base, &json!({"pinned_message": null}))
        .await
        .json()
        .await
        .unwrap();
    assert!(unpinned["conversation"]["pinned_message"].is_null());
}
on_both_backends!(read_markers_unread_counts_and_participant_state);

async fn messages_from_other_systems_are_filtered_by_source_and_paged(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("agent@example.com", &["customer@example.com"], "hello")
        .await;
    let base = format!("/api/v1/conversations/{id}");
    for i in 0..5 {
        let r = app
            .post_json(&base, &json!({"sender": "shop@example.com", "text": format!("purchase {i}"), "source": "salesforce_history"}))
            .await;
        assert_eq!(r.status(), 201);
    }
    assert_problem(
        app.post_json(
            &base,
            &json!({"sender": "a@example.com", "text": "x", "source": "Bad Source"}),
        )
        .await,
        422,
    )
    .await;

    let list: Value = app
        .get(&format!(
            "{base}/messages?source=salesforce_history&limit=3"
        ))
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<&str> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["purchase 0", "purchase 1", "purchase 2"]);
    let cursor = list["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!(
            "{base}/messages?source=salesforce_history&limit=3&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let page: Vec<&str> = rest["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["purchase 3", "purchase 4"]);
    assert!(rest["next_cursor"].is_null());

    let api_only: Value = app
        .get(&format!("{base}/messages?source=api"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api_only["messages"].as_array().unwrap().len(), 1);

    // The conversation view pages its messages too.
    let first: Value = app
        .get(&format!("{base}?limit=4"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["conversation"]["messages"].as_array().unwrap().len(),
        4
    );
    let cursor = first["conversation"]["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("{base}?limit=4&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["conversation"]["messages"].as_array().unwrap().len(),
        2
    );
    assert!(second["conversation"].get("next_cursor").is_none());
}
on_both_backends!(messages_from_other_systems_are_filtered_by_source_and_paged);

async fn deleting_a_conversation_removes_it(db: Db) {
    let app = spawn_app(db).await;
    let id = app
        .create_conversation("a@example.com", &["b@example.com"], "bye")
        .await;
    assert_eq!(
        app.delete(&format!("/api/v1/conversations/{id}"))
            .await
            .status(),
        204
    );
    assert_problem(app.get(&format!("/api/v1/conversations/{id}")).await, 404).await;
    assert_problem(
        app.delete(&format!("/api/v1/conversations/{id}")).await,
        404,
    )
    .await;
}
on_both_backends!(deleting_a_conversation_removes_it);
