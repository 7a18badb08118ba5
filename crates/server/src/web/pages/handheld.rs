//! The handheld app (G9): a progressive web app served from `/app/`. Its shell (HTML, script,
//! service worker, manifest, icon) is compiled into the binary; it talks to the v1 API with the
//! session cookie and the CSRF header, and queues scans in IndexedDB while offline.

use axum::Router;
use axum::extract::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::Principal;
use crate::state::AppState;

const INDEX: &str = include_str!("../../../assets/handheld/index.html");
const APP_JS: &str = include_str!("../../../assets/handheld/app.js");
const SW_JS: &str = include_str!("../../../assets/handheld/sw.js");
const MANIFEST: &str = include_str!("../../../assets/handheld/manifest.webmanifest");
const ICON: &str = include_str!("../../../assets/handheld/icon.svg");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(index))
        .route(
            "/app/app.js",
            get(|| async { asset("app.js", "text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/app/sw.js",
            get(|| async { asset("sw.js", "text/javascript; charset=utf-8", SW_JS) }),
        )
        .route(
            "/app/manifest.webmanifest",
            get(|| async {
                asset(
                    "manifest.webmanifest",
                    "application/manifest+json",
                    MANIFEST,
                )
            }),
        )
        .route(
            "/app/icon.svg",
            get(|| async { asset("icon.svg", "image/svg+xml", ICON) }),
        )
        // Browsers ask for it on every site; the app's icon serves.
        .route(
            "/favicon.ico",
            get(|| async { asset("icon.svg", "image/svg+xml", ICON) }),
        )
}

/// A file of the shell: the compiled-in copy, or — for working on the app without rebuilding —
/// the file under `$CYLTRACE_ASSETS_DIR/handheld/` when that variable is set.
fn asset(name: &str, content_type: &'static str, builtin: &'static str) -> Response {
    let body = std::env::var_os("CYLTRACE_ASSETS_DIR")
        .and_then(|d| {
            std::fs::read_to_string(std::path::Path::new(&d).join("handheld").join(name)).ok()
        })
        .unwrap_or_else(|| builtin.to_owned());
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The service worker keeps its own copy for offline use; the network copy is revalidated.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The shell needs a session (offline, the service worker serves its cached copy).
async fn index(p: Option<Extension<Principal>>) -> Response {
    if p.is_none() {
        return Redirect::to("/login?next=/app/").into_response();
    }
    asset("index.html", "text/html; charset=utf-8", INDEX)
}
