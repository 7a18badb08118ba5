//! Content-addressed files (DESIGN §4): photos, certificates and reports are kept in the data
//! directory under their SM3 hash and referenced as `files/<64 hex digits>`.

use std::path::PathBuf;

use cyltrace_domain::access::Action;
use sm3::Digest;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The kinds of file accepted, by their first bytes: (magic, name).
const KINDS: &[(&[u8], &str)] = &[
    (b"\xFF\xD8\xFF", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"%PDF-", "PDF"),
    (b"GIF8", "GIF"),
];

/// The reference of a stored file: `files/<sm3 hex>`.
pub fn reference(hash_hex: &str) -> String {
    format!("files/{hash_hex}")
}

fn path_of(st: &AppState, reference: &str) -> Option<PathBuf> {
    let hex = reference.trim().strip_prefix("files/")?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    Some(st.config.data_dir.join("files").join(&hex[..2]).join(hex))
}

/// Whether `reference` names a stored file.
pub fn exists(st: &AppState, reference: &str) -> bool {
    path_of(st, reference).is_some_and(|p| p.is_file())
}

/// What kind of file `bytes` is, if it is one we accept (images and PDF).
pub fn kind_of(bytes: &[u8]) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, name)| *name)
        .or_else(|| {
            (bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
                .then_some("WEBP")
        })
}

/// Stores `bytes` (once, whatever the number of uploads) and answers its reference. The file is
/// written to a temporary name and renamed, so a reference never names a half-written file.
pub async fn put(st: &AppState, bytes: &[u8]) -> std::io::Result<String> {
    let hex = hex::encode(sm3::Sm3::digest(bytes));
    let reference = reference(&hex);
    let path = path_of(st, &reference).expect("a well-formed reference");
    if path.is_file() {
        return Ok(reference);
    }
    let dir = path.parent().expect("under files/").to_path_buf();
    tokio::fs::create_dir_all(&dir).await?;
    let tmp = dir.join(format!(".{hex}.{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::write(&tmp, bytes).await?;
    let f = tokio::fs::File::open(&tmp).await?;
    f.sync_all().await?;
    tokio::fs::rename(&tmp, &path).await?;
    Ok(reference)
}

/// The bytes of a stored file, if `reference` names one.
pub async fn read(st: &AppState, reference: &str) -> Option<Vec<u8>> {
    tokio::fs::read(path_of(st, reference)?).await.ok()
}

/// A file stored for a caller: its hash, reference, kind and size.
pub struct Stored {
    pub hash: String,
    pub reference: String,
    pub kind: &'static str,
    pub size: usize,
}

/// `POST /files`: stores a photo, signature, certificate or report (JPEG, PNG, WEBP, GIF or PDF).
pub async fn upload(st: &AppState, p: &Principal, bytes: &[u8]) -> ApiResult<Stored> {
    p.require(Action::Read)?;
    let Some(kind) = kind_of(bytes) else {
        return Err(ApiError::invalid(
            "body",
            "文件类型不支持（仅 JPEG、PNG、WEBP、GIF 图片或 PDF）",
        ));
    };
    let reference = put(st, bytes)
        .await
        .map_err(|e| ApiError::Internal(format!("storing a file: {e}")))?;
    let hash = reference.trim_start_matches("files/").to_owned();
    Ok(Stored {
        hash,
        reference,
        kind,
        size: bytes.len(),
    })
}

/// `GET /files/{hash}`: a stored file and its media type.
pub async fn download(
    st: &AppState,
    p: &Principal,
    hash: &str,
) -> ApiResult<(Vec<u8>, &'static str)> {
    p.require(Action::Read)?;
    let bytes = read(st, &reference(hash))
        .await
        .ok_or_else(|| ApiError::NotFound("文件不存在".to_owned()))?;
    let ct = match kind_of(&bytes) {
        Some("PDF") => "application/pdf",
        Some("PNG") => "image/png",
        Some("JPEG") => "image/jpeg",
        Some("GIF") => "image/gif",
        Some("WEBP") => "image/webp",
        _ => "application/octet-stream",
    };
    Ok((bytes, ct))
}
