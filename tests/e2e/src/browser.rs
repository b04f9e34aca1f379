//! A real browser for the page tests: Debian's Chromium, headless, driven through its
//! WebDriver (chromedriver on a random port) with fantoccini. Each [`Browser`] is its own
//! session with its own profile, so two of them are two people.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use crate::eventually;
use crate::gateway::free_port;

/// Where Debian installs them (packages chromium and chromium-driver).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// chromedriver, from chromium-driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process; killed when dropped.
pub struct Driver {
    url: String,
    _child: tokio::process::Child,
}

impl Driver {
    /// Whether Chromium and chromedriver are installed (scripts/test installs them).
    pub fn available() -> bool {
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
    }

    /// Starts chromedriver and waits until it answers.
    pub async fn start() -> Self {
        let port = free_port();
        let child = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually("chromedriver", Duration::from_secs(20), || async {
            client
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        Self { url, _child: child }
    }

    /// A new browser window of `width` × `height` CSS pixels.
    pub async fn open(&self, width: u32, height: u32) -> Browser {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--hide-scrollbars",
                         format!("--window-size={width},{height}")],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session");
        Browser { client }
    }
}

/// One browser session.
pub struct Browser {
    /// The WebDriver client, for what the helpers do not cover.
    pub client: Client,
}

impl Browser {
    /// Opens `url` (waits for the load event, not for the page's own requests).
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    /// The address bar.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .to_string()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns something other than `null`, `false` or `undefined`
    /// and returns it.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        eventually(what, Duration::from_secs(30), || async {
            let value = self.client.execute(script, Vec::new()).await.ok()?;
            (!matches!(value, Value::Null | Value::Bool(false))).then_some(value)
        })
        .await
    }

    /// Waits until the element `id` is shown (its `hidden` attribute gone).
    pub async fn shown(&self, id: &str) {
        self.until(
            &format!("#{id} shown"),
            &format!("const e = document.getElementById('{id}'); return !!e && !e.hidden;"),
        )
        .await;
    }

    /// The text of the whole page as a person sees it.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;", Vec::new())
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The serialised DOM.
    pub async fn dom(&self) -> String {
        self.js("return document.documentElement.outerHTML;", Vec::new())
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the window.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window resized");
    }

    /// Saves a screenshot of the viewport as PNG.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Runs axe-core (injected from `axe_source`) on the page and returns the violations
    /// of impact `serious` or `critical`, one line each.
    pub async fn accessibility_violations(&self, axe_source: &str) -> Vec<String> {
        // Injected through WebDriver, which the page's Content-Security-Policy does not
        // govern (the page itself could not load it: no inline or foreign scripts).
        self.js(
            &format!("{axe_source}\n;window.__axe_loaded = typeof axe === 'object'; return true;"),
            Vec::new(),
        )
        .await;
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' — ' +
                          v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                Vec::new(),
            )
            .await
            .expect("axe-core ran");
        result
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// axe-core's script: `AXE_CORE_JS`, or where scripts/test installs it
/// (target/browser-tools/node_modules/axe-core/axe.min.js).
pub fn axe_core() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/browser-tools/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(path).ok()
}
