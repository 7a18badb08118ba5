//! Sending one alarm notification over one channel (DEVICES.md "Alarm rules and notification";
//! H3): a webhook POST of the alarm JSON signed with HMAC-SM3, an email over SMTP (`lettre`), or
//! one POST per phone number to an SMS gateway with the channel's body template. What is sent and
//! when (retries, the hourly cap, reminders) is decided by `alarms::tick` with the domain's policy.
//!
//! An error is answered as text for the delivery record: it never holds a secret (no URL, no
//! password, no signature).

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cyltrace_domain::devices::notify::{
    AlarmVars, ChannelConfig, NewChannel, Phase, SIGNATURE_HEADER, SmtpTls, alarm_text_zh,
    is_json_content_type, render_sms, signature_header,
};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::{Value, json};

/// How long one attempt may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one notification says.
pub struct Notice<'a> {
    pub vars: AlarmVars<'a>,
    /// The alarm as the API shows it (the webhook body carries it).
    pub alarm: Value,
    /// When the attempt is made (the webhook signature's timestamp).
    pub now: DateTime<Utc>,
}

impl Notice<'_> {
    fn phase(&self) -> &'static str {
        match self.vars.phase {
            Phase::Raised => "raised",
            Phase::Repeated => "repeated",
            Phase::Cleared => "cleared",
        }
    }

    /// The webhook body: `{"phase","text","rule","device","alarm"}`.
    pub fn webhook_body(&self) -> Value {
        json!({
            "phase": self.phase(),
            "text": alarm_text_zh(&self.vars),
            "rule": self.vars.rule_name,
            "device": self.vars.device,
            "alarm": self.alarm,
        })
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default()
    })
}

/// Sends `n` over `ch`; the error is a short Chinese reason without secrets.
pub async fn send(ch: &NewChannel, n: &Notice<'_>) -> Result<(), String> {
    match &ch.config {
        ChannelConfig::Webhook { url, secret } => webhook(url, secret.as_deref(), n).await,
        ChannelConfig::Email { .. } => email(&ch.config, n).await,
        ChannelConfig::Sms {
            url,
            body_template,
            content_type,
            phones,
        } => {
            for phone in phones {
                let vars = AlarmVars { phone, ..n.vars };
                let body = render_sms(body_template, &vars, is_json_content_type(content_type));
                let req = client()
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                    .body(body);
                answer(req.send().await, "短信网关").await?;
            }
            Ok(())
        }
    }
}

async fn webhook(url: &str, secret: Option<&str>, n: &Notice<'_>) -> Result<(), String> {
    let body = serde_json::to_vec(&n.webhook_body()).map_err(|e| e.to_string())?;
    let mut req = client()
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(s) = secret {
        req = req.header(
            SIGNATURE_HEADER,
            signature_header(s.as_bytes(), n.now.timestamp(), &body),
        );
    }
    answer(req.body(body).send().await, "Webhook").await
}

/// A 2xx answer is delivered; anything else names the status or the transport error (without the
/// URL, which may carry a token).
async fn answer(r: Result<reqwest::Response, reqwest::Error>, what: &str) -> Result<(), String> {
    match r {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("{what}返回 HTTP {}", resp.status().as_u16())),
        Err(e) => Err(format!("{what}请求失败：{}", e.without_url())),
    }
}

async fn email(config: &ChannelConfig, n: &Notice<'_>) -> Result<(), String> {
    let ChannelConfig::Email {
        smtp_host,
        smtp_port,
        smtp_tls,
        username,
        password,
        from,
        to,
    } = config
    else {
        return Err("不是邮件渠道".to_owned());
    };
    let text = alarm_text_zh(&n.vars);
    let mailbox = |s: &str| -> Result<Mailbox, String> {
        s.parse::<Mailbox>()
            .map_err(|e| format!("邮箱地址无效：{e}"))
    };
    let mut msg = Message::builder()
        .from(mailbox(from)?)
        .subject(text.clone());
    for t in to {
        msg = msg.to(mailbox(t)?);
    }
    let body = format!(
        "{text}\n\n告警编号：{}\n级别：{}\n设备：{}\n详情：{}\n",
        n.vars.alarm_id,
        n.vars.severity.label_zh(),
        n.vars.device,
        n.vars.detail_zh
    );
    let msg = msg
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("邮件内容无效：{e}"))?;
    let builder = match smtp_tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp_host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(smtp_host)
            .map_err(|e| format!("SMTP 配置无效：{e}"))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(smtp_host)
            .map_err(|e| format!("SMTP 配置无效：{e}"))?,
    };
    let mut builder = builder.port(*smtp_port).timeout(Some(TIMEOUT));
    if let (Some(u), Some(p)) = (username, password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(drop)
        .map_err(|e| format!("SMTP 发送失败：{e}"))
}
