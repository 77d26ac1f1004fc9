//! The dashboard in a real browser: headless Chromium driven through chromedriver (Selenium,
//! `tests/browser/dashboard.py`) signs in, opens every page, uses the as-of picker and saves a
//! screenshot of each page under `target/tmp/screenshots/`.

use std::path::Path;

use super::api::{token, Server};
use super::helpers::{history, root, Accord};

fn browser_available() -> bool {
    let selenium = std::process::Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    let ok = Path::new("/usr/bin/chromium").exists()
        && Path::new("/usr/bin/chromedriver").exists()
        && selenium;
    if !ok {
        println!(
            "SKIPPED dashboard_in_headless_chromium: needs /usr/bin/chromium, /usr/bin/chromedriver \
             (Debian's chromium and chromium-driver) and Python's selenium; .ci/run installs them"
        );
    }
    ok
}

#[test]
fn dashboard_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    let a = Accord::new();
    a.record(&history());
    let hostile = r#"{"type":"MeetingScheduled","occurred":"2021-05","actor":"t","data":{"meeting":"unea-9","body":"UNEA","kind":"session","title":"<script>window.__accord_xss=1</script> \"quotes\"","dates":"2023-02-27/2023-03-03"}}"#;
    assert_eq!(a.record_text(hostile).code, 0);
    super::helpers::future_meeting(&a);
    let t = token(&a, "browser", "reader");
    let recorder = token(&a, "officer", "recorder");
    // Listening on every address: the browser also signs in on this machine's LAN address.
    let server = Server::start_configured(&a, Some(&root().join("workflows")), "", "0.0.0.0:0");
    super::api::wait_for(&server, &t, "/api/deadlines", "mc-cop-9");
    let port = server.url("").rsplit(':').next().unwrap().to_string();
    let base = format!("http://127.0.0.1:{port}");
    let lan = super::tls::lan_address().map(|ip| format!("http://{ip}:{port}"));
    if lan.is_none() {
        println!("SKIPPED the LAN sign-in step: this machine has no non-loopback IPv4 address");
    }
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    let out = std::process::Command::new("python3")
        .arg(root().join("tests/browser/dashboard.py"))
        .arg(&base)
        .arg(&t)
        .arg(&shots)
        .arg(&recorder)
        .args(lan.iter())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pages: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let page = |name: &str| {
        pages
            .iter()
            .find(|p| p["page"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let text = |name: &str| page(name)["text"].as_str().unwrap().to_string();
    assert!(text("login").contains("Sign in"), "{}", text("login"));
    assert!(page("after-sign-in")["url"]
        .as_str()
        .unwrap()
        .ends_with("/upcoming"));
    let expect = [
        (
            "upcoming",
            "Pre-session documents available in all official languages",
        ),
        ("timeline", "Solid bars: confirmed dates"),
        (
            "meetings",
            "<script>window.__accord_xss=1</script> \"quotes\"",
        ),
        ("meetings", "early 2022 (tbc)"),
        ("decisions", "MC-3/11"),
        ("groups", "Mercury wastes"),
        ("reports", "UNEP/MC/COP.4/INF/17"),
        ("trail", "The chain verifies"),
        ("meetings-as-of-2019-06-30", "2020 (tbc)"),
        ("evaluation", "Cooperation activities per area and year"),
    ];
    for (name, needle) in expect {
        assert!(
            text(name).contains(needle),
            "{name} lacks {needle:?}: {}",
            text(name)
        );
    }
    assert!(!text("meetings-as-of-2019-06-30").contains("mc-cop-4.2"));
    assert!(text("timeline-bars").parse::<usize>().unwrap() >= 10);
    assert_eq!(text("xss"), "none", "a script in a title ran");
    // Recording by form, as an officer would: the form, its preview, the recorded seq.
    assert!(
        text("record-form").contains("Dates *"),
        "{}",
        text("record-form")
    );
    assert!(
        text("record-preview").contains("\"segment\": \"mc-cop-4.1\""),
        "{}",
        text("record-preview")
    );
    assert!(
        text("record-done").contains("Recorded as seq"),
        "{}",
        text("record-done")
    );
    // Paging, filters, charts, layout, icon.
    assert!(
        text("meetings-page-1").contains("Showing 2 of"),
        "{}",
        text("meetings-page-1")
    );
    assert_ne!(text("meetings-page-1"), text("meetings-page-2"));
    assert!(text("meetings-page-2").contains("First page"));
    let decisions = text("trail-decisions");
    let decisions = decisions.split("Recorded (UTC)").nth(1).unwrap_or_default();
    assert!(
        decisions.contains("DecisionAdopted") && !decisions.contains("MeetingScheduled"),
        "{decisions}"
    );
    assert!(
        text("evaluation-charts").parse::<usize>().unwrap() >= 6,
        "{}",
        text("evaluation-charts")
    );
    for page in ["reports", "groups", "upcoming", "meetings"] {
        for w in [1366, 390] {
            let name = format!("fits-{page}-{w}px");
            assert_eq!(text(&name), "fits", "{name}");
        }
    }
    assert_eq!(text("favicon"), "svg icon");
    // The recorded change on the meeting's page and at the top of the trail.
    assert!(text("meeting-after-record").contains("mc-cop-4.1"));
    let trail = text("trail-after-record");
    assert!(
        trail.contains("MeetingHeld") && trail.contains("officer"),
        "{trail}"
    );
    assert!(
        text("record-refused").contains("2021-13-40") || text("record-refused").contains("month"),
        "{}",
        text("record-refused")
    );
    assert_eq!(text("refused-wrote"), "nothing");
    if lan.is_some() {
        assert!(page("lan-sign-in")["url"]
            .as_str()
            .unwrap()
            .ends_with("/upcoming"));
        assert_eq!(text("cross-site-wrote"), "nothing");
    }
    for p in &pages {
        if let Some(path) = p["screenshot"].as_str().filter(|s| !s.is_empty()) {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            assert!(size > 5_000, "{path} is empty");
        }
    }
    println!(
        "browser: {} pages checked; screenshots in {}",
        pages.len(),
        shots.display()
    );
    assert_eq!(server.stop(), Some(0));
}
