//! Several `accord serve` nodes on one PostgreSQL log: one scheduler at a time, failover when
//! its node is killed, and every email sent once.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::helpers::{future_meeting, pg_schema, Accord};
use super::smtp::{read_dir_mails, Mail};

/// A running `accord serve`, killed when dropped.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mails(nodes: &[Accord]) -> Vec<(usize, Mail)> {
    nodes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            read_dir_mails(&n.data().join("outbox"))
                .into_iter()
                .map(move |m| (i, m))
        })
        .collect()
}

/// Every email once: a second copy is allowed only as the one resend of the crash window,
/// with the same Message-ID.
fn sent_once(mails: &[(usize, Mail)]) -> bool {
    let mut ids: Vec<&str> = mails
        .iter()
        .map(|(_, m)| m.header("message-id").unwrap_or(""))
        .collect();
    ids.sort_unstable();
    let copies = ids.len();
    ids.dedup();
    ids.len() == 1 && copies <= 2
}

/// Starts `accord serve` for each node (the pre-session and digest workflows, mail to the
/// outbox) on a free port, each with a recorder token: (tokens, ports, processes), once every
/// node listens.
pub(crate) fn serve_nodes(nodes: &[Accord]) -> (Vec<String>, Vec<u16>, Vec<Child>) {
    let tokens = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| super::api::token(n, &format!("officer-{i}"), "recorder"))
        .collect();
    let ports: Vec<u16> = nodes.iter().map(|_| super::smtp::free_port()).collect();
    let children = nodes
        .iter()
        .zip(&ports)
        .map(|(n, port)| {
            let cfg = super::reminders::config(
                n,
                None,
                &["pre-session-documents.toml", "weekly-digest.toml"],
            );
            n.spawn_serve(&cfg, *port, Stdio::null())
        })
        .collect();
    for port in &ports {
        super::helpers::wait_listening(*port);
    }
    (tokens, ports, children)
}

#[test]
fn three_nodes_one_scheduler_failover_and_every_email_once() {
    let Some(schema) = pg_schema("nodes") else {
        return;
    };
    let nodes: Vec<Accord> = (0..3).map(|_| Accord::on_postgres(&schema.url)).collect();
    future_meeting(&nodes[0]);
    let (tokens, ports, children) = serve_nodes(&nodes);
    let mut running: Vec<Option<Node>> = children.into_iter().map(|c| Some(Node(c))).collect();
    // Concurrent appends through every node's API: each is acknowledged, none is lost.
    let per_node = 20;
    std::thread::scope(|scope| {
        for (i, (port, token)) in ports.iter().zip(&tokens).enumerate() {
            scope.spawn(move || {
                for k in 0..per_node {
                    let line = format!(
                        r#"{{"type":"MeetingScheduled","occurred":"2019-06-01","actor":"t","data":{{"meeting":"node-{i}-meeting-{k}","body":"MC","kind":"cop","title":"Meeting {k} of node {i}","dates":"2020-01-0{}/2020-01-09","venue":"Geneva"}}}}"#,
                        1 + k % 8
                    );
                    let (status, body) = super::api::call(
                        "POST",
                        &format!("http://127.0.0.1:{port}/api/events"),
                        Some(token),
                        Some(&line),
                    );
                    assert!(status == 200 || status == 201, "{status}: {body}");
                }
            });
        }
    });
    let meetings = nodes[2].run(&["show", "meetings"]).stdout;
    let appended = (0..3)
        .flat_map(|i| (0..per_node).map(move |k| format!("node-{i}-meeting-{k} ")))
        .filter(|m| meetings.contains(m.as_str()))
        .count();
    assert_eq!(
        appended,
        3 * per_node,
        "every acknowledged append is in the log"
    );
    assert_eq!(nodes[1].run(&["verify"]).code, 0);
    // This week's digest goes out once, from whichever node holds the scheduler lease.
    let started = Instant::now();
    while mails(&nodes).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no email within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let first = mails(&nodes);
    assert_eq!(first.len(), 1, "one node sends, the others do not");
    let leader = first[0].0;
    // The leader dies without a word; a new meeting needs deadlines, which only a running
    // scheduler records.
    let mut dead = running[leader].take().unwrap();
    dead.0.kill().unwrap();
    dead.0.wait().unwrap();
    let survivor = &nodes[(leader + 1) % 3];
    let today = chrono::Utc::now().date_naive();
    let start = today + chrono::Days::new(80);
    let line = format!(
        r#"{{"type":"MeetingScheduled","occurred":"{today}","actor":"t","data":{{"meeting":"mc-cop-10","body":"MC","kind":"cop","title":"Tenth meeting","dates":"{start}/{}","venue":"Geneva"}}}}"#,
        start + chrono::Days::new(4)
    );
    assert_eq!(survivor.record_text(&line).code, 0);
    let killed = Instant::now();
    loop {
        let r = survivor.run(&["deadlines"]);
        if r.stdout.contains("mc-cop-10") {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "no node took over the scheduler within 15 s: {}",
            r.stdout
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let took_over = killed.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    let after = mails(&nodes);
    assert!(sent_once(&after), "{} copies of the digest", after.len());
    assert_eq!(survivor.run(&["verify"]).code, 0);
    println!(
        "3 nodes: {} concurrent appends over HTTP; the scheduler moved {took_over:?} after its node was killed; {} email(s), one Message-ID",
        3 * per_node,
        after.len()
    );
    drop(running);
}
