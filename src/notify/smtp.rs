//! Our own small pool of SMTP connections, built on lettre's connection
//! type, so that each socket has `TCP_NODELAY` set.
//!
//! Why not lettre's pooled transport: lettre 0.11.23 (its newest release)
//! leaves Nagle's algorithm on and writes a message's body and its closing
//! `.` separately; the kernel holds the small closing write until the
//! server acknowledges the body, which a Linux server delays by 40 ms
//! (Windows up to 200 ms). Every message then costs about 45 ms on the
//! wire, whatever the network, and a burst of escalations queues behind
//! that. lettre has merged the fix (lettre/lettre#1159) but not released
//! it, and its pool offers no way to set the option. Here the service opens
//! the TCP connection itself, sets `TCP_NODELAY`, and hands the socket to
//! lettre's `AsyncSmtpConnection` for the protocol (EHLO, STARTTLS, AUTH,
//! the envelope, dot-stuffing).
//!
//! Implicit TLS (`tls = "implicit"`, port 465) cannot be handed a socket
//! through lettre's public API, so those connections are opened by lettre
//! (without `TCP_NODELAY`).

use super::config::{SmtpConfig, SmtpTls};
use crate::outbox::DeliveryError;
use anyhow::Context;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use secrecy::ExposeSecret;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

/// Idle connections kept open for the next sends (the dispatcher sends at
/// most [`crate::outbox::CONCURRENT_SENDS`] at once).
const MAX_IDLE: usize = 8;

/// A connection idle longer than this is checked with `NOOP` before use:
/// the server may have closed it meanwhile.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(5);

/// Opens, reuses and closes connections to one SMTP relay.
pub(crate) struct SmtpPool {
    host: String,
    port: u16,
    tls: SmtpTls,
    tls_parameters: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    /// A pool for `[mail.smtp]`. Opens nothing until the first send.
    pub(crate) fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let tls_parameters = match config.tls {
            SmtpTls::None => None,
            SmtpTls::StartTls | SmtpTls::Implicit => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(path) = &config.ca_file {
                    let authorities = config
                        .trusted_authorities(path)
                        .map_err(|reason| anyhow::anyhow!("mail.smtp.ca_file: {reason}"))?;
                    builder = builder.add_root_certificate(authorities);
                }
                Some(
                    builder
                        .build()
                        .context("cannot set up TLS for mail.smtp.host")?,
                )
            }
        };
        let credentials = match (&config.username, &config.password) {
            (Some(user), Some(password)) => Some(Credentials::new(
                user.clone(),
                password.expose_secret().to_string(),
            )),
            _ => None,
        };
        Ok(Self {
            host: config.host.clone(),
            port: config.port,
            tls: config.tls,
            tls_parameters,
            credentials,
            hello: hello_name(config.hello_name.as_deref()),
            timeout: Duration::from_secs(config.timeout_seconds),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `message` once over a pooled connection (or a new one). A
    /// connection that failed in any way is closed, never reused.
    pub(crate) async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let mut connection = self.checkout().await?;
        let sent = tokio::time::timeout(
            self.timeout,
            connection.send(message.envelope(), &message.formatted()),
        )
        .await;
        match sent {
            Ok(Ok(_)) => {
                self.give_back(connection).await;
                Ok(())
            }
            Ok(Err(error)) => {
                connection.abort().await;
                Err(classify(error))
            }
            Err(_) => {
                connection.abort().await;
                Err(DeliveryError::Transient(format!(
                    "the mail server did not answer within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }

    /// An idle connection still usable, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        loop {
            let Some((mut connection, since)) = self.idle.lock().await.pop() else {
                break;
            };
            if connection.has_broken() {
                continue;
            }
            if since.elapsed() < CHECK_AFTER_IDLE || connection.test_connected().await {
                return Ok(connection);
            }
            connection.abort().await;
        }
        tokio::time::timeout(self.timeout, self.connect())
            .await
            .unwrap_or_else(|_| {
                Err(DeliveryError::Transient(format!(
                    "cannot connect to the mail server {}:{} within {} s",
                    self.host,
                    self.port,
                    self.timeout.as_secs()
                )))
            })
    }

    async fn give_back(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < MAX_IDLE {
            idle.push((connection, Instant::now()));
        } else {
            drop(idle);
            let mut connection = connection;
            let _ = connection.quit().await;
        }
    }

    /// Connects, says hello, upgrades to TLS as configured (never carrying
    /// on in clear text when TLS was asked for), and authenticates.
    async fn connect(&self) -> Result<AsyncSmtpConnection, DeliveryError> {
        let mut connection = match (self.tls, &self.tls_parameters) {
            (SmtpTls::Implicit, Some(parameters)) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(parameters.clone()),
                None,
            )
            .await
            .map_err(classify)?,
            _ => {
                let socket = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| {
                        DeliveryError::Transient(format!(
                            "cannot connect to the mail server {}:{}: {e}",
                            self.host, self.port
                        ))
                    })?;
                // The point of this module: see its documentation.
                socket.set_nodelay(true).map_err(|e| {
                    DeliveryError::Transient(format!("cannot set TCP_NODELAY: {e}"))
                })?;
                AsyncSmtpConnection::connect_with_transport(Box::new(socket), &self.hello)
                    .await
                    .map_err(classify)?
            }
        };
        if let (SmtpTls::StartTls, Some(parameters)) = (self.tls, &self.tls_parameters) {
            if !connection.can_starttls() {
                connection.abort().await;
                return Err(DeliveryError::Transient(
                    "the mail server does not offer STARTTLS, and mail.smtp.tls = \"starttls\" \
                     forbids sending in clear text"
                        .into(),
                ));
            }
            connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(classify)?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(classify)?;
        }
        Ok(connection)
    }
}

/// Sorts an SMTP failure by whether a retry can help: RFC 5321's 5xx
/// replies are final, everything else (4xx, network, timeout, TLS) may pass.
pub(crate) fn classify(error: lettre::transport::smtp::Error) -> DeliveryError {
    if error.is_permanent() {
        DeliveryError::Permanent(format!("the mail server refused the message: {error}"))
    } else {
        DeliveryError::Transient(format!("the mail server did not take the message: {error}"))
    }
}

/// The name to announce in `EHLO`: `configured` (`mail.smtp.hello_name`,
/// checked at load), else the machine's host name when it is a domain name,
/// else the address literal `[127.0.0.1]` that RFC 5321 allows a client
/// with no name.
fn hello_name(configured: Option<&str>) -> ClientId {
    let host = || {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_string())
            .filter(|name| super::config::is_domain_name(name))
    };
    configured
        .map(str::to_string)
        .or_else(host)
        .map(ClientId::Domain)
        .unwrap_or_default()
}
