//! A private Postfix instance for the inbound-mail end-to-end tests: a real MTA in front of
//! `inbound-mail deliver`, so the tests see what an operator's Postfix does with each exit
//! code (0 delivered, 67 and 65 bounced, 75 deferred and retried) instead of trusting our
//! reading of pipe(8). Each [`Postfix`] has its own configuration, queue and data
//! directories in a temporary directory and its own port on 127.0.0.1, so tests can run
//! side by side, and none of them touches the system's Postfix (which need not be
//! configured, let alone running).
//!
//! The recipe (deploy/postfix/README.md is the operator's version of the same settings):
//! - `postfix -c DIR start` works as root without systemd or syslog. `maillog_file` (with
//!   `maillog_file_prefixes` allowing its path, and the `postlog` service in master.cf)
//!   replaces syslog. The queue directory must exist; Postfix creates its subdirectories
//!   and the data directory with their owners (`postfix`, group `postdrop`) on the first
//!   start, which takes about two seconds. Pre-creating the data directory as root breaks
//!   the start (`open lock file …/master.lock: Permission denied`).
//! - Every service in master.cf runs without chroot: a jail would lack the pipe program.
//! - pipe(8) refuses to run programs as root: it runs them as [`PIPE_USER`], with only
//!   `PATH=/usr/bin:/bin`, `LANG` and `MAIL_CONFIG` in the environment, so the program
//!   must be an absolute path and everything it reads must be readable by that user.
//! - `conversations_destination_recipient_limit = 1`: one pipe run per recipient (without
//!   it `${recipient}` expands to all recipients of a mail as separate arguments).
//! - Deferred mail is never retried on its own here (retry timers of an hour): the test
//!   decides when, with [`Postfix::flush`]. New mail reaches the pipe about 50 ms after
//!   the SMTP server accepted it; a flushed mail about 30 ms after `postqueue -f`.
//! - Mail to any other domain is refused (relay access denied); notices Postfix sends
//!   (bounces to the sender of a refused mail) go to the `discard` transport, unless the
//!   sender is in the reply domain, where they are piped like any other mail.
//!
//! Starting an instance needs root (the `postfix` command is reserved for the
//! superuser); [`available`] says whether this machine can, so tests skip elsewhere.
//! Everything here blocks; it only ever waits on Postfix, never on the services.

use std::io::Write;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod smtp;

use smtp::{Session, data_payload};

/// The name of the pipe transport in master.cf and `transport_maps`, as in
/// deploy/postfix; its deliveries are logged with `relay=conversations`.
pub const TRANSPORT: &str = "conversations";

/// The user pipe(8) runs the program as (it refuses root). The program must be executable
/// by this user, and every file its arguments name (a secret file, say) readable by it.
pub const PIPE_USER: &str = "nobody";

/// `message_size_limit` of every instance: inbound-mail's default `INBOUND_MAX_BYTES`, as
/// deploy/postfix/main.cf.snippet sets it. Postfix counts its queue file (the message,
/// its `Received:` header and the envelope), so a message a little smaller than this is
/// already refused (552).
pub const MESSAGE_SIZE_LIMIT: usize = 25 * 1024 * 1024;

/// How long starting may take, SMTP port included (the first start creates the queue).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one SMTP reply may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Why this machine cannot run a private Postfix, or `None` when it can: the tests print
/// it when they skip.
pub fn unavailable_reason() -> Option<String> {
    for command in ["postfix", "postqueue"] {
        if command_path(command).is_none() {
            return Some(format!(
                "no `{command}` command: install Postfix (scripts/test does: apt-get install postfix)"
            ));
        }
    }
    if !running_as_root() {
        return Some("starting a Postfix instance needs root".to_owned());
    }
    None
}

/// Whether this machine can run a private Postfix (the commands are installed and this
/// process is root): the Postfix tests skip themselves when it cannot.
pub fn available() -> bool {
    unavailable_reason().is_none()
}

/// A running private Postfix instance: its SMTP server on 127.0.0.1 accepts mail for the
/// reply domain and pipes each mail, once per recipient, into the command given to
/// [`Postfix::start`]. Stopped, and its directory removed, when dropped (the directory is
/// kept when the test is panicking, and its path printed, for the mail log).
pub struct Postfix {
    dir: PathBuf,
    config: PathBuf,
    port: u16,
    postfix: PathBuf,
    postqueue: PathBuf,
}

impl Postfix {
    /// Starts an instance that routes `reply_domain` to a pipe transport running
    /// `pipe_argv` as [`PIPE_USER`], and returns once its SMTP server answers.
    ///
    /// `pipe_argv[0]` must be an absolute path; the arguments may use pipe(8)'s macros,
    /// which Postfix expands per delivery, e.g. `["/…/inbound-mail", "deliver", "--url",
    /// url, "--recipient", "${recipient}"]`. No argument may contain whitespace (master.cf
    /// splits on it). On failure the error includes the mail log.
    pub fn start(pipe_argv: &[String], reply_domain: &str) -> Result<Postfix, String> {
        if let Some(reason) = unavailable_reason() {
            return Err(reason);
        }
        check_pipe_argv(pipe_argv)?;
        if reply_domain.is_empty()
            || !reply_domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("not a plain domain name: {reply_domain:?}"));
        }
        let postfix = command_path("postfix").ok_or("no postfix command")?;
        let postqueue = command_path("postqueue").ok_or("no postqueue command")?;

        let dir = std::env::temp_dir().join(format!(
            "conversations-postfix-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let text = dir.to_string_lossy();
        if text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '$' | '{' | '}' | '"'))
        {
            return Err(format!(
                "the temporary directory {} holds a character main.cf cannot take; set TMPDIR",
                dir.display()
            ));
        }
        let config = dir.join("etc");
        let spool = dir.join("spool");
        for path in [&dir, &config, &spool] {
            std::fs::create_dir_all(path)
                .and_then(|()| {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
                })
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        }
        // From here on, dropping the instance stops whatever started and removes `dir`.
        let mut instance = Postfix {
            dir,
            config,
            port: 0,
            postfix,
            postqueue,
        };
        // Postfix's daemons run as user postfix and chdir into the queue directory.
        check_reachable(&instance.dir, "Postfix's daemons (user postfix)")?;

        // The free port is released before Postfix binds it: another test may take it
        // in between, then Postfix fails with "Address already in use" and we retry.
        let mut failure = String::new();
        for _ in 0..3 {
            instance.port = free_port()?;
            instance.write_config(pipe_argv, reply_domain)?;
            let _ = std::fs::remove_file(instance.dir.join("maillog"));
            match instance.run_postfix("start") {
                Ok(()) => {
                    instance.wait_for_smtp()?;
                    return Ok(instance);
                }
                Err(e) => {
                    let log = instance.log();
                    failure = format!("{e}\n--- mail log ---\n{log}");
                    if !log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        Err(format!(
            "cannot start a Postfix instance in {}: {failure}",
            instance.dir.display()
        ))
    }

    /// The port its SMTP server listens on, on 127.0.0.1: where a test (or any SMTP
    /// client) sends the mail that an operator's MX would receive.
    pub fn smtp_port(&self) -> u16 {
        self.port
    }

    /// Sends one mail over SMTP, as a remote mail server would: `from` and `to` are the
    /// envelope (`from` may be empty, the null sender of bounces); `raw` the message, with
    /// CRLF or bare LF line ends (sent as CRLF, dot-stuffed). `Ok` once Postfix has queued
    /// it (delivery to the pipe follows on its own); otherwise the refusal, with Postfix's
    /// reply code first (e.g. `RCPT TO:<…>: 554 5.7.1 …`, `MAIL FROM:<…> SIZE=…: 552 …`).
    pub fn send(&self, from: &str, to: &str, raw: &[u8]) -> Result<(), String> {
        for (what, address) in [("sender", from), ("recipient", to)] {
            if address
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>'))
            {
                return Err(format!("not a plain address ({what}): {address:?}"));
            }
        }
        if to.is_empty() {
            return Err("no recipient".to_owned());
        }
        let data = data_payload(raw);
        let mut session = Session::connect(self.port)?;
        session.expect("the greeting", &[220])?;
        session.command("EHLO client.example", &[250])?;
        session.command(&format!("MAIL FROM:<{from}> SIZE={}", data.len()), &[250])?;
        session.command(&format!("RCPT TO:<{to}>"), &[250, 251])?;
        session.command("DATA", &[354])?;
        session
            .writer
            .write_all(&data)
            .and_then(|()| session.writer.flush())
            .map_err(|e| format!("sending the message: {e}"))?;
        session.expect("end of DATA", &[250])?;
        let _ = session.command("QUIT", &[221]);
        Ok(())
    }

    /// Retries every queued mail now (`postqueue -f`), the way an operator does once
    /// inbound-mail is back: deferred mail is otherwise never retried by these instances.
    /// Returns at once; the deliveries follow within milliseconds, so wait for their
    /// effect. Panics when postqueue fails (the instance is not running).
    pub fn flush(&self) {
        if let Err(e) = self.run_postqueue("-f") {
            panic!("{e}\n--- mail log ---\n{}", self.log());
        }
    }

    /// How many mails are in the queue (incoming, active, deferred or on hold): 0 once
    /// everything was delivered or bounced. Panics when postqueue fails, rather than
    /// report an empty queue it did not see.
    pub fn queued(&self) -> usize {
        match self.queue() {
            Ok(mails) => mails.len(),
            Err(e) => panic!("{e}"),
        }
    }

    /// How many mails wait in the deferred queue: those the pipe answered 75 (or 71), to
    /// be retried by [`Postfix::flush`]. Panics when postqueue fails.
    pub fn deferred(&self) -> usize {
        match self.queue() {
            Ok(mails) => mails
                .iter()
                .filter(|mail| mail.get("queue_name").and_then(|q| q.as_str()) == Some("deferred"))
                .count(),
            Err(e) => panic!("{e}"),
        }
    }

    /// The queued mails, one JSON object each as `postqueue -j` prints them
    /// (`queue_name`, `queue_id`, `sender`, `recipients[].address`, `.delay_reason` — the
    /// pipe's stderr for a deferred mail): for assertions and failure messages.
    pub fn queue(&self) -> Result<Vec<serde_json::Value>, String> {
        let out = self.run_postqueue("-j")?;
        out.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .map_err(|e| format!("postqueue -j printed {line:?}: {e}"))
            })
            .collect()
    }

    /// How many pipe runs ended with `status` (`sent`, `bounced` or `deferred`), from the
    /// mail log: what Postfix made of the pipe's exit codes (0; 65, 67 and every other
    /// code but 71 and 75; 71 and 75). Counts every attempt, so a mail deferred twice
    /// and then delivered counts 2 `deferred` and 1 `sent`.
    pub fn pipe_results(&self, status: &str) -> usize {
        let relay = format!("relay={TRANSPORT},");
        let status = format!("status={status} ");
        self.log()
            .lines()
            .filter(|line| line.contains(&relay) && line.contains(&status))
            .count()
    }

    /// The instance's mail log (every daemon's lines, with the pipe's stderr in the
    /// delivery lines): for failure messages and assertions.
    pub fn log(&self) -> String {
        let path = self.dir.join("maillog");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| format!("(no mail log at {}: {e})", path.display()))
    }

    /// Writes main.cf and master.cf for the current port.
    fn write_config(&self, pipe_argv: &[String], reply_domain: &str) -> Result<(), String> {
        let dir = self.dir.display();
        let port = self.port;
        let main_cf = format!(
            "# A private Postfix instance for one test (tests/e2e/src/postfix.rs).
compatibility_level = 3.6
config_directory = {dir}/etc
queue_directory = {dir}/spool
data_directory = {dir}/data
# No syslog: Postfix logs to this file (through the postlog service of master.cf).
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = postfix-test.localhost
mydomain = localhost
mydestination =
mynetworks = 127.0.0.0/8
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
smtpd_relay_restrictions = reject_unauth_destination
# Everything but the reply domain (bounce notices to senders) is thrown away.
default_transport = discard
# The reply domain, as deploy/postfix/main.cf.snippet routes it.
relay_domains = {reply_domain}
transport_maps = inline:{{ {reply_domain}={TRANSPORT}: }}
{TRANSPORT}_destination_recipient_limit = 1
message_size_limit = {MESSAGE_SIZE_LIMIT}
# New mail goes to the pipe at once; deferred mail waits for postqueue -f.
in_flow_delay = 0
queue_run_delay = 1h
minimal_backoff_time = 1h
maximal_backoff_time = 1h
"
        );
        let argv = pipe_argv.join(" ");
        let master_cf = format!(
            "# A private Postfix instance for one test (tests/e2e/src/postfix.rs). No chroot.
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
smtp      unix  -       -       n       -       -       smtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
{TRANSPORT} unix - n n - - pipe
  flags=Rq user={PIPE_USER} argv={argv}
"
        );
        for (name, text) in [("main.cf", main_cf), ("master.cf", master_cf)] {
            let path = self.config.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// `postfix -c DIR <action>`.
    fn run_postfix(&self, action: &str) -> Result<(), String> {
        let out = Command::new(&self.postfix)
            .arg("-c")
            .arg(&self.config)
            .arg(action)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.postfix.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            // Postfix logs to the mail log; stderr only says something on a terminal.
            Err(format!(
                "postfix {action}: {}{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `postqueue -c DIR <flag>`; its standard output.
    fn run_postqueue(&self, flag: &str) -> Result<String, String> {
        let out = Command::new(&self.postqueue)
            .arg("-c")
            .arg(&self.config)
            .arg(flag)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.postqueue.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "postqueue {flag}: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Waits until the SMTP server greets.
    fn wait_for_smtp(&self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            let attempt =
                Session::connect(self.port).and_then(|mut session| -> Result<(), String> {
                    session.expect("the greeting", &[220])?;
                    let _ = session.command("QUIT", &[221]);
                    Ok(())
                });
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if started.elapsed() > START_TIMEOUT => {
                    return Err(format!(
                        "Postfix's SMTP server on 127.0.0.1:{} did not answer: {e}\n\
                         --- mail log ---\n{}",
                        self.port,
                        self.log()
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Postfix {
    /// Stops the instance (`postfix stop`, which waits for the master to exit; `abort`
    /// when that fails) so no Postfix outlives its test, and removes its directory.
    fn drop(&mut self) {
        if self.run_postfix("stop").is_err() {
            let _ = self.run_postfix("abort");
        }
        if std::thread::panicking() {
            eprintln!(
                "postfix instance kept for inspection: {} (mail log: {}/maillog)",
                self.dir.display(),
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Refuses a command master.cf cannot hold or pipe(8) cannot run.
fn check_pipe_argv(pipe_argv: &[String]) -> Result<(), String> {
    let Some(program) = pipe_argv.first() else {
        return Err("the pipe command is empty".to_owned());
    };
    let program = Path::new(program);
    if !program.is_absolute() {
        return Err(format!(
            "the pipe program must be an absolute path (pipe(8) runs it with PATH=/usr/bin:/bin): {}",
            program.display()
        ));
    }
    if let Some(bad) = pipe_argv
        .iter()
        .find(|arg| arg.is_empty() || arg.chars().any(char::is_whitespace))
    {
        return Err(format!(
            "a pipe argument cannot be empty or contain whitespace (master.cf splits on it): {bad:?}"
        ));
    }
    let mode = std::fs::metadata(program)
        .map_err(|e| format!("the pipe program {}: {e}", program.display()))?
        .permissions()
        .mode();
    if mode & 0o001 == 0 {
        return Err(format!(
            "the pipe program {} is not executable by others ({PIPE_USER} runs it): mode {:o}",
            program.display(),
            mode & 0o7777
        ));
    }
    if let Some(parent) = program.parent() {
        check_reachable(parent, PIPE_USER)?;
    }
    Ok(())
}

/// Fails when a directory on the way to `dir` is not searchable by others: `who`, which
/// runs as another user than the test, could not get there.
fn check_reachable(dir: &Path, who: &str) -> Result<(), String> {
    for ancestor in dir.ancestors() {
        let Ok(metadata) = std::fs::metadata(ancestor) else {
            continue;
        };
        if metadata.permissions().mode() & 0o001 == 0 {
            return Err(format!(
                "{who} cannot reach {}: {} is not searchable by others (chmod o+x it, or set TMPDIR)",
                dir.display(),
                ancestor.display()
            ));
        }
    }
    Ok(())
}

/// A port nothing listens on right now (outside the ephemeral range).
fn free_port() -> Result<u16, String> {
    match conversations_test_support::free_port() {
        0 => Err("no free port".into()),
        port => Ok(port),
    }
}

/// Where a Postfix command is: /usr/sbin is not on every user's PATH.
fn command_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (`id -u`: std has no geteuid).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

#[cfg(test)]
mod tests;
