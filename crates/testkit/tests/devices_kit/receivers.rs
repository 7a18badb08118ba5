//! Test receivers of notifications: an HTTP endpoint (webhook, SMS gateway) and an SMTP sink
//! (test code only, started on 127.0.0.1:0).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Clone, Default)]
pub struct Hook {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
}

impl Hook {
    pub fn bodies(&self) -> Vec<(HeaderMap, Bytes)> {
        self.got.lock().unwrap().clone()
    }
}

async fn hook_handler(State(h): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    h.got.lock().unwrap().push((headers, body));
    let left = h.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        h.fail_first.store(left - 1, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// An HTTP receiver on 127.0.0.1:0: its URL and what it got.
pub async fn receiver(fail_first: usize) -> (String, Hook) {
    let hook = Hook::default();
    hook.fail_first.store(fail_first, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/in", axum::routing::post(hook_handler))
        .with_state(hook.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/in"), hook)
}

/// A tiny SMTP responder that records each message's envelope and DATA (test code only).
pub async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let store = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut envelope = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        break;
                    }
                    let cmd = line.trim_end().to_ascii_uppercase();
                    let answer: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if cmd.starts_with("MAIL") || cmd.starts_with("RCPT") {
                        envelope.push_str(&line);
                        b"250 ok\r\n"
                    } else if cmd == "DATA" {
                        w.write_all(b"354 go on\r\n").await.ok();
                        let mut data = envelope.clone();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == ".\r\n" || line == ".\n" {
                                break;
                            }
                            data.push_str(&line);
                        }
                        store.lock().unwrap().push(data);
                        envelope.clear();
                        b"250 queued\r\n"
                    } else if cmd == "QUIT" {
                        w.write_all(b"221 bye\r\n").await.ok();
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    w.write_all(answer).await.ok();
                }
            });
        }
    });
    (port, got)
}
