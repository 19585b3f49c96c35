//! A real SMTP server for tests, on 127.0.0.1: the `mailin` crate runs the
//! protocol's state machine, and a Tokio loop of ours owns the sockets, so a
//! test can refuse an address, fail for a while, stop the server (every
//! connection closed, the port refusing) and start it again on the same
//! port. Mail is kept in memory in arrival order. Started with a TLS
//! acceptor, it offers STARTTLS, as a force's relay does.

use mailin::{Action, Handler, Response, Session, SessionBuilder};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`), in the order given.
    pub to: Vec<String>,
    /// The message as sent after `DATA`, dot-stuffing undone.
    pub data: Vec<u8>,
    /// When the server accepted it (the end of `DATA`, just before its
    /// 250): what a delivery latency is measured to
    /// (`examples/escalation_bench.rs`).
    pub accepted_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct State {
    messages: Vec<ReceivedMail>,
    rejected: Vec<String>,
    fail_temporarily: bool,
    connections: usize,
    hello_names: Vec<String>,
    tls_upgrades: usize,
}

/// The test's handle on the server.
pub struct TestSmtp {
    port: u16,
    state: Arc<Mutex<State>>,
    running: Option<Running>,
    tls: Option<TlsAcceptor>,
}

struct Running {
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl TestSmtp {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts a server that offers STARTTLS with `tls`'s certificate.
    pub async fn start_with_tls(tls: TlsAcceptor) -> Self {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> Self {
        let listener = listen(0).await;
        let port = listener.local_addr().expect("local address").port();
        let mut smtp = Self {
            port,
            state: Arc::default(),
            running: None,
            tls,
        };
        smtp.serve(listener);
        smtp
    }

    /// The names clients announced in EHLO (or HELO), in order.
    pub fn hello_names(&self) -> Vec<String> {
        self.state.lock().unwrap().hello_names.clone()
    }

    /// How many sessions were upgraded to TLS by STARTTLS.
    pub fn tls_upgrades(&self) -> usize {
        self.state.lock().unwrap().tls_upgrades
    }

    /// The port it listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.state.lock().unwrap().messages.clone()
    }

    /// How many connections clients have opened, to see a pool at work.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Answers `RCPT TO:<address>` with 550 (mailbox unavailable) from now on.
    pub fn reject(&self, address: &str) {
        self.state
            .lock()
            .unwrap()
            .rejected
            .push(address.to_ascii_lowercase());
    }

    /// While set, answers MAIL, RCPT and DATA with 451 (try again later).
    pub fn fail_temporarily(&self, fail: bool) {
        self.state.lock().unwrap().fail_temporarily = fail;
    }

    /// Closes the listener and every open connection, and returns once they
    /// are closed: from then on the port refuses connections.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            running
                .server
                .await
                .expect("the SMTP server task ended cleanly");
        }
    }

    /// Listens again on the same port, keeping the messages received.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = listen(self.port).await;
        self.serve(listener);
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = watch::channel(false);
        let state = Arc::clone(&self.state);
        let tls = self.tls.clone();
        let server = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, peer)) = accepted else { continue };
                        state.lock().unwrap().connections += 1;
                        connections.spawn(converse(stream, peer, Arc::clone(&state), tls.clone()));
                    }
                    // Reap finished conversations so the set does not grow.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            drop(listener);
            // Aborts every conversation and waits until each socket is dropped.
            connections.shutdown().await;
        });
        self.running = Some(Running { stop, server });
    }
}

/// Binds 127.0.0.1:`port`. SO_REUSEADDR lets a restart take the port back
/// while the connections the stop closed linger in TIME_WAIT.
async fn listen(port: u16) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], port)))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:{port}: {e}"));
    socket.listen(64).expect("listen")
}

/// One client's session: lines in, mailin's responses out; after
/// STARTTLS, the same session over TLS.
async fn converse(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<Mutex<State>>,
    tls: Option<TlsAcceptor>,
) {
    let handler = Recorder {
        state: Arc::clone(&state),
        from: String::new(),
        to: Vec::new(),
        data: Vec::new(),
    };
    let mut builder = SessionBuilder::new("test-smtp.localhost");
    if tls.is_some() {
        builder.enable_start_tls();
    }
    let mut session = builder.build(peer.ip(), handler);
    let mut clear = BufReader::new(stream);
    if write(&mut clear, &session.greeting()).await.is_err() {
        return;
    }
    if talk(&mut clear, &mut session).await == Ended::Closed {
        return;
    }
    let Some(acceptor) = tls else { return };
    let Ok(encrypted) = acceptor.accept(clear.into_inner()).await else {
        return;
    };
    state.lock().unwrap().tls_upgrades += 1;
    session.tls_active();
    talk(&mut BufReader::new(encrypted), &mut session).await;
}

/// How a stretch of conversation ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The connection is over.
    Closed,
    /// The client asked for TLS and was told to go ahead.
    UpgradeTls,
}

/// Answers lines until the client leaves or asks for TLS.
async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    session: &mut Session<Recorder>,
) -> Ended {
    let mut line = Vec::new();
    loop {
        line.clear();
        match stream.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return Ended::Closed,
            Ok(_) => {}
        }
        let response = session.process(&line);
        match response.action {
            Action::NoReply => {}
            Action::Reply => {
                if write(stream, &response).await.is_err() {
                    return Ended::Closed;
                }
            }
            Action::UpgradeTls => {
                return match write(stream, &response).await {
                    Ok(()) => Ended::UpgradeTls,
                    Err(_) => Ended::Closed,
                };
            }
            Action::Close => {
                let _ = write(stream, &response).await;
                return Ended::Closed;
            }
        }
    }
}

async fn write<S: AsyncWrite + Unpin>(stream: &mut S, response: &Response) -> std::io::Result<()> {
    stream.write_all(&response.buffer()?).await?;
    stream.flush().await
}

/// The mailin handler: answers as the test asked, and keeps each message.
struct Recorder {
    state: Arc<Mutex<State>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

fn try_again_later() -> Response {
    Response::custom(451, "Temporary failure, try again later".into())
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, domain: &str) -> Response {
        self.state
            .lock()
            .unwrap()
            .hello_names
            .push(domain.to_string());
        mailin::response::OK
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        if self.state.lock().unwrap().fail_temporarily {
            return try_again_later();
        }
        self.from = from.to_string();
        mailin::response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let state = self.state.lock().unwrap();
        if state.fail_temporarily {
            return try_again_later();
        }
        if state.rejected.contains(&to.to_ascii_lowercase()) {
            return mailin::response::NO_MAILBOX;
        }
        mailin::response::OK
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        if self.state.lock().unwrap().fail_temporarily {
            return try_again_later();
        }
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut state = self.state.lock().unwrap();
        if state.fail_temporarily {
            return try_again_later();
        }
        // Kept before the 250 goes out, so a client that has its answer can
        // read the message at once.
        state.messages.push(ReceivedMail {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
            accepted_at: chrono::Utc::now(),
        });
        mailin::response::OK
    }
}

/// The parts of a received message the tests look at.
#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// The Subject header, decoded.
    pub subject: String,
    /// The text/plain part, decoded.
    pub text: String,
    /// The text/html part, decoded.
    pub html: String,
    /// The addresses in the To header.
    pub to: Vec<String>,
    /// The attached files.
    pub attachments: Vec<ParsedAttachment>,
    /// The Auto-Submitted header's value, trimmed, if present.
    pub auto_submitted: Option<String>,
}

/// A file attached to a parsed message.
#[derive(Debug, Clone)]
pub struct ParsedAttachment {
    /// Its file name.
    pub filename: String,
    /// Its media type, `type/subtype`.
    pub content_type: String,
    /// Its content, decoded, for a text file (empty for a binary one).
    pub body: String,
    /// Its content's bytes, decoded (a gzip-compressed CSV's too).
    pub bytes: Vec<u8>,
}

/// Parses a raw message with `mail-parser`; panics, naming what is missing,
/// unless it has a subject and both a real text/plain and a real text/html
/// part (mail-parser would otherwise convert one into the other).
pub fn parse_mail(raw: &[u8]) -> ParsedMail {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    let message = MessageParser::default()
        .parse(raw)
        .expect("the message parses");
    let mut text = None;
    let mut html = None;
    let mut attachments = Vec::new();
    for (id, part) in message.parts.iter().enumerate() {
        if message.attachments.contains(&(id as u32)) {
            let content_type = part.content_type().expect("an attachment's type");
            attachments.push(ParsedAttachment {
                filename: part.attachment_name().expect("a file name").to_string(),
                content_type: format!(
                    "{}/{}",
                    content_type.ctype(),
                    content_type.subtype().unwrap_or_default()
                ),
                body: if content_type.ctype() == "text" {
                    String::from_utf8(part.contents().to_vec()).expect("a text file")
                } else {
                    String::new()
                },
                bytes: part.contents().to_vec(),
            });
            continue;
        }
        match &part.body {
            PartType::Text(body) if text.is_none() => text = Some(body.to_string()),
            PartType::Html(body) if html.is_none() => html = Some(body.to_string()),
            _ => {}
        }
    }
    let to = message
        .to()
        .map(|to| {
            to.iter()
                .filter_map(|addr| addr.address().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ParsedMail {
        subject: message.subject().expect("a Subject header").to_string(),
        text: text.expect("a text/plain part"),
        html: html.expect("a text/html part"),
        to,
        attachments,
        auto_submitted: message
            .header_raw("Auto-Submitted")
            .map(|value| value.trim().to_string()),
    }
}

/// Every fixed width in an HTML part, in pixels: `width="N"` attributes
/// and `width:Npx` / `min-width:Npx` in styles (percentages are not fixed).
pub fn fixed_widths(html: &str) -> Vec<u64> {
    let mut widths = Vec::new();
    for (marker, unit) in [("width=\"", "\""), ("width:", "px")] {
        for piece in html.split(marker).skip(1) {
            let digits: String = piece.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u64>() {
                if piece[digits.len()..].starts_with(unit) {
                    widths.push(n);
                }
            }
        }
    }
    widths
}
