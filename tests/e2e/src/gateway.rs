//! The gateway for real: Debian's nginx with `deploy/nginx/gateway.conf` as shipped (only
//! the upstream addresses, the listen port and the pages' directory changed) in front of a
//! running [`System`]. Tests that need it skip themselves when nginx is not installed
//! (scripts/test installs it).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::{System, eventually};

/// Where Debian installs nginx.
pub const NGINX: &str = "/usr/sbin/nginx";

/// A free port on the loopback interface, for the gateway's `listen` (chosen before the
/// system starts when the services must know the public URL).
pub use conversations_test_support::free_port;

fn host_port(base: &str) -> &str {
    base.trim_start_matches("http://")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The gateway configuration as shipped, pointed at this system's services.
fn configuration(system: &System, port: u16, dir: &Path) -> String {
    let shipped = std::fs::read_to_string(repository().join("deploy/nginx/gateway.conf"))
        .expect("deploy/nginx/gateway.conf");
    let base = |s: &crate::Service| host_port(s.base.as_deref().unwrap_or_default()).to_owned();
    let pages = repository().join("crates/pages/assets");
    let gateway = shipped
        .replace(
            "server conversation-api:8080;",
            &format!("server {};", base(&system.api)),
        )
        .replace(
            "server metadata-query:8081;",
            &format!("server {};", base(&system.metadata)),
        )
        .replace(
            "server inbound-mail:8083;",
            &format!("server {};", base(&system.inbound)),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "/usr/share/conversations/pages",
            &pages.display().to_string(),
        );
    assert!(
        !gateway.contains("conversation-api:8080"),
        "upstreams not replaced"
    );
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n{gateway}\n}}\n"
    )
}

/// A running nginx gateway; stopped and its directory removed on [`Gateway::stop`] (or
/// killed when dropped).
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    nginx: tokio::process::Child,
    dir: PathBuf,
}

impl Gateway {
    /// Whether nginx is installed; tests that need it are skipped otherwise.
    pub fn available() -> bool {
        Path::new(NGINX).exists()
    }

    /// Starts nginx on `port` in front of `system` and waits until it answers.
    pub async fn start(system: &System, port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("conversations-gateway-{port}"));
        std::fs::create_dir_all(&dir).expect("gateway directory");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, configuration(system, port, &dir)).expect("nginx.conf");
        let nginx = tokio::process::Command::new(NGINX)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = &system.client;
        eventually("the gateway", Duration::from_secs(10), || async {
            client
                .get(format!("{base}/livez"))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self { base, nginx, dir }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops nginx and removes its directory.
    pub async fn stop(mut self) {
        let _ = self.nginx.start_kill();
        let _ = self.nginx.wait().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
