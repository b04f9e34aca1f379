//! One service process of the system under test: the binary `cargo build` made, started
//! with its own environment, logging to a file, killed without ceremony.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::eventually;

/// Where `cargo build` put the service binaries: beside this test's own `deps` folder, or
/// beside the running binary (the benchmark).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let parent = exe.parent().expect("target/<profile>");
    let dir = if parent.ends_with("deps") {
        parent.parent().expect("target/<profile>/deps")
    } else {
        parent
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the service binaries first (`cargo build --workspace --bins`; \
         scripts/test does)",
        path.display()
    );
    path
}

pub(crate) use conversations_test_support::free_addr;

/// One service process.
pub struct Service {
    name: &'static str,
    log: PathBuf,
    env: Vec<(String, String)>,
    child: tokio::sync::Mutex<Option<tokio::process::Child>>,
    /// `http://host:port` when it serves HTTP.
    pub base: Option<String>,
}

impl Service {
    /// A service `name` (its binary's name) with `env`, logging to `logs/<name>.log`.
    pub fn new(
        name: &'static str,
        logs: &std::path::Path,
        env: Vec<(&str, String)>,
        base: Option<String>,
    ) -> Self {
        Self {
            name,
            log: logs.join(format!("{name}.log")),
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            child: tokio::sync::Mutex::new(None),
            base,
        }
    }

    /// Starts it (again) and, when it serves HTTP, waits until `/readyz` answers 200.
    pub async fn start(&self) {
        // Each run appends to the service's log: a restart's lines follow the killed one's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = tokio::process::Command::new(binary(self.name))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        *self.child.lock().await = Some(child);
        if let Some(base) = &self.base {
            let client = reqwest::Client::new();
            let ready = format!("{base}/readyz");
            let name = self.name;
            eventually(
                &format!("{name} to be ready"),
                Duration::from_secs(30),
                || {
                    let request = client.get(&ready).send();
                    async move { request.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
                },
            )
            .await;
        }
    }

    /// SIGTERM, as Docker and Kubernetes stop a container, and the exit status once the
    /// process has finished (SIGKILL after `grace`, then `None`).
    pub async fn terminate(&self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().await.take()?;
        let pid = child.id()?;
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => Some(status.unwrap()),
            Err(_) => {
                child.start_kill().unwrap();
                child.wait().await.unwrap();
                None
            }
        }
    }

    /// Its process id while it runs.
    pub async fn pid(&self) -> Option<u32> {
        self.child.lock().await.as_ref().and_then(|c| c.id())
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown of any kind.
    pub async fn kill(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }
}
