//! The pages behind the link in every notification: the conversation (`/conversations/{id}`)
//! and the person's inbox (`/inbox`, also `/`). They are static files that talk to the
//! public APIs with a participant token, which the conversation page gets by exchanging
//! the sign-in code in the link (`POST /api/v1/sign-in`). The files live in `assets/` and
//! are compiled into the binary, so the all-in-one needs nothing beside itself; the split
//! deployment's gateway serves the same directory (deploy/nginx/gateway.conf) with the same
//! headers ([`CONTENT_SECURITY_POLICY`]).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpResponse, web};

/// What the pages may load: their own scripts, styles and API calls, nothing inline and
/// nothing from anywhere else. A message text that carries markup can run nothing even if
/// it ever reached the DOM as HTML.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

/// One embedded file and how it is served.
struct Asset {
    name: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const CONVERSATION: Asset = Asset {
    name: "conversation.html",
    body: include_str!("../assets/conversation.html"),
    content_type: HTML,
};
const INBOX: Asset = Asset {
    name: "inbox.html",
    body: include_str!("../assets/inbox.html"),
    content_type: HTML,
};

/// The scripts and the style sheet under `/assets/`.
const ASSETS: [Asset; 4] = [
    Asset {
        name: "app.css",
        body: include_str!("../assets/app.css"),
        content_type: CSS,
    },
    Asset {
        name: "session.js",
        body: include_str!("../assets/session.js"),
        content_type: JS,
    },
    Asset {
        name: "conversation.js",
        body: include_str!("../assets/conversation.js"),
        content_type: JS,
    },
    Asset {
        name: "inbox.js",
        body: include_str!("../assets/inbox.js"),
        content_type: JS,
    },
];

fn serve(asset: &Asset) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(ContentType(
            asset
                .content_type
                .parse()
                .unwrap_or(actix_web::mime::TEXT_PLAIN_UTF_8),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        // Revalidated on every load, so a new release shows at once (the files are small).
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(asset.body)
}

async fn conversation_page() -> HttpResponse {
    serve(&CONVERSATION)
}

async fn inbox_page() -> HttpResponse {
    serve(&INBOX)
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(a) => serve(a),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .content_type(ContentType::plaintext())
            .body("no such file\n"),
    }
}

/// Registers the pages: `/`, `/inbox`, `/conversations/{id}` and `/assets/{name}`. None of
/// these paths collides with the APIs (all under `/api/`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(inbox_page))
        .route("/inbox", web::get().to(inbox_page))
        .route("/conversations/{id}", web::get().to(conversation_page))
        .route("/assets/{name}", web::get().to(asset));
}

/// The embedded files by name, for a check that the gateway's copy is the same.
pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    [CONVERSATION, INBOX]
        .into_iter()
        .chain(ASSETS)
        .map(|a| (a.name, a.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::App;
    use actix_web::test as web_test;

    #[actix_web::test]
    async fn pages_carry_a_strict_policy_and_unknown_assets_are_not_found() {
        let app = web_test::init_service(App::new().configure(configure)).await;
        for (path, kind) in [
            ("/", "text/html"),
            ("/inbox", "text/html"),
            ("/conversations/5f0c", "text/html"),
            ("/assets/app.css", "text/css"),
            ("/assets/session.js", "text/javascript"),
        ] {
            let res =
                web_test::call_service(&app, web_test::TestRequest::get().uri(path).to_request())
                    .await;
            assert_eq!(res.status(), 200, "{path}");
            let header = |name| res.headers().get(name).unwrap().to_str().unwrap();
            assert!(header(header::CONTENT_TYPE).starts_with(kind), "{path}");
            assert_eq!(
                header(header::CONTENT_SECURITY_POLICY),
                CONTENT_SECURITY_POLICY
            );
            assert_eq!(header(header::REFERRER_POLICY), "no-referrer");
        }
        let res = web_test::call_service(
            &app,
            web_test::TestRequest::get()
                .uri("/assets/..%2FCargo.toml")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 404);
    }

    #[test]
    fn the_gateway_serves_the_pages_under_the_same_policy() {
        let gateway = include_str!("../../../deploy/nginx/gateway.conf");
        assert!(
            gateway.contains(&format!(
                "add_header Content-Security-Policy \"{CONTENT_SECURITY_POLICY}\" always;"
            )),
            "deploy/nginx/gateway.conf must send CONTENT_SECURITY_POLICY with the pages"
        );
    }

    #[test]
    fn pages_hold_no_inline_script_or_style() {
        for (name, body) in files().filter(|(n, _)| n.ends_with(".html")) {
            for forbidden in ["<script>", "style=\"", " onclick=", " onload="] {
                assert!(!body.contains(forbidden), "{name} holds {forbidden}");
            }
        }
    }
}
