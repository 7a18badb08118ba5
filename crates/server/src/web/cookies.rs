//! The node's cookies: their names and attributes in one place. Every cookie is `HttpOnly`,
//! `SameSite=Strict` and path `/`. When browsers reach the node over HTTPS ([`Config::https`]: it
//! serves TLS itself, or its `public_url` is `https://…` behind a proxy) each is also `Secure` and
//! named with the `__Host-` prefix, so that a cookie planted over plain HTTP or by a sibling host
//! can never stand in for it; only the prefixed name is read then.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

use crate::config::Config;

/// A browser's session token.
pub const SESSION: &str = "cyltrace_session";
/// The sign-in form's double-submit token.
pub const LOGIN: &str = "cyltrace_login";
/// The second step of a sign-in (an account with a second factor): whose password was right.
pub const LOGIN_STEP: &str = "cyltrace_login_step";
/// The double-submit tokens of the public complaint and order forms.
pub const COMPLAINT: &str = "cyltrace_complaint";
pub const ORDER: &str = "cyltrace_order";

/// The name `base` goes by on this node.
pub fn name(config: &Config, base: &'static str) -> Cow<'static, str> {
    if config.https() {
        Cow::Owned(format!("__Host-{base}"))
    } else {
        Cow::Borrowed(base)
    }
}

/// `Set-Cookie` for `base` = `value`, living `max_age_secs` (0 with an empty value clears it);
/// without `max_age_secs` a session cookie.
pub fn set(
    config: &Config,
    base: &'static str,
    value: &str,
    max_age_secs: Option<i64>,
) -> HeaderValue {
    let mut c = Cookie::build((name(config, base), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(config.https());
    if let Some(secs) = max_age_secs {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    // Our names and values (hex, tokens) are always valid header text.
    HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of `base` sent with the request (none when absent or empty).
pub fn get(config: &Config, headers: &HeaderMap, base: &'static str) -> Option<String> {
    let wanted = name(config, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == wanted)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    // G5: under HTTPS the session cookie is `__Host-`, Secure, path /; the bare name is not read.
    #[test]
    fn https_cookies_are_host_prefixed_and_secure() {
        let config = Config {
            public_url: "https://cyl.example.cn".to_owned(),
            ..Config::default()
        };
        let set = set(&config, SESSION, "tok", Some(60));
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-cyltrace_session=tok"), "{set}");
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(set.contains(attr), "{attr} missing in {set}");
        }
        assert!(!set.contains("Domain"), "{set}");
        assert_eq!(
            get(&config, &headers("cyltrace_session=planted"), SESSION),
            None
        );
        assert_eq!(
            get(
                &config,
                &headers("a=1; __Host-cyltrace_session=tok"),
                SESSION
            )
            .as_deref(),
            Some("tok")
        );
    }

    #[test]
    fn plain_http_cookies_keep_their_names() {
        let config = Config::default();
        let set = set(&config, LOGIN, "abc", None);
        let set = set.to_str().unwrap();
        assert!(set.starts_with("cyltrace_login=abc"), "{set}");
        assert!(!set.contains("Secure"), "{set}");
        assert_eq!(
            get(&config, &headers("cyltrace_login=abc"), LOGIN).as_deref(),
            Some("abc")
        );
    }
}
