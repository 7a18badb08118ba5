//! Interoperability of checkpoint signatures with OpenSSL's SM2 (OpenSSL 3.x):
//! our signatures verify with
//! `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 -pkeyopt distid:1234567812345678`,
//! OpenSSL's signatures verify with our code, and PKCS#8 key files move both ways.
//!
//! OpenSSL must be installed (CI installs it): a missing `openssl` fails this test, it does not
//! skip it, so a green run always means the interop was checked.

use std::path::Path;
use std::process::{Command, Output};

use cyltrace_ledger::*;

fn openssl(args: &[&str], dir: &Path) -> Output {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run `openssl` ({e}): install OpenSSL 3 (Debian: apt-get install -y openssl); \
             the SM2 interop test needs it and must not be skipped"
        ),
    }
}

fn must(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

const DISTID: &str = "distid:1234567812345678";

fn verify_args<'a>(text: &'a str, sig: &'a str) -> Vec<&'a str> {
    vec![
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-in", text, "-sigfile", sig,
        "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
    ]
}

fn checkpoint_text() -> String {
    let mut log = MemoryLog::new(Sm3Hash);
    for i in 0u32..1000 {
        log.append(&i.to_be_bytes());
    }
    let root = log.root(1000).expect("root");
    Checkpoint::new("cyltrace.test/530100/ledger", 1000, root)
        .to_text()
        .expect("valid checkpoint")
}

#[test]
fn openssl_is_openssl_3() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = must(openssl(&["version"], dir.path()), "openssl version");
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("OpenSSL 3."), "unexpected: {version}");
}

#[test]
fn our_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::generate().expect("key");
    let text = checkpoint_text();
    std::fs::write(
        dir.path().join("pub.pem"),
        key.public_key_pem().expect("pem"),
    )
    .expect("write");
    std::fs::write(dir.path().join("text.txt"), &text).expect("write");
    std::fs::write(dir.path().join("sig.der"), sign_checkpoint(&key, &text)).expect("write");
    let out = must(
        openssl(&verify_args("text.txt", "sig.der"), dir.path()),
        "openssl verify of our signature",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"));

    // OpenSSL really checks: another text, or another user ID, fails.
    std::fs::write(dir.path().join("other.txt"), text.replace("1000", "1001")).expect("write");
    assert!(
        !openssl(&verify_args("other.txt", "sig.der"), dir.path())
            .status
            .success()
    );
    let mut wrong_id = verify_args("text.txt", "sig.der");
    let last = wrong_id.len() - 1;
    wrong_id[last] = "distid:ALICE123@YAHOO.COM";
    assert!(!openssl(&wrong_id, dir.path()).status.success());
}

#[test]
fn openssl_signatures_and_keys_work_with_ours() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = checkpoint_text();
    std::fs::write(dir.path().join("text.txt"), &text).expect("write");
    must(
        openssl(
            &["genpkey", "-algorithm", "SM2", "-out", "key.pem"],
            dir.path(),
        ),
        "openssl genpkey",
    );
    must(
        openssl(
            &[
                "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
            ],
            dir.path(),
        ),
        "openssl pkey -pubout",
    );
    must(
        openssl(
            &[
                "pkeyutl", "-sign", "-inkey", "key.pem", "-in", "text.txt", "-rawin", "-digest",
                "sm3", "-pkeyopt", DISTID, "-out", "sig.der",
            ],
            dir.path(),
        ),
        "openssl sign",
    );
    // Our PKCS#8 reader takes OpenSSL's key file and derives the same public key.
    let pem = std::fs::read_to_string(dir.path().join("key.pem")).expect("read");
    let key = SigningKey::from_pkcs8_pem(&pem).expect("OpenSSL's PKCS#8 SM2 key");
    let spki = std::fs::read(dir.path().join("pub.der")).expect("read");
    let sec1 = key.public_key_sec1();
    assert!(
        spki.ends_with(&sec1),
        "OpenSSL's SubjectPublicKeyInfo ends with the SEC1 point"
    );
    assert_eq!(
        key.public_key_pem().expect("pem").as_bytes(),
        openssl_pub_pem(dir.path())
    );

    let sig = std::fs::read(dir.path().join("sig.der")).expect("read");
    assert!(verify_checkpoint(&sec1, &text, &sig).is_ok());
    assert!(verify_checkpoint(&sec1, &text.replace("1000", "1001"), &sig).is_err());
}

fn openssl_pub_pem(dir: &Path) -> Vec<u8> {
    must(
        openssl(&["pkey", "-in", "key.pem", "-pubout"], dir),
        "openssl pkey -pubout",
    )
    .stdout
}

#[test]
fn openssl_reads_our_private_key_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = SigningKey::generate().expect("key");
    let text = checkpoint_text();
    std::fs::write(
        dir.path().join("key.pem"),
        key.to_pkcs8_pem().expect("pem").as_bytes(),
    )
    .expect("write");
    std::fs::write(dir.path().join("text.txt"), &text).expect("write");
    must(
        openssl(
            &[
                "pkeyutl", "-sign", "-inkey", "key.pem", "-in", "text.txt", "-rawin", "-digest",
                "sm3", "-pkeyopt", DISTID, "-out", "sig.der",
            ],
            dir.path(),
        ),
        "openssl sign with our key file",
    );
    let sig = std::fs::read(dir.path().join("sig.der")).expect("read");
    assert!(verify_checkpoint(&key.public_key_sec1(), &text, &sig).is_ok());
    assert_eq!(
        key.public_key_pem().expect("pem").as_bytes(),
        openssl_pub_pem(dir.path())
    );
}
