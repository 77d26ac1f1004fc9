//! Email: the contacts directory, message rendering (minijinja templates, an `.ics` for the
//! deadline) and delivery, by SMTP (lettre) or to an outbox folder of `.eml` files.
//!
//! Addresses live only in the contacts directory, never in the log. A send is classified as
//! transient (no connection, 4xx, timeout: retry) or permanent (5xx).

mod render;

pub use render::{ics, render_reminder, RenderedMessage, Renderer};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

/// One person or role that can receive email.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// `config/contacts.toml`: officer ids and roles to names and addresses.
#[derive(Clone, Debug, Default)]
pub struct Contacts(pub BTreeMap<String, Contact>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactsFile {
    #[serde(default)]
    contact: Vec<Contact>,
}

impl Contacts {
    /// Loads the directory; a missing file is an empty directory.
    pub fn load(path: &Path) -> Result<Contacts, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contacts::default()),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let file: ContactsFile = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start].matches('\n').count() + 1)
                .unwrap_or(0);
            format!("{}: line {line}: {}", path.display(), e.message())
        })?;
        let mut out = BTreeMap::new();
        for c in file.contact {
            if c.email.parse::<lettre::Address>().is_err() {
                return Err(format!(
                    "{}: contact `{}`: `{}` is not an email address",
                    path.display(),
                    c.id,
                    c.email
                ));
            }
            if out.insert(c.id.clone(), c.clone()).is_some() {
                return Err(format!(
                    "{}: contact `{}` is listed twice",
                    path.display(),
                    c.id
                ));
            }
        }
        Ok(Contacts(out))
    }
}

/// A message ready to send: rendered content and its recipient.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub to: Contact,
    pub message_id: String,
    pub date: chrono::DateTime<chrono::Utc>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub ics: Option<String>,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub permanent: bool,
    /// No answer from the server at all (refused, unreachable, timed out): the next message
    /// would fail alike, so the tick stops trying until a retry is due.
    pub unreachable: bool,
    pub reason: String,
}

/// The sender's identity.
#[derive(Clone, Debug)]
pub struct Sender {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The domain of the Message-IDs of what is sent: `[smtp] message_id_domain`, else the
    /// sender's.
    pub message_id_domain: String,
}

/// The steps of sending one message that each get the configured timeout: connecting, the
/// greeting, EHLO, MAIL FROM, RCPT TO, DATA, and the answer to the message.
pub const SMTP_STEPS: u32 = 7;

/// Where email goes.
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
    },
    Outbox(PathBuf),
}

/// Says in plain words what is wrong with an SMTP URL, never quoting it (it may hold a
/// password).
fn check_smtp_url(url: &str) -> Result<(), String> {
    let shape = "write smtp://host:25, smtp://user:password@host:587?tls=required (STARTTLS) or smtps://user:password@host:465";
    let parsed = url::Url::parse(url).map_err(|e| {
        let what = match e {
            url::ParseError::RelativeUrlWithoutBase => "it has no scheme".to_string(),
            url::ParseError::InvalidPort => "its port is not a number from 1 to 65535".to_string(),
            url::ParseError::EmptyHost => "it names no host".to_string(),
            other => other.to_string(),
        };
        format!("the SMTP URL cannot be read: {what}; {shape}")
    })?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") {
        return Err(format!(
            "the SMTP URL's scheme is `{}`, not smtp or smtps; {shape}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("the SMTP URL names no host; {shape}"));
    }
    for (k, v) in parsed.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("tls", "required" | "opportunistic" | "none") | ("ehlo", _) => {}
            ("tls", other) => {
                return Err(format!(
                    "the SMTP URL's tls=`{other}` is not one of required, opportunistic, none"
                ))
            }
            (other, _) => {
                return Err(format!(
                    "the SMTP URL has an unknown setting `{other}` (it takes tls and ehlo)"
                ))
            }
        }
    }
    Ok(())
}

impl Mailer {
    /// An SMTP mailer for `smtp://`, `smtps://` (implicit TLS) or `smtp://…?tls=required`
    /// (STARTTLS) URLs, with credentials in the URL.
    ///
    /// `ca_file` adds a PEM root certificate to trust (an internal or self-signed CA).
    pub fn smtp(url: &str, timeout: Duration, ca_file: Option<&Path>) -> Result<Mailer, String> {
        // Errors never echo the URL: it may carry a password.
        check_smtp_url(url)?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("bad SMTP URL: {}", e.to_string().replace(url, "[url]")))?
            .timeout(Some(timeout));
        if let Some(ca) = ca_file {
            use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
            let parsed = url::Url::parse(url).map_err(|e| format!("bad SMTP URL: {e}"))?;
            let host = parsed
                .host_str()
                .ok_or("bad SMTP URL: no host")?
                .to_string();
            let pem =
                std::fs::read(ca).map_err(|e| format!("{}: cannot read: {e}", ca.display()))?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| format!("{}: not a PEM certificate: {e}", ca.display()))?;
            let params = TlsParameters::builder(host)
                .add_root_certificate(cert)
                .build()
                .map_err(|e| format!("TLS settings: {e}"))?;
            let tls_query = parsed
                .query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned());
            builder = match (parsed.scheme(), tls_query.as_deref()) {
                ("smtps", _) => builder.tls(Tls::Wrapper(params)),
                (_, Some("required")) => builder.tls(Tls::Required(params)),
                (_, Some("opportunistic")) => builder.tls(Tls::Opportunistic(params)),
                _ => builder,
            };
        }
        Ok(Mailer::Smtp {
            transport: builder.build(),
            timeout,
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { .. } => "SMTP".to_string(),
            Mailer::Outbox(dir) => format!("outbox {}", dir.display()),
        }
    }

    /// Sends one message. Never hangs: SMTP sends are bounded by the timeout.
    pub async fn send(&self, sender: &Sender, m: &Outgoing) -> Result<(), SendError> {
        let message = build(sender, m).map_err(|reason| SendError {
            permanent: true,
            unreachable: false,
            reason,
        })?;
        match self {
            Mailer::Outbox(dir) => {
                let write = || -> std::io::Result<()> {
                    std::fs::create_dir_all(dir)?;
                    let name: String = m
                        .message_id
                        .chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    let tmp = dir.join(format!(".{name}.tmp"));
                    std::fs::write(&tmp, message.formatted())?;
                    std::fs::rename(tmp, dir.join(format!("{name}.eml")))
                };
                write().map_err(|e| SendError {
                    permanent: false,
                    unreachable: false,
                    reason: format!("cannot write to the outbox: {e}"),
                })
            }
            Mailer::Smtp { transport, timeout } => {
                // lettre bounds only the connection by `timeout`; the answers are bounded here,
                // allowing `timeout` for each step of the conversation, so a slow server that
                // answers each command in time is not cut off in the middle of a message.
                let bound = *timeout * SMTP_STEPS + Duration::from_secs(1);
                match tokio::time::timeout(bound, transport.send(message)).await {
                    Err(_) => Err(SendError {
                        permanent: false,
                        unreachable: true,
                        reason: format!(
                            "the SMTP server did not take the message within {bound:?} \
                             ({SMTP_STEPS} steps of {timeout:?})"
                        ),
                    }),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(SendError {
                        permanent: e.is_permanent(),
                        // Not an SMTP answer: no connection, or it broke.
                        unreachable: !e.is_permanent() && !e.is_transient(),
                        reason: smtp_reason(&e),
                    }),
                }
            }
        }
    }
}

fn smtp_reason(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn build(sender: &Sender, m: &Outgoing) -> Result<Message, String> {
    let to: lettre::Address =
        m.to.email
            .parse()
            .map_err(|e| format!("bad address for `{}`: {e}", m.to.id))?;
    let mut b = Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(Some(m.to.name.clone()), to))
        .subject(m.subject.clone())
        .message_id(Some(format!("<{}>", m.message_id)))
        .date(std::time::SystemTime::from(m.date))
        // Sent by a program: out-of-office replies and other automatic answers stay away.
        .raw_header(lettre::message::header::HeaderValue::new(
            lettre::message::header::HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    if let Some(r) = &sender.reply_to {
        b = b.reply_to(r.clone());
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(m.text.clone());
    let body = match &m.html {
        Some(html) => MultiPart::alternative().singlepart(text).singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(html.clone()),
        ),
        None => MultiPart::mixed().singlepart(text),
    };
    let message = match &m.ics {
        Some(ics) => b.multipart(
            MultiPart::mixed().multipart(body).singlepart(
                Attachment::new("deadline.ics".to_string()).body(
                    ics.clone(),
                    ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
                        .expect("valid content type"),
                ),
            ),
        ),
        None => b.multipart(body),
    };
    message.map_err(|e| format!("cannot build the message: {e}"))
}
