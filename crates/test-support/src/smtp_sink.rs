//! A small SMTP server that accepts mail into memory, with scriptable failures: reject a
//! recipient with a 5xx, or answer the next DATA commands with given replies (e.g. a 451).
//! It speaks enough of RFC 5321 for lettre and real MTAs: EHLO/HELO, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// `MAIL FROM` address.
    pub mail_from: String,
    /// `RCPT TO` addresses.
    pub rcpt_to: Vec<String>,
    /// The message as transmitted (CRLF line ends, dot-unstuffed).
    pub data: Vec<u8>,
    /// When the sink accepted it (benchmarks measure post → mail with it).
    pub received_at: std::time::Instant,
}

impl ReceivedMail {
    /// The message as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    /// The message with quoted-printable soft line breaks and `=XX` escapes undone, so
    /// tests can search the bodies for what a reader would see.
    pub fn decoded_text(&self) -> String {
        let raw = self.data.as_slice();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'=' {
                if raw[i + 1..].starts_with(b"\r\n") {
                    i += 3;
                    continue;
                }
                let hex = |b: u8| (b as char).to_digit(16);
                if let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The first header with this name (unfolded), case-insensitive.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                return value;
            }
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value
    }
}

#[derive(Default)]
struct Script {
    rejected_recipients: HashMap<String, String>,
    data_replies: VecDeque<String>,
    data_delay: std::time::Duration,
}

#[derive(Default)]
struct Shared {
    received: Vec<ReceivedMail>,
    script: Script,
    data_commands: usize,
}

/// A running sink; stops when dropped.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SmtpSink {
    /// Listens on a free port of 127.0.0.1.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, accepting.clone()));
            }
        });
        Ok(Self { addr, shared, task })
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer `RCPT TO:<address>` with `reply` (e.g. `550 5.1.1 user unknown`).
    pub fn reject_recipient(&self, address: &str, reply: &str) {
        lock(&self.shared)
            .script
            .rejected_recipients
            .insert(address.to_ascii_lowercase(), reply.to_owned());
    }

    /// Answer the next end-of-DATA with `reply` instead of accepting (e.g. `451 4.3.0 busy`).
    pub fn fail_next_data(&self, reply: &str) {
        lock(&self.shared)
            .script
            .data_replies
            .push_back(reply.to_owned());
    }

    /// Waits this long before answering each end-of-DATA: a slow relay, so that a sender
    /// falls behind (backlogs) or has mails in flight when it is killed.
    pub fn slow_down(&self, delay: std::time::Duration) {
        lock(&self.shared).script.data_delay = delay;
    }

    /// Everything accepted so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        lock(&self.shared).received.clone()
    }

    /// How many messages were accepted.
    pub fn count(&self) -> usize {
        lock(&self.shared).received.len()
    }

    /// How many DATA transfers were attempted (accepted or not).
    pub fn data_commands(&self) -> usize {
        lock(&self.shared).data_commands
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        lock(&self.shared).received.clear();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn address_of(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].trim().to_ascii_lowercase()
}

async fn serve(stream: TcpStream, shared: Arc<Mutex<Shared>>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if write.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    let mut from = String::new();
    let mut rcpt: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SMTPUTF8".into()
        } else if upper.starts_with("HELO") {
            "250 sink".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address_of(&command[10..]);
            rcpt.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            let to = address_of(&command[8..]);
            let rejected = lock(&shared).script.rejected_recipients.get(&to).cloned();
            match rejected {
                Some(reply) => reply,
                None => {
                    rcpt.push(to);
                    "250 2.1.5 OK".into()
                }
            }
        } else if upper == "DATA" {
            if rcpt.is_empty() {
                "554 5.5.1 no valid recipients".into()
            } else {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut l = Vec::new();
                    match reader.read_until(b'\n', &mut l).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if l == b".\r\n" || l == b".\n" {
                        break;
                    }
                    if l.starts_with(b"..") {
                        l.remove(0);
                    }
                    data.extend_from_slice(&l);
                }
                let delay = lock(&shared).script.data_delay;
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let mut state = lock(&shared);
                state.data_commands += 1;
                match state.script.data_replies.pop_front() {
                    Some(reply) => reply,
                    None => {
                        state.received.push(ReceivedMail {
                            mail_from: from.clone(),
                            rcpt_to: std::mem::take(&mut rcpt),
                            data,
                            received_at: std::time::Instant::now(),
                        });
                        "250 2.0.0 queued".into()
                    }
                }
            }
        } else if upper.starts_with("RSET") {
            rcpt.clear();
            "250 2.0.0 OK".into()
        } else if upper.starts_with("NOOP") {
            "250 2.0.0 OK".into()
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else {
            "502 5.5.2 command not recognised".into()
        };
        if write
            .write_all(format!("{reply}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
