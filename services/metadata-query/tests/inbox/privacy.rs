//! Masked means unguessable: a participant token sees nothing in any response, of
//! conversation-api or metadata-query, that lets it compute or confirm another
//! participant's address without the servers' secrets: no address, no integrator id, and
//! no id or alias that is an unkeyed hash of the address (which anyone could recompute from
//! a guess, as the ids before keying were).

use data_encoding::HEXLOWER;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::world;

const FRED: &str = "fred@example.com";
const TINA: &str = "tina@example.com";
const OLGA: &str = "olga.guessable@example.com";

/// Every unkeyed hash of `email` with the ids a token holder knows (application,
/// conversation), in the shapes ids and aliases are shown.
fn guesses(app: &str, conversation: &str, email: &str) -> Vec<String> {
    let mut out = Vec::new();
    for context in [app, conversation] {
        for sep in ["\n", ":", "", "/"] {
            let hex = HEXLOWER.encode(&Sha256::digest(format!("{context}{sep}{email}")));
            out.extend([
                hex[..12].to_owned(),
                hex[..16].to_owned(),
                hex[..32].to_owned(),
            ]);
        }
    }
    out
}

#[tokio::test]
async fn nothing_a_token_sees_confirms_another_participants_address() {
    let w = world().await;
    let shared = w.conversation(FRED, &[TINA], "shared").await;
    w.post(
        &format!("/api/v1/conversations/{shared}/participants"),
        json!({"email": OLGA, "name": "Olga", "external_id": "crm-olga-7"}),
    )
    .await;
    w.say(&shared, OLGA, "hello from Olga").await;
    w.settled(0, TINA, "", |p| {
        p["@items"][0]["last_message"]["preview"] == "hello from Olga"
    })
    .await;
    let app = {
        let store = w.api_store.clone();
        let id = shared.parse().unwrap();
        tokio::task::spawn_blocking(move || store.conversation_app(id))
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .to_string()
    };
    let tina = w.token_for(TINA).await;

    let mut seen = Vec::new();
    for path in [
        "/api/v1/contacts/me/conversations".to_owned(),
        "/api/v1/contacts/me".to_owned(),
        format!("/api/v1/participants?conversation_ids={shared}"),
    ] {
        let (status, body) = w.get_as(0, &tina, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push((path, body.to_string()));
    }
    let recent = w
        .client
        .post(format!(
            "{}/api/v1/contacts/me/recent-messages",
            w.inbox_url(0)
        ))
        .bearer_auth(&tina)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(recent.status(), 200);
    seen.push(("recent-messages".into(), recent.text().await.unwrap()));
    for path in [
        format!("/api/v1/conversations/{shared}"),
        format!("/api/v1/conversations/{shared}/messages"),
        format!("/api/v1/conversations/{shared}/2"),
        format!("/api/v1/conversations/{shared}/participants"),
    ] {
        let r = w
            .client
            .get(format!("{}{path}", w.api))
            .bearer_auth(&tina)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        if status == 403 {
            continue; // a route a token may not read at all shows nothing either
        }
        assert_eq!(status, 200, "{path}: {body}");
        seen.push((path, body));
    }
    assert!(
        seen.iter().any(|(_, body)| body.contains("participant-")),
        "others are shown by alias: {seen:?}"
    );
    for (path, body) in &seen {
        let lower = body.to_lowercase();
        for other in [FRED, OLGA] {
            assert!(!lower.contains(other), "{path} shows {other}: {body}");
            for guess in guesses(&app, &shared, other) {
                assert!(
                    !lower.contains(&guess),
                    "{path} shows an unkeyed hash of {other} ({guess}): {body}"
                );
            }
        }
        assert!(
            !body.contains("crm-olga-7"),
            "{path} shows another participant's integrator id: {body}"
        );
    }
    // The page of an allowed origin reads the inbox with the token; it is never cached.
    let from_page = w
        .client
        .get(format!(
            "{}/api/v1/contacts/me/conversations",
            w.inbox_url(0)
        ))
        .bearer_auth(&tina)
        .header("Origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(from_page.status(), 200);
    let h = from_page.headers();
    assert_eq!(h["access-control-allow-origin"], "https://shop.example");
    assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
    assert_eq!(h["x-content-type-options"], "nosniff");

    // The application itself still sees everything.
    let (_, participants) = w
        .get_as(
            0,
            &w.key,
            &format!("/api/v1/participants?conversation_ids={shared}"),
        )
        .await;
    assert!(
        participants.to_string().contains("crm-olga-7"),
        "{participants}"
    );
    w.finish().await;
}
