//! The HTTP API of `accord serve`, driven over loopback: tokens and roles, the listings on both
//! time axes, recording with the rules of `accord record`, the trail, export and verify.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::helpers::{history, Accord};

/// A running `accord serve` on a free port.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(a: &Accord) -> Server {
        // No workflows: the scheduler records nothing, so seqs are the test's own.
        let cfg = a.dir.path().join("accord.toml");
        let workflows = a.dir.path().join("workflows");
        std::fs::create_dir_all(workflows.join("templates")).unwrap();
        std::fs::write(
            &cfg,
            format!("[workflows]\ndir = \"{}\"\n", workflows.display()),
        )
        .unwrap();
        let mut child = a
            .command()
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let base = line
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split(';').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        std::thread::spawn(move || for _ in stderr.lines() {});
        Server { child, base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn token(a: &Accord, name: &str, role: &str) -> String {
    let r = a.run(&["token", "add", name, "--role", role]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.trim().to_string()
}

/// (status, body) of a request, whatever the status.
fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(30));
    if let Some(t) = token {
        req = req.set("Authorization", &format!("Bearer {t}"));
    }
    let res = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    match res {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn tokens_roles_listings_and_recording() {
    let a = Accord::new();
    a.record(&history());
    let reader = token(&a, "auditor", "reader");
    let recorder = token(&a, "mc-officer-1", "recorder");
    let listed = a.run(&["token", "list"]);
    assert!(
        listed.stdout.contains("auditor") && !listed.stdout.contains(&reader),
        "{}",
        listed.stdout
    );
    let server = Server::start(&a);

    // No token, a wrong token: 401 everywhere but /healthz.
    assert_eq!(call("GET", &server.url("/healthz"), None, None).0, 200);
    for path in [
        "/api/meetings",
        "/api/events",
        "/api/verify",
        "/metrics",
        "/api/events/export",
    ] {
        assert_eq!(call("GET", &server.url(path), None, None).0, 401, "{path}");
        assert_eq!(
            call("GET", &server.url(path), Some("acc_nope"), None).0,
            401,
            "{path}"
        );
    }

    // The listings answer as `accord show` does, on both axes.
    let (code, body) = call("GET", &server.url("/api/meetings"), Some(&reader), None);
    assert_eq!(code, 200);
    assert_eq!(json(&body).as_array().unwrap().len(), 11);
    let (_, body) = call(
        "GET",
        &server.url("/api/mandates?as_of=2020-09-01"),
        Some(&reader),
        None,
    );
    let m = json(&body);
    assert_eq!(
        m.as_array()
            .unwrap()
            .iter()
            .find(|x| x["mandate"] == "MC-3/11#1")
            .unwrap()["status"],
        "in_progress"
    );
    let (code, body) = call(
        "GET",
        &server.url("/api/meetings?as_of=2021-02-30"),
        Some(&reader),
        None,
    );
    assert_eq!(code, 400);
    assert_eq!(json(&body)["field"], "as_of");
    assert_eq!(
        call("GET", &server.url("/api/nonesuch"), Some(&reader), None).0,
        404
    );

    // Recording: readers may not; recorders may, and the actor is the token's name.
    let line = r#"{"type":"MeetingPostponed","occurred":"2021-10-15","actor":"someone-else","data":{"meeting":"iccm-5","dates":"2023","tentative":true}}"#;
    assert_eq!(
        call(
            "POST",
            &server.url("/api/events"),
            Some(&reader),
            Some(line)
        )
        .0,
        403
    );
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(line),
    );
    assert_eq!(code, 200, "{body}");
    let rec = json(&body);
    assert_eq!(rec["recorded"][0]["seq"], 65);
    let (_, body) = call(
        "GET",
        &server.url("/api/events?since=65"),
        Some(&reader),
        None,
    );
    let page = json(&body);
    assert_eq!(
        page["events"][0]["actor"], "mc-officer-1",
        "never the body's actor"
    );
    assert_eq!(page["events"][0]["hash"], rec["recorded"][0]["hash"]);

    // Bad input: 400 naming line and field, nothing written; a conflict: 409; too big: 413.
    let head = |s: &Server| {
        json(&call("GET", &s.url("/api/verify"), Some(&reader), None).1)["last_seq"].clone()
    };
    let bad = format!("{line}\n{}", line.replace("\"2023\"", "\"2023-13\""));
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(&bad),
    );
    assert_eq!(code, 400, "{body}");
    let err = json(&body);
    assert_eq!(
        (err["line"].as_u64(), err["field"].as_str()),
        (Some(2), Some("data.dates"))
    );
    let conflict = line.replace("\"actor\"", "\"expected_position\":1,\"actor\"");
    let (code, body) = call(
        "POST",
        &server.url("/api/events"),
        Some(&recorder),
        Some(&conflict),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(json(&body)["actual"], 3);
    let huge = format!("{line}\n").repeat(150_000);
    assert_eq!(
        call(
            "POST",
            &server.url("/api/events"),
            Some(&recorder),
            Some(&huge)
        )
        .0,
        413
    );
    assert_eq!(head(&server), 65, "nothing written by refused requests");

    // The trail, paged; the export as the command line writes it; verify.
    let (_, body) = call(
        "GET",
        &server.url("/api/events?limit=10"),
        Some(&reader),
        None,
    );
    let page = json(&body);
    assert_eq!(page["events"].as_array().unwrap().len(), 10);
    assert_eq!(page["next"], 11);
    let (_, body) = call(
        "GET",
        &server.url("/api/events?type=DecisionAdopted"),
        Some(&reader),
        None,
    );
    assert_eq!(json(&body)["events"].as_array().unwrap().len(), 1);
    let (code, export) = call(
        "GET",
        &server.url("/api/events/export"),
        Some(&reader),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(export.lines().count(), 65);
    let v = json(&call("GET", &server.url("/api/verify"), Some(&reader), None).1);
    assert_eq!(v["intact"], true);
    let (code, metrics) = call("GET", &server.url("/metrics"), Some(&reader), None);
    assert_eq!(code, 200);
    assert!(metrics.contains("accord_log_head_seq 65"), "{metrics}");
    assert!(
        metrics.contains("accord_http_request_duration_seconds_bucket"),
        "{metrics}"
    );

    // SIGTERM: a clean stop, and the store is the same seen from the command line.
    assert_eq!(server.stop(), Some(0));
    assert_eq!(a.export(), export);
}

#[test]
fn revoked_tokens_stop_working_while_serving() {
    let a = Accord::new();
    a.record(&history());
    let t = token(&a, "temp", "admin");
    let server = Server::start(&a);
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&t), None).0,
        200
    );
    assert_eq!(a.run(&["token", "revoke", "temp"]).code, 0);
    assert_eq!(
        call("GET", &server.url("/api/groups"), Some(&t), None).0,
        401
    );
    assert_eq!(server.stop(), Some(0));
}
