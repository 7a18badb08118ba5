//! The handheld app (G9): a progressive web app served from `/app/`. Its shell (HTML, its
//! JavaScript modules, service worker, manifest, icon) is compiled into the binary; it talks to the v1
//! API with the session cookie and the CSRF header, and queues its records in IndexedDB while offline.

use axum::Router;
use axum::extract::{Extension, Path};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::Principal;
use crate::state::AppState;

const INDEX: &str = include_str!("../../../assets/handheld/index.html");
const JS: &str = "text/javascript; charset=utf-8";
const ICON: &str = include_str!("../../../assets/handheld/icon.svg");

/// A file of the shell: its name under `/app/`, media type and compiled-in copy.
macro_rules! shell_file {
    ($name:literal, $ct:expr) => {
        (
            $name,
            $ct,
            include_str!(concat!("../../../assets/handheld/", $name)),
        )
    };
}

/// The files of the shell under `/app/`. `app.js` is the entry module; it imports the others (the
/// service worker's list in `sw.js` names them all).
const FILES: &[(&str, &str, &str)] = &[
    shell_file!("app.js", JS),
    shell_file!("core.js", JS),
    shell_file!("queue.js", JS),
    shell_file!("ui.js", JS),
    shell_file!("scan.js", JS),
    shell_file!("floor.js", JS),
    shell_file!("delivery.js", JS),
    shell_file!("sw.js", JS),
    shell_file!("manifest.webmanifest", "application/manifest+json"),
    shell_file!("icon.svg", "image/svg+xml"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(index))
        .route("/app/{file}", get(file))
        // Browsers ask for it on every site; the app's icon serves.
        .route(
            "/favicon.ico",
            get(|| async { asset("icon.svg", "image/svg+xml", ICON) }),
        )
}

/// One file of the shell, or 404.
async fn file(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some(&(n, ct, body)) => asset(n, ct, body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
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
