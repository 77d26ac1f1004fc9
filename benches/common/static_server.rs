//! The peer of the HTTP rows: axum serving given response bytes from memory, the ceiling of
//! the stack, shared by the benchmarks.

use std::sync::Arc;

/// Serves each `(path, body)` with `content_type` on a free loopback port; returns its address.
pub fn static_server(
    rt: &tokio::runtime::Runtime,
    bodies: Vec<(String, Vec<u8>)>,
    content_type: &'static str,
) -> String {
    use axum::routing::get;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut app = axum::Router::new();
    for (path, body) in bodies {
        let body = Arc::new(body);
        app = app.route(
            &path,
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, content_type)],
                        (*body).clone(),
                    )
                }
            }),
        );
    }
    rt.spawn(async move { axum::serve(listener, app).await });
    addr
}
