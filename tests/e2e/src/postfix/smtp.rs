//! The few SMTP commands the harness speaks to its Postfix, over a plain TCP stream.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};

use super::SMTP_TIMEOUT;

/// One SMTP session (the few commands [`Postfix::send`] needs).
pub(super) struct Session {
    pub(super) reader: BufReader<TcpStream>,
    pub(super) writer: TcpStream,
}

impl Session {
    pub(super) fn connect(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
        stream
            .set_read_timeout(Some(SMTP_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(SMTP_TIMEOUT)))
            .map_err(|e| format!("socket timeouts: {e}"))?;
        let reader = stream
            .try_clone()
            .map_err(|e| format!("socket clone: {e}"))?;
        Ok(Self {
            reader: BufReader::new(reader),
            writer: stream,
        })
    }

    /// Reads one reply, all its lines: its code and its text.
    fn reply(&mut self) -> Result<(u16, String), String> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("reading the reply: {e}"))?;
            if read == 0 {
                return Err(format!(
                    "the server closed the connection {}",
                    text.trim_end()
                ));
            }
            let line = line.trim_end_matches(['\r', '\n']);
            text.push_str(line);
            text.push('\n');
            let code = line
                .get(..3)
                .and_then(|code| code.parse::<u16>().ok())
                .ok_or_else(|| format!("not an SMTP reply: {line:?}"))?;
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text.trim_end().to_owned()));
            }
        }
    }

    /// Reads a reply and fails unless its code is one of `codes`.
    pub(super) fn expect(&mut self, what: &str, codes: &[u16]) -> Result<(), String> {
        let (code, text) = self.reply()?;
        if codes.contains(&code) {
            Ok(())
        } else {
            Err(format!("{what}: {text}"))
        }
    }

    /// Sends a command line and expects one of `codes`.
    pub(super) fn command(&mut self, line: &str, codes: &[u16]) -> Result<(), String> {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| format!("{line}: {e}"))?;
        self.expect(line, codes)
    }
}

/// The DATA section for `raw`: CRLF line ends (bare LF converted), a dot doubled at the
/// start of a line, a final CRLF if missing, and the terminating `.` line.
pub(super) fn data_payload(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 5);
    let mut line_start = true;
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        if byte == b'\n' || (byte == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
            out.extend_from_slice(b"\r\n");
            line_start = true;
            i += if byte == b'\r' { 2 } else { 1 };
            continue;
        }
        out.push(byte);
        line_start = false;
        i += 1;
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
