//! HTTPS served by the binary itself (issue 22; G5): `tls_cert`/`tls_key` make `cyltrace serve`
//! speak TLS (rustls) with HSTS on every answer and `Secure; __Host-` cookies; a missing or wrong key
//! stops the start naming the setting. The certificate is made for the test with the OpenSSL CLI
//! (`.ci/run` installs it).
// Tests stand at real time.
#![allow(clippy::disallowed_methods)]

mod node;

use std::path::Path;
use std::process::Command;

use node::Node;

/// A self-signed server certificate for 127.0.0.1 (not a CA: rustls refuses a CA certificate as
/// the server's own) and its key, written into `dir`.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let args = "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
                -addext basicConstraints=critical,CA:FALSE -addext extendedKeyUsage=serverAuth";
    let made = Command::new("openssl")
        .args(args.split_whitespace())
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

// G5: HTTPS with HSTS and __Host- cookies; plain HTTP on the same port gets no page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_hsts_and_host_cookies() {
    let certs = tempfile::tempdir().expect("dir");
    let (cert, key) = certificate(certs.path());
    let node = Node::new().await;
    let logs = tempfile::tempdir().expect("dir");
    let running = node
        .start_with(
            logs.path().join("serve.log"),
            &[("CYLTRACE_TLS_CERT", &cert), ("CYLTRACE_TLS_KEY", &key)],
        )
        .await;
    assert!(running.base.starts_with("https://"), "{}", running.base);
    let pem = std::fs::read(&cert).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = client
        .get(format!("{}/healthz", running.base))
        .send()
        .await
        .expect("HTTPS answer");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=31536000")
    );
    let r = client
        .get(format!("{}/login", running.base))
        .send()
        .await
        .expect("login page");
    assert_eq!(r.status().as_u16(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("text").to_owned())
        .collect();
    assert!(!cookies.is_empty());
    for c in &cookies {
        assert!(
            c.starts_with("__Host-") && c.contains("Secure") && c.contains("Path=/"),
            "{c}"
        );
    }
    // Plain HTTP to the TLS port is not answered with a page.
    let plain = reqwest::Client::new()
        .get(running.base.replacen("https://", "http://", 1) + "/healthz")
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP must not be served"
    );
    drop(running);

    // A key that does not match, or a key without its certificate, stops the start naming it.
    let other = certs.path().join("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    let (other_cert, _) = certificate(&other);
    let out = node
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env("CYLTRACE_TLS_CERT", &other_cert)
        .env("CYLTRACE_TLS_KEY", &key)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls_cert/tls_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node
        .command(&["serve", "--listen", "127.0.0.1:0"])
        .env_remove("CYLTRACE_TLS_CERT")
        .env("CYLTRACE_TLS_KEY", &key)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tls_key is set but tls_cert is not"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
