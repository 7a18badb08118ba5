//! Tests of `notify`.

use super::*;
use sm3::Digest;

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC (RFC 2104) over SM3 by hand, as an independent check of the `hmac` crate's use.
fn hmac_sm3_by_hand(key: &[u8], msg: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sm3::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sm3::digest([ipad.as_slice(), msg].concat());
    Sm3::digest([opad.as_slice(), inner.as_slice()].concat()).to_vec()
}

// H3: the signature is HMAC-SM3 over "t." ‖ body, checked against a hand-made HMAC.
#[test]
fn webhook_signature_matches_hand_made_hmac_sm3() {
    // SM3 itself, GB/T 32905 example 1.
    assert_eq!(
        hex(&Sm3::digest(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    let body = br#"{"id":"a","severity":"critical","detail":"\u6d53\u5ea6"}"#;
    for key in [
        b"0123456789abcdef".to_vec(),
        vec![0xaa; 64],
        vec![0x0b; 100], // longer than a block: hashed first
    ] {
        let ts = 1_764_836_400;
        let expected = hex(&hmac_sm3_by_hand(
            &key,
            &[b"1764836400.", &body[..]].concat(),
        ));
        let got = sign_webhook(&key, ts, body);
        assert_eq!(got, expected);
        assert_eq!(got.len(), 64);
        assert!(
            got.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(
            signature_header(&key, ts, body),
            format!("t=1764836400,sm3={expected}")
        );
    }
    // Negative timestamps format with their sign.
    assert_eq!(
        sign_webhook(b"k", -5, b""),
        hex(&hmac_sm3_by_hand(b"k", b"-5."))
    );
}

#[test]
fn webhook_verification() {
    let key = b"a-secret-of-16ch";
    let body = b"{\"x\":1}";
    let h = signature_header(key, 1000, body);
    assert!(verify_webhook(key, &h, body, 1000, 300));
    assert!(verify_webhook(key, &h, body, 1300, 300));
    assert!(verify_webhook(key, &h, body, 700, 300));
    assert!(!verify_webhook(key, &h, body, 1301, 300), "too late");
    assert!(!verify_webhook(key, &h, body, 699, 300), "too early");
    assert!(
        !verify_webhook(key, &h, b"{\"x\":2}", 1000, 300),
        "body changed"
    );
    assert!(!verify_webhook(b"another-secret!!", &h, body, 1000, 300));
    // Order and spaces do not matter; upper-case hex is accepted.
    let sig = sign_webhook(key, 1000, body);
    let h2 = format!("sm3={} , t=1000", sig.to_uppercase());
    assert!(verify_webhook(key, &h2, body, 1000, 0));
    // The timestamp is signed: moving it breaks the signature.
    assert!(!verify_webhook(
        key,
        &format!("t=1001,sm3={sig}"),
        body,
        1000,
        300
    ));
    for bad in [
        "",
        "t=1000",
        &format!("sm3={sig}"),
        &format!("t=x,sm3={sig}"),
        &format!("t=1000,sm3={}", &sig[1..]),
        &format!("t=1000,sm3={}zz", &sig[2..]),
        &format!("t=1000,sm3={sig},v=1"),
        &format!("t=1000,t=1000,sm3={sig}"),
    ] {
        assert!(!verify_webhook(key, bad, body, 1000, 300), "{bad}");
    }
}

fn vars<'a>(device: &'a str) -> AlarmVars<'a> {
    AlarmVars {
        alarm_id: Uuid::parse_str("6f1c0c52-0000-4000-8000-000000000001").unwrap(),
        phase: Phase::Raised,
        severity: Severity::Critical,
        rule_name: "浓度过高",
        device,
        detail_zh: "浓度 concentration = 23.5 > 20（持续 60 秒）",
        time: DateTime::parse_from_rfc3339("2026-12-04T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        phone: "13800138000",
    }
}

// H3: the one-line Chinese text.
#[test]
fn alarm_text() {
    assert_eq!(
        alarm_text_zh(&vars("1号报警器")),
        "【严重告警】浓度过高：设备 1号报警器，浓度 concentration = 23.5 > 20（持续 60 秒），2026-12-04 16:00:00"
    );
    let mut v = vars("a\r\nb");
    v.phase = Phase::Cleared;
    let t = alarm_text_zh(&v);
    assert!(t.starts_with("【告警已恢复·严重】"), "{t}");
    assert!(t.contains("设备 a  b，") && !t.contains('\n'), "{t}");
    v.phase = Phase::Repeated;
    assert!(alarm_text_zh(&v).starts_with("【严重告警·未确认提醒】"));
}

// H3: SMS templates; JSON bodies stay valid whatever the device is called.
#[test]
fn sms_template_rendering_and_escaping() {
    let tpl = r#"{"mobile": "{{phone}}", "content": "{{text}}", "level": "{{severity}}", "dev": "{{device}}", "id": "{{alarm_id}}", "at": "{{time}}", "x": "{{other}}"}"#;
    let nasty = "1号\"}, \"evil\": \"1\\";
    let body = render_sms(tpl, &vars(nasty), true);
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["dev"], nasty);
    assert_eq!(v["mobile"], "13800138000");
    assert_eq!(v["level"], "严重");
    assert_eq!(v["id"], "6f1c0c52-0000-4000-8000-000000000001");
    assert_eq!(v["at"], "2026-12-04 16:00:00");
    assert_eq!(v["content"], alarm_text_zh(&vars(nasty)).as_str());
    assert_eq!(v["x"], "{{other}}");
    assert!(v.get("evil").is_none());
    // Not JSON: the values as they are.
    assert_eq!(
        render_sms("to={{phone}}&d={{device}}&{{", &vars("a\"b"), false),
        "to=13800138000&d=a\"b&{{"
    );
    assert_eq!(
        render_sms("{{phone}}{{phone}}", &vars(""), true),
        "1380013800013800138000"
    );
}

proptest::proptest! {
    // H3: whatever a device or rule is called, a JSON SMS body stays valid JSON and carries
    // the names unchanged.
    #[test]
    fn json_sms_body_is_always_valid(device in ".*", rule in ".*") {
        let tpl = r#"{"d": "{{device}}", "t": "{{text}}"}"#;
        let mut v = vars(&device);
        v.rule_name = &rule;
        let body = render_sms(tpl, &v, true);
        let parsed: Value = serde_json::from_str(&body).expect("valid JSON");
        proptest::prop_assert_eq!(parsed["d"].as_str(), Some(device.as_str()));
        let text = alarm_text_zh(&v);
        proptest::prop_assert_eq!(parsed["t"].as_str(), Some(text.as_str()));
    }
}

proptest::proptest! {
    // H3: the channel parser never panics nor refuses without a reason.
    #[test]
    fn channel_parser_never_panics(
        kind in proptest::prop_oneof![
            proptest::strategy::Just("webhook"),
            proptest::strategy::Just("email"),
            proptest::strategy::Just("sms"),
        ],
        key in proptest::prop_oneof![
            proptest::strategy::Just("url"), proptest::strategy::Just("secret"),
            proptest::strategy::Just("smtp_host"), proptest::strategy::Just("smtp_port"),
            proptest::strategy::Just("smtp_tls"), proptest::strategy::Just("to"),
            proptest::strategy::Just("body_template"), proptest::strategy::Just("phones"),
            proptest::strategy::Just("max_per_hour"), proptest::strategy::Just("name"),
        ],
        value in crate::devices::rules::tests::arb_json(),
    ) {
        let mut v = match kind {
            "webhook" => json!({"kind": "webhook", "name": "w", "url": "https://h.example/x"}),
            "email" => json!({"kind": "email", "name": "e", "smtp_host": "smtp.example.com",
                "from": "a@example.com", "to": ["b@example.com"]}),
            _ => json!({"kind": "sms", "name": "s", "url": "https://gw.example/",
                "body_template": "{\"c\": \"{{text}}\"}", "phones": ["13800138000"]}),
        };
        v[key] = value;
        match parse_channel(&v) {
            Ok(c) => proptest::prop_assert_eq!(parse_channel(&c.to_json()), Ok(c)),
            Err(e) => proptest::prop_assert!(!e.is_empty()),
        }
    }
}

#[test]
fn backoff_and_give_up() {
    let secs: Vec<u64> = (1..=7).map(|a| backoff(a).as_secs()).collect();
    assert_eq!(secs, [5, 30, 120, 600, 1800, 1800, 1800]);
    assert_eq!(backoff(0).as_secs(), 5);
    assert_eq!(MAX_ATTEMPTS, 6);
    assert_eq!(retry_after(1), Some(Duration::from_secs(5)));
    assert_eq!(retry_after(5), Some(Duration::from_secs(1800)));
    assert_eq!(retry_after(6), None);
    // The whole schedule spans 5 s + 30 s + 2 min + 10 min + 30 min before giving up.
    let total: u64 = (1..MAX_ATTEMPTS).map(|a| backoff(a).as_secs()).sum();
    assert_eq!(total, 5 + 30 + 120 + 600 + 1800);
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(1_764_835_200 + secs)
}

// H3: max_per_hour caps a flapping device's notifications over a rolling hour.
#[test]
fn hourly_cap_rolls() {
    let mut cap = HourlyCap::new(3);
    assert!(cap.admit(at(0)));
    assert!(cap.admit(at(10)));
    assert!(cap.admit(at(20)));
    assert!(!cap.admit(at(30)));
    assert!(!cap.admit(at(3599)));
    assert_eq!(cap.count(at(3599)), 3);
    assert!(cap.admit(at(3600)), "the first one left the window");
    assert!(!cap.admit(at(3605)));
    assert!(cap.admit(at(3610)));
    assert_eq!(cap.count(at(3610)), 3);
    cap.set_max(4);
    assert!(cap.admit(at(3611)));
    assert!(!cap.admit(at(3612)));
    // Rebuilt from recorded deliveries after a restart, in any order.
    let mut cap = HourlyCap::with_history(2, [at(100), at(-5000), at(50)]);
    assert_eq!(cap.count(at(200)), 2);
    assert!(!cap.admit(at(200)));
    assert!(cap.admit(at(3650)));
    let mut none = HourlyCap::new(0);
    assert!(!none.admit(at(0)));
}

// H3: repeat_every_secs re-notifies only unacknowledged alarms.
#[test]
fn repeats() {
    assert!(!due_repeat(at(0), None, false, at(100_000)));
    assert!(!due_repeat(at(0), Some(600), false, at(599)));
    assert!(due_repeat(at(0), Some(600), false, at(600)));
    assert!(!due_repeat(at(0), Some(600), true, at(6000)));
    assert!(!due_repeat(at(0), Some(600), false, at(-10)));
}

fn errs(v: Value) -> Vec<(String, String)> {
    parse_channel(&v)
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

fn names(v: Value) -> Vec<String> {
    errs(v).into_iter().map(|(f, _)| f).collect()
}

fn ok(v: Value) -> NewChannel {
    let c = parse_channel(&v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parse_channel(&c.to_json()).unwrap(), c, "round trip");
    c
}

// H3: the three kinds parse with their defaults.
#[test]
fn good_channels_parse() {
    let c = ok(json!({"kind": "webhook", "name": "值班系统",
        "url": "https://hooks.example.com/cyl?x=1", "secret": "0123456789abcdef"}));
    assert_eq!(c.kind(), "webhook");
    assert_eq!(c.max_per_hour, 60);
    assert_eq!(c.repeat_every_secs, None);
    assert_eq!(
        c.config,
        ChannelConfig::Webhook {
            url: "https://hooks.example.com/cyl?x=1".into(),
            secret: Some("0123456789abcdef".into())
        }
    );
    let red = c.redacted_json();
    assert!(red.get("secret").is_none() && red["has_secret"] == json!(true));
    ok(json!({"kind": "webhook", "name": "w", "url": "http://127.0.0.1:8080/", "secret": null}));

    let c = ok(
        json!({"kind": "email", "name": "邮件", "smtp_host": "smtp.example.com",
        "from": "alarm@example.com", "to": ["a@example.com", "b.c+d@mail.example.cn"],
        "repeat_every_secs": 1800, "max_per_hour": 10000}),
    );
    match &c.config {
        ChannelConfig::Email {
            smtp_port,
            smtp_tls,
            to,
            username,
            ..
        } => {
            assert_eq!((*smtp_port, *smtp_tls), (25, SmtpTls::None));
            assert_eq!(to.len(), 2);
            assert_eq!(username, &None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((c.repeat_every_secs, c.max_per_hour), (Some(1800), 10000));
    let c = ok(
        json!({"kind": "email", "name": "e", "smtp_host": "10.0.0.5",
        "smtp_port": 465, "username": "u", "password": "p", "from": "a@localhost",
        "to": ["x@example.com"]}),
    );
    assert!(matches!(
        c.config,
        ChannelConfig::Email {
            smtp_tls: SmtpTls::Tls,
            ..
        }
    ));
    let red = c.redacted_json();
    assert!(red.get("password").is_none() && red["has_password"] == json!(true));
    let c = ok(
        json!({"kind": "email", "name": "e", "smtp_host": "smtp.example.com",
        "smtp_port": 587, "smtp_tls": "none", "from": "a@example.com", "to": ["b@example.com"]}),
    );
    assert!(matches!(
        c.config,
        ChannelConfig::Email {
            smtp_tls: SmtpTls::None,
            ..
        }
    ));

    let c = ok(
        json!({"kind": "sms", "name": "短信", "url": "https://sms.example.com/send",
        "body_template": "{\"phone\": \"{{phone}}\", \"msg\": \"{{text}}\"}",
        "phones": ["13800138000", "19912345678"]}),
    );
    match &c.config {
        ChannelConfig::Sms {
            content_type,
            phones,
            ..
        } => {
            assert_eq!(content_type, "application/json");
            assert_eq!(phones.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    // A form body need not be JSON.
    ok(
        json!({"kind": "sms", "name": "s", "url": "http://gw.local/send",
        "content_type": "application/x-www-form-urlencoded; charset=utf-8",
        "body_template": "m={{phone}}&c={{text}}", "phones": ["15000000000"]}),
    );
}

// H3: every bad field is named, in Chinese.
#[test]
fn bad_channels_name_every_field() {
    assert_eq!(names(json!([])), [""]);
    assert_eq!(names(json!({})), ["kind", "name"]);
    assert_eq!(names(json!({"kind": "fax", "name": "x"})), ["kind"]);
    let e = errs(
        json!({"kind": "webhook", "name": "", "url": "ftp://x/", "secret": "short",
        "repeat_every_secs": 0, "max_per_hour": 10001, "to": []}),
    );
    let f: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        f,
        [
            "to",
            "name",
            "repeat_every_secs",
            "max_per_hour",
            "url",
            "secret"
        ]
    );
    assert!(
        e.iter().all(|(_, m)| m.chars().any(|c| c > '\u{2e80}')),
        "{e:?}"
    );
    assert_eq!(
        names(json!({"kind": "webhook", "name": "n", "url": "https://"})),
        ["url"]
    );
    assert_eq!(
        names(json!({"kind": "webhook", "name": "n", "url": "not a url"})),
        ["url"]
    );
    assert_eq!(names(json!({"kind": "webhook", "name": "n"})), ["url"]);

    assert_eq!(
        names(
            json!({"kind": "email", "name": "e", "smtp_host": "bad host", "smtp_port": 0,
            "smtp_tls": "ssl", "username": "u", "from": "nobody", "to": ["ok@example.com",
            "a b@example.com", "ok@EXAMPLE.com", "x@-bad-.com", 5]})
        ),
        [
            "smtp_host",
            "smtp_port",
            "smtp_tls",
            "password",
            "from",
            "to[1]",
            "to[2]",
            "to[3]",
            "to[4]"
        ]
    );
    assert_eq!(
        names(
            json!({"kind": "email", "name": "e", "smtp_host": "h", "password": "p",
            "from": "a@b.c", "to": []})
        ),
        ["username", "to"]
    );
    let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
    assert_eq!(
        names(
            json!({"kind": "email", "name": "e", "smtp_host": "h", "from": "a@b.c",
            "to": many, "url": "http://x/"})
        ),
        ["url", "to"]
    );

    let e = errs(json!({"kind": "sms", "name": "s", "url": "https://gw/",
        "body_template": "{\"m\": \"{{mobile}}\"}", "phones": ["12800138000", "1380013800",
        "13800138000", "13800138000", "+8613800138000"]}));
    let f: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        f,
        [
            "body_template",
            "phones[0]",
            "phones[1]",
            "phones[3]",
            "phones[4]"
        ]
    );
    assert!(e[0].1.contains("{{mobile}}"), "{}", e[0].1);
    // Placeholders outside JSON strings break a JSON body: refused.
    assert_eq!(
        names(json!({"kind": "sms", "name": "s", "url": "https://gw/",
            "body_template": "{\"c\": {{text}}}", "phones": ["13800138000"]})),
        ["body_template"]
    );
    assert_eq!(
        names(json!({"kind": "sms", "name": "s", "url": "https://gw/",
            "content_type": "json please", "body_template": "x", "phones": []})),
        ["content_type", "phones"]
    );
    assert_eq!(
        names(
            json!({"kind": "sms", "name": "s", "url": "https://gw/", "body_template": " ",
            "phones": "13800138000"})
        ),
        ["body_template", "phones"]
    );
}

#[test]
fn address_and_phone_checks() {
    for good in ["a@b", "ops.team+cyl@example.com", "x_y@mail-1.example.cn"] {
        assert!(is_email_address(good), "{good}");
    }
    for bad in [
        "",
        "a",
        "@b.com",
        "a@",
        "a@@b.com",
        "a b@c.com",
        ".a@b.com",
        "a..b@c.com",
        "a@b..com",
        "a@-b.com",
        "<a@b.com>",
        "a@b.com\n",
        "张@b.com",
        "a@例子.cn",
    ] {
        assert!(!is_email_address(bad), "{bad}");
    }
    for good in ["13000000000", "19999999999", "15012345678"] {
        assert!(is_mainland_mobile(good), "{good}");
    }
    for bad in [
        "12000000000",
        "1300000000",
        "130000000000",
        "1300000000a",
        "",
        "+8613000000000",
    ] {
        assert!(!is_mainland_mobile(bad), "{bad}");
    }
    assert!(is_json_content_type("application/json"));
    assert!(is_json_content_type("Application/JSON; charset=utf-8"));
    assert!(is_json_content_type("application/vnd.gw+json"));
    assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    assert!(!is_json_content_type("text/plain"));
}
