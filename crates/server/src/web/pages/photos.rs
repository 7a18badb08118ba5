//! Forms that may carry photos (a complaint from the public, a spot-check answer): read from
//! `multipart/form-data` — text fields, and every part that is a file as a photo, each cut off one
//! byte past the size limit so that a huge file is refused without being held whole — or from a plain
//! urlencoded form (no photos). What the services judge comes out as text and [`Upload`]s; a body
//! that cannot be read is kept as the reason, for the page to show next to its form. Also the answer
//! that serves a stored photo to whoever a handler has let see it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::services::files::{MAX_PHOTO_BYTES, MAX_PHOTOS, Upload};
use crate::state::AppState;

/// The largest body a photo form may send: one photo more than allowed (so that too many photos are
/// named as such rather than cut off) and room for the text fields.
pub const BODY_LIMIT: usize = (MAX_PHOTOS + 1) * (MAX_PHOTO_BYTES + 1) + 256 * 1024;

/// A submitted form: its text fields in order and its photos.
#[derive(Default)]
pub struct PhotoForm {
    pub fields: Vec<(String, String)>,
    pub photos: Vec<Upload>,
    /// Why the body could not be read (too large, malformed), with the status to answer.
    pub broken: Option<(StatusCode, String)>,
}

impl PhotoForm {
    /// The first value of `name`, or empty.
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name` (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The CSRF token the form carried.
    pub fn csrf(&self) -> Option<&str> {
        Some(self.get("_csrf")).filter(|s| !s.is_empty())
    }

    /// The text fields, for a refused form to be shown again filled in.
    pub fn values(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), self.get(n).to_owned()))
            .collect()
    }
}

fn broken(status: StatusCode, why: &str) -> PhotoForm {
    PhotoForm {
        broken: Some((status, why.to_owned())),
        ..Default::default()
    }
}

fn too_large() -> PhotoForm {
    broken(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "上传的内容过大：最多 {MAX_PHOTOS} 张照片，每张不超过 {} MB",
            MAX_PHOTO_BYTES / (1024 * 1024)
        ),
    )
}

impl FromRequest<AppState> for PhotoForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, Self::Rejection> {
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if !multipart {
            return Ok(match Bytes::from_request(req, st).await {
                Ok(body) => match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
                    Ok(fields) => PhotoForm {
                        fields,
                        ..Default::default()
                    },
                    Err(_) => broken(StatusCode::BAD_REQUEST, "表单内容无法读取"),
                },
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
                Err(_) => broken(StatusCode::BAD_REQUEST, "表单内容无法读取"),
            });
        }
        let Ok(mut mp) = Multipart::from_request(req, st).await else {
            return Ok(broken(StatusCode::BAD_REQUEST, "表单内容无法读取"));
        };
        let mut form = PhotoForm::default();
        loop {
            let mut field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Ok(too_large()),
                Err(_) => return Ok(broken(StatusCode::BAD_REQUEST, "表单内容无法读取")),
            };
            let name = field.name().unwrap_or("").to_owned();
            let Some(file_name) = field.file_name().map(str::to_owned) else {
                match field.text().await {
                    Ok(t) => form.fields.push((name, t)),
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Ok(too_large());
                    }
                    Err(_) => return Ok(broken(StatusCode::BAD_REQUEST, "表单内容无法读取")),
                }
                continue;
            };
            let mut bytes = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(chunk)) => {
                        // Past the limit the photo is refused anyway: keep one byte more, no more.
                        let room = (MAX_PHOTO_BYTES + 1).saturating_sub(bytes.len());
                        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Ok(too_large());
                    }
                    Err(_) => return Ok(broken(StatusCode::BAD_REQUEST, "表单内容无法读取")),
                }
            }
            // An empty file input sends a part with no name and no bytes: no photo chosen.
            if file_name.is_empty() && bytes.is_empty() {
                continue;
            }
            form.photos.push(Upload {
                name: file_name,
                bytes,
            });
        }
        Ok(form)
    }
}

/// A stored photo as the answer to its scoped route: never cached by shared caches, never sniffed.
pub fn photo_response(bytes: Vec<u8>, media_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "private, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}
