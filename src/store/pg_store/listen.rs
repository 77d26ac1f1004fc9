//! The task that turns other processes' `NOTIFY`s into watch updates, reconnecting with
//! back-off and polling the head now and then.

use std::time::Instant;

use tokio_postgres::AsyncMessage;

use super::*;

/// Listens for as long as the store's runtime runs: each connection's worth by [`listen`],
/// and after a failure again, after a back-off that grows to two seconds.
pub(super) async fn listen_forever(
    config: tokio_postgres::Config,
    channel: String,
    shared: Arc<Shared>,
) {
    let mut delay = Duration::from_millis(100);
    let mut failing = false;
    while !shared.stop.load(Ordering::Relaxed) {
        let Err(e) = listen(&config, &channel, &shared, &mut failing).await;
        if !failing {
            tracing::warn!(
                "{}: listening for new events failed ({e}); reconnecting",
                shared.at
            );
            failing = true;
        } else {
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        tokio::time::sleep(delay).await;
    }
}

/// One connection's worth of listening, until it fails.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    shared: &Shared,
    failing: &mut bool,
) -> std::result::Result<std::convert::Infallible, String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| explain(&e))?;
    // The connection's messages: its notifications, then why it ended.
    let (notes, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if notes.send(Ok(n.payload().to_string())).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let _ = notes.send(Err(explain(&e)));
                    return;
                }
                None => {
                    let _ = notes.send(Err("the connection closed".into()));
                    return;
                }
            }
        }
    });
    let _stop_driver = AbortOnDrop(driver);
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .map_err(|e| explain(&e))?;
    // Whatever was committed while this task was not listening.
    let head = read_head(&client).await.map_err(|e| explain(&e))?;
    shared.announce(&head);
    if *failing {
        tracing::info!("{}: listening for new events again", shared.at);
        *failing = false;
    }
    let mut polled = Instant::now();
    loop {
        match tokio::time::timeout(Duration::from_millis(250), heard.recv()).await {
            Ok(Some(Ok(payload))) => {
                if let Ok(seq) = payload.parse::<u64>() {
                    shared.announce_seq(seq);
                }
            }
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) => return Err("the connection closed".into()),
            Err(_) => {}
        }
        // A cheap poll now and then finds a connection that died silently.
        if polled.elapsed() > Duration::from_secs(5) {
            let head = read_head(&client).await.map_err(|e| explain(&e))?;
            shared.announce(&head);
            polled = Instant::now();
        }
    }
}

/// Ends a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
