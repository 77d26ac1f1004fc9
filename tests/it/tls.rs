//! Signing in from the office network: `serve` over plain HTTP on a LAN address sets a cookie
//! the browser keeps; `serve` terminating TLS itself (a certificate made here with openssl,
//! checked by curl against it); `X-Forwarded-Proto` believed only from a trusted proxy; and
//! TLS settings that cannot work refused with a plain message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::api::{token, Server};
use super::helpers::{history, Accord};

/// The `Set-Cookie` of a sign-in POST, without following its redirect.
fn sign_in_cookie(url: &str, token: &str, forwarded_proto: Option<&str>) -> (u16, String) {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let mut req = agent
        .post(&format!("{url}/login"))
        .timeout(Duration::from_secs(20));
    if let Some(p) = forwarded_proto {
        req = req.set("X-Forwarded-Proto", p);
    }
    match req.send_form(&[("token", token)]) {
        Ok(r) => (r.status(), r.header("set-cookie").unwrap_or("").to_string()),
        Err(ureq::Error::Status(code, r)) => {
            (code, r.header("set-cookie").unwrap_or("").to_string())
        }
        Err(e) => panic!("POST {url}/login: {e}"),
    }
}

/// This machine's first non-loopback IPv4 address, if it has one.
pub(crate) fn lan_address() -> Option<String> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_string)
}

#[test]
fn plain_http_sign_in_on_a_lan_address_keeps_its_cookie() {
    let Some(ip) = lan_address() else {
        println!("SKIPPED plain_http_sign_in_on_a_lan_address: this machine has no non-loopback IPv4 address");
        return;
    };
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "officer", "reader");
    let server = Server::start_configured(&a, None, "", "0.0.0.0:0");
    let port = server.url("").rsplit(':').next().unwrap().to_string();
    let base = format!("http://{ip}:{port}");
    let (status, cookie) = sign_in_cookie(&base, &t, None);
    assert_eq!(status, 303, "{cookie}");
    assert!(
        cookie.starts_with("accord_token=") && !cookie.contains("Secure"),
        "over plain HTTP the cookie must not be Secure, or the browser drops it: {cookie}"
    );
    // The cookie signs in.
    let pair = cookie.split(';').next().unwrap();
    let page = ureq::get(&format!("{base}/upcoming"))
        .set("Cookie", pair)
        .call()
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.into_string().unwrap().contains("Upcoming"));
}

#[test]
fn forwarded_proto_is_believed_only_from_a_trusted_proxy() {
    let a = Accord::new();
    let t = token(&a, "officer", "reader");
    // This test's requests come from 127.0.0.1: trusted in one server, not in the other.
    let trusted =
        Server::start_configured(&a, None, "trusted_proxies = [\"127.0.0.1\"]", "127.0.0.1:0");
    let (_, c) = sign_in_cookie(&trusted.url(""), &t, Some("https"));
    assert!(c.contains("; Secure"), "{c}");
    let (_, c) = sign_in_cookie(&trusted.url(""), &t, None);
    assert!(!c.contains("Secure"), "{c}");
    drop(trusted);
    let untrusted =
        Server::start_configured(&a, None, "trusted_proxies = [\"10.9.9.9\"]", "127.0.0.1:0");
    let (_, c) = sign_in_cookie(&untrusted.url(""), &t, Some("https"));
    assert!(
        !c.contains("Secure"),
        "a header from anyone is not believed: {c}"
    );
}

fn openssl_certificate(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some((cert, key))
}

fn curl(args: &[&str]) -> Option<std::process::Output> {
    Command::new("curl").args(args).output().ok()
}

#[test]
fn serve_terminates_tls_itself() {
    let a = Accord::new();
    let Some((cert, key)) = openssl_certificate(a.dir.path()) else {
        println!("SKIPPED serve_terminates_tls_itself: needs the openssl command (Debian's openssl); .ci/run installs it");
        return;
    };
    if curl(&["--version"]).is_none() {
        println!("SKIPPED serve_terminates_tls_itself: needs curl; .ci/run installs it");
        return;
    }
    a.record(&history());
    let t = token(&a, "officer", "reader");
    let server = Server::start_configured(
        &a,
        None,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
        "127.0.0.1:0",
    );
    let url = server.url("");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    // Sign in over HTTPS, checking the server's certificate: the cookie is Secure.
    let out = curl(&[
        "-sS",
        "--cacert",
        cert.to_str().unwrap(),
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--data-urlencode",
        &format!("token={t}"),
        &format!("{url}/login"),
    ])
    .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{head}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(head.starts_with("HTTP/1.1 303"), "{head}");
    assert!(
        head.to_lowercase().contains("set-cookie: accord_token=") && head.contains("; Secure"),
        "{head}"
    );
    // The API answers over it too.
    let out = curl(&[
        "-sS",
        "--cacert",
        cert.to_str().unwrap(),
        "-H",
        &format!("Authorization: Bearer {t}"),
        &format!("{url}/api/meetings?limit=1"),
    ])
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("[{"),
        "{out:?}"
    );
    // Plain HTTP to the TLS port gets no page.
    let plain = url.replace("https://", "http://");
    let out = curl(&["-sS", "-m", "5", &format!("{plain}/healthz")]).unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ok"),
        "{out:?}"
    );
}

#[test]
fn tls_settings_that_cannot_work_are_refused_plainly() {
    let a = Accord::new();
    let cfg = a.dir.path().join("tls.toml");
    let not_pem = a.dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (server, says) in [
        (
            format!("tls_cert = \"{}\"", not_pem.display()),
            "tls_cert and tls_key go together",
        ),
        (
            format!("tls_cert = \"{0}\"\ntls_key = \"{0}\"", not_pem.display()),
            "holds no certificate",
        ),
        (
            format!(
                "tls_cert = \"{0}/missing.pem\"\ntls_key = \"{0}/missing.pem\"",
                a.dir.path().display()
            ),
            "missing.pem: cannot read",
        ),
        (
            "trusted_proxies = [\"not-an-address\"]".to_string(),
            "tls.toml: line 2: invalid IP address",
        ),
    ] {
        std::fs::write(&cfg, format!("[server]\n{server}\n")).unwrap();
        let r = a.run(&[
            "--config",
            cfg.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        assert_eq!(r.code, 2, "{server}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{server}: {}", r.stderr);
    }
}
