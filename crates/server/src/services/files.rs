//! Content-addressed files (DESIGN §4): photos, certificates and reports are kept in the data
//! directory under their SM3 hash and referenced as `files/<64 hex digits>`. Photos the public and
//! enterprises attach to complaints and spot-check answers follow stricter rules (JPEG, PNG or WebP
//! only, at most three of at most 5 MiB each), judged before any of them is kept.
//!
//! Files belong to organisations (issue 22): the same bytes are stored once, and each organisation
//! that uploaded them, or that a record referencing them belongs to, is an owner (`file_owners`).
//! A caller reads a file when its data scope holds an owner (a regulator: the enterprises of its
//! region; a node admin: all), and may reference in a record only a file it may read, so knowing a
//! hash is never enough.

use std::path::PathBuf;

use cyltrace_domain::ValidationErrors;
use cyltrace_domain::access::Action;
use sm3::Digest;
use uuid::Uuid;

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

/// The SM3 hex a reference (`files/<hex>`) or a bare hash names, when it is well-formed.
fn hash_of(reference: &str) -> Option<&str> {
    let r = reference.trim();
    let hex = r.strip_prefix("files/").unwrap_or(r);
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
    .then_some(hex)
}

/// Makes `org_id` an owner of the file `reference` names (a reference or a bare hash): its
/// uploader, or the organisation of a record that references it. `by` is the user, when one acted.
pub async fn own(st: &AppState, org_id: Uuid, by: Option<Uuid>, reference: &str) -> ApiResult<()> {
    let Some(hash) = hash_of(reference) else {
        return Ok(());
    };
    st.store
        .add_file_owner(hash, org_id, by, st.now())
        .await
        .map_err(Into::into)
}

/// Whether the caller may read the file `reference` names: a node admin any, anyone else one that
/// an organisation inside their data scope owns (one query).
pub async fn may_read(st: &AppState, p: &Principal, reference: &str) -> ApiResult<bool> {
    let Some(hash) = hash_of(reference) else {
        return Ok(false);
    };
    if p.is_node_admin() {
        return Ok(true);
    }
    Ok(st.store.file_owned_within(hash, &p.scope()).await?)
}

/// Whether `reference` (a reference or a bare hash) names a stored file the caller may read: what a
/// record may reference. A file the caller may not read is answered like a missing one.
pub async fn usable(st: &AppState, p: &Principal, reference: &str) -> ApiResult<bool> {
    let Some(hash) = hash_of(reference) else {
        return Ok(false);
    };
    Ok(exists(st, &self::reference(hash)) && may_read(st, p, hash).await?)
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
    own(st, p.org_id, Some(p.user_id), &reference).await?;
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
    if !may_read(st, p, hash).await? {
        return Err(ApiError::Forbidden(
            "该文件不在您的数据权限范围内".to_owned(),
        ));
    }
    let ct = media_type(&bytes);
    Ok((bytes, ct))
}

// ---------------------------------------------------------------------------------------------
// Photos attached by the public and by enterprises (complaints, spot-check answers)

/// Most photos one complaint or one spot-check answer carries.
pub const MAX_PHOTOS: usize = 3;
/// The largest photo accepted (5 MiB).
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// Whether `bytes` may be kept as a photo: a JPEG, PNG or WebP image (judged by its first bytes,
/// never by its name) of at most [`MAX_PHOTO_BYTES`]. `Err` says why not, in Chinese.
pub fn check_photo(bytes: &[u8]) -> Result<&'static str, String> {
    if bytes.is_empty() {
        return Err("文件是空的".to_owned());
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(format!("超过 {} MB", MAX_PHOTO_BYTES / (1024 * 1024)));
    }
    match kind_of(bytes) {
        Some(k @ ("JPEG" | "PNG" | "WEBP")) => Ok(k),
        _ => Err("不是 JPEG、PNG 或 WebP 图片".to_owned()),
    }
}

/// A photo as a form sent it: the file name the browser gave (for the reason a photo is refused)
/// and its bytes (cut off one byte past the size limit by the web layer).
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Checks the photos of a complaint or an answer: at most [`MAX_PHOTOS`], each a JPEG, PNG
/// or WebP image within the size limit; each refused one is named under `field`.
pub fn check_photos(field: &str, photos: &[Upload], errs: &mut ValidationErrors) {
    if photos.len() > MAX_PHOTOS {
        errs.push(
            field,
            format!("最多上传 {} 张照片（收到 {} 张）", MAX_PHOTOS, photos.len()),
        );
    }
    for (i, p) in photos.iter().enumerate() {
        if let Err(why) = check_photo(&p.bytes) {
            let name = if p.name.trim().is_empty() {
                format!("第 {} 张", i + 1)
            } else {
                format!("“{}”", p.name.trim())
            };
            errs.push(field, format!("照片{name}{why}，未保存"));
        }
    }
}

/// The media type of a stored image or document.
pub fn media_type(bytes: &[u8]) -> &'static str {
    match kind_of(bytes) {
        Some("PDF") => "application/pdf",
        Some("PNG") => "image/png",
        Some("JPEG") => "image/jpeg",
        Some("GIF") => "image/gif",
        Some("WEBP") => "image/webp",
        _ => "application/octet-stream",
    }
}

/// Stores photos that passed [`check_photo`] as files of `org_id` (`by` the user, when one acted);
/// answers their references in order.
pub async fn put_photos(
    st: &AppState,
    org_id: Uuid,
    by: Option<Uuid>,
    photos: &[Vec<u8>],
) -> ApiResult<Vec<String>> {
    let mut refs = Vec::with_capacity(photos.len());
    for p in photos {
        let r = put(st, p)
            .await
            .map_err(|e| ApiError::Internal(format!("storing a photo: {e}")))?;
        own(st, org_id, by, &r).await?;
        refs.push(r);
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photos_are_judged_by_their_first_bytes_and_size() {
        assert_eq!(check_photo(b"\x89PNG\r\n\x1a\n...."), Ok("PNG"));
        assert_eq!(check_photo(b"\xFF\xD8\xFF\xE0...."), Ok("JPEG"));
        assert_eq!(check_photo(b"RIFF\0\0\0\0WEBPVP8 "), Ok("WEBP"));
        assert!(
            check_photo(b"GIF89a......").is_err(),
            "GIF is no photo here"
        );
        assert!(check_photo(b"%PDF-1.7").is_err());
        assert!(check_photo(b"").is_err());
        let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
        big.resize(MAX_PHOTO_BYTES + 1, 0);
        assert!(check_photo(&big).unwrap_err().contains("5 MB"));
    }

    #[test]
    fn photos_are_counted_and_named_when_refused() {
        let png = || Upload {
            name: "a.png".to_owned(),
            bytes: b"\x89PNG\r\n\x1a\n0000".to_vec(),
        };
        let mut errs = ValidationErrors::default();
        check_photos("photos", &[png(), png(), png()], &mut errs);
        assert!(errs.0.is_empty());
        check_photos("photos", &[png(), png(), png(), png()], &mut errs);
        assert_eq!(errs.0.len(), 1);
        assert!(errs.0[0].message.contains("最多上传 3 张"));
        let mut errs = ValidationErrors::default();
        let text = Upload {
            name: "说明.txt".to_owned(),
            bytes: b"hello".to_vec(),
        };
        check_photos("photos", &[png(), text], &mut errs);
        assert_eq!(errs.0.len(), 1);
        assert_eq!(errs.0[0].field, "photos");
        assert!(errs.0[0].message.contains("“说明.txt”"), "{:?}", errs.0);
    }
}
