//! SIGKILL during a large batch: on restart the chain verifies and the batch is wholly there
//! or wholly absent.

use super::helpers::{history, Accord};

fn big_batch(n: usize, tag: usize) -> String {
    let mut s = String::with_capacity(n * 250);
    for i in 0..n {
        s.push_str(&format!(
            r#"{{"id":"crash-{tag}-{i}","type":"ActivityReported","occurred":"2021-05","actor":"load","data":{{"activity":"a-{tag}-{i}","group":"joint-task-force","title":"Activity {i} of trial {tag}, reported under load"}}}}"#
        ));
        s.push('\n');
    }
    s
}

#[test]
fn kill_during_a_large_batch() {
    let a = Accord::new();
    a.record(&history());
    let n = 20_000;
    let trials = 8;
    // Time one uninterrupted record of the same size, then kill across that span.
    let timing = Accord::new();
    let file = timing.dir.path().join("batch.jsonl");
    std::fs::write(&file, big_batch(n, 99)).unwrap();
    let started = std::time::Instant::now();
    timing.record(&file);
    let span = started.elapsed();
    let (mut whole, mut absent) = (0, 0);
    for trial in 0..trials {
        let file = a.dir.path().join(format!("batch-{trial}.jsonl"));
        std::fs::write(&file, big_batch(n, trial)).unwrap();
        let before = a.last_seq();
        let mut child = a
            .command()
            .args(["record", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each trial: while parsing, hashing, writing, flushing,
        // and once after it finished.
        std::thread::sleep(span.mul_f64(0.15 + 0.15 * trial as f64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let v = a.run(&["verify"]);
        assert_eq!(
            v.code, 0,
            "trial {trial}: chain broken after SIGKILL: {} {}",
            v.stdout, v.stderr
        );
        let after = a.last_seq();
        if after == before {
            absent += 1;
        } else {
            assert_eq!(after, before + n as u64, "trial {trial}: a partial batch");
            whole += 1;
        }
    }
    println!(
        "crash: {trials} SIGKILL trials of {n}-event batches over {span:?}: {whole} wholly recorded, {absent} wholly absent"
    );
    assert!(absent > 0, "no kill landed before the commit");
}
