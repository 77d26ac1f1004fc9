//! The thread that turns other processes' `NOTIFY`s into watch updates, reconnecting with back-off and polling the head now and then.

use super::*;

/// Starts the thread that turns other processes' `NOTIFY`s into watch updates. It stops
/// soon after the store is dropped.
pub(super) fn spawn_listener(
    config: postgres::Config,
    channel: String,
    shared: Arc<Shared>,
) -> Result<()> {
    std::thread::Builder::new()
        .name("accord-pg-listen".into())
        .spawn(move || {
            let mut delay = Duration::from_millis(100);
            let mut failing = false;
            while !shared.stop.load(Ordering::Relaxed) {
                match listen(&config, &channel, &shared, &mut failing) {
                    Ok(()) => return,
                    Err(e) => {
                        if !failing {
                            tracing::warn!(
                                "{}: listening for new events failed ({e}); reconnecting",
                                shared.at
                            );
                            failing = true;
                        } else {
                            delay = (delay * 2).min(Duration::from_secs(2));
                        }
                        let until = Instant::now() + delay;
                        while Instant::now() < until && !shared.stop.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Io(format!("cannot start the listener thread: {e}")))
}

/// One connection's worth of listening: returns `Ok` when told to stop, `Err` when the
/// connection fails.
fn listen(
    config: &postgres::Config,
    channel: &str,
    shared: &Shared,
    failing: &mut bool,
) -> std::result::Result<(), String> {
    let mut client = config.connect(NoTls).map_err(|e| explain(&e))?;
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .map_err(|e| explain(&e))?;
    // Whatever was committed while this thread was not listening.
    let head = read_head(&mut client).map_err(|e| explain(&e))?;
    shared.announce(&head);
    if *failing {
        tracing::info!("{}: listening for new events again", shared.at);
        *failing = false;
    }
    let mut polled = Instant::now();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        {
            let mut notes = client.notifications();
            let mut it = notes.timeout_iter(Duration::from_millis(250));
            while let Some(n) = it.next().map_err(|e| explain(&e))? {
                if let Ok(seq) = n.payload().parse::<u64>() {
                    shared.announce_seq(seq);
                }
            }
        }
        if client.is_closed() {
            return Err("the connection closed".into());
        }
        // A cheap poll now and then finds a connection that died silently.
        if polled.elapsed() > Duration::from_secs(5) {
            let head = read_head(&mut client).map_err(|e| explain(&e))?;
            shared.announce(&head);
            polled = Instant::now();
        }
    }
}
