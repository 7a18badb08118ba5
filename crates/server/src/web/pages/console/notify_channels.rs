//! 通知渠道 (issue 18, DEVICES.md "Alarm rules and notification"): the enterprise's notification
//! channels (secrets never shown) with 删除, and a create form per kind (webhook, email, SMS) whose
//! JSON `services::devices::alarms::create_channel` takes, every reason next to its field.

use axum::extract::{Form, Path, State};
use axum::response::Redirect;
use cyltrace_domain::devices::notify::ChannelConfig;
use cyltrace_store::ChannelRecord;
use serde_json::{Value, json};

use super::alarms::posted;
use super::enterprise;
use super::office::{Posted, object, table_or};
use crate::services::devices::alarms;
use crate::services::parse_id;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Table, local, ok, pe,
};

const CHANNELS: &str = "/console/notify-channels";

const KINDS: &[(&str, &str)] = &[("webhook", "Webhook"), ("email", "邮件"), ("sms", "短信")];

fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("", |(_, l)| *l)
}

/// Where a channel sends, without its secrets.
fn target(c: &ChannelRecord) -> String {
    match &c.channel.config {
        ChannelConfig::Webhook { url, secret } => {
            let signed = if secret.is_some() {
                "（已设签名密钥）"
            } else {
                "（不签名）"
            };
            format!("{url}{signed}")
        }
        ChannelConfig::Email {
            smtp_host,
            smtp_port,
            smtp_tls,
            from,
            to,
            ..
        } => format!(
            "{smtp_host}:{smtp_port}（{}）{from} → {}",
            smtp_tls.as_str(),
            to.join("、")
        ),
        ChannelConfig::Sms { url, phones, .. } => format!("{url} → {}", phones.join("、")),
    }
}

fn common_fields() -> Vec<Field> {
    vec![
        Field::new(
            "repeat_every_secs",
            "重复提醒间隔（秒，可选：报警未确认时按此间隔再次通知）",
            "",
        )
        .kind("number"),
        Field::new("max_per_hour", "每小时最多通知次数（可选，默认 30）", "").kind("number"),
    ]
}

fn channel_form(kind: &'static str) -> FormSpec {
    let mut fields = vec![
        Field::new("kind", "", kind).kind("hidden"),
        Field::new("name", "渠道名称（如 值班群机器人）", "").required(),
    ];
    fields.extend(match kind {
        "webhook" => vec![
            Field::new("url", "地址（http:// 或 https://）", ""),
            Field::new(
                "secret",
                "签名密钥（可选，16–256 个字符，HMAC-SM3 签名）",
                "",
            )
            .kind("password"),
        ],
        "email" => vec![
            Field::new("smtp_host", "SMTP 服务器", ""),
            Field::new("smtp_port", "SMTP 端口（默认 25）", "").kind("number"),
            Field::new("smtp_tls", "加密方式", "").options(vec![
                (
                    String::new(),
                    "按端口自动（465 为 TLS，587 为 STARTTLS）".to_owned(),
                ),
                ("none".to_owned(), "不加密".to_owned()),
                ("starttls".to_owned(), "STARTTLS".to_owned()),
                ("tls".to_owned(), "TLS".to_owned()),
            ]),
            Field::new("username", "SMTP 用户名（可选）", ""),
            Field::new("password", "SMTP 密码（有用户名时必填）", "").kind("password"),
            Field::new("from", "发件人（如 alarm@example.com）", ""),
            Field::new("to", "收件人（多个用逗号分隔）", ""),
        ],
        _ => vec![
            Field::new("url", "短信网关地址（http:// 或 https://）", ""),
            Field::new(
                "content_type",
                "内容类型（默认 application/json）",
                "application/json",
            ),
            Field::new(
                "body_template",
                "请求体模板（可用 {phone} {text} {severity} {device} {alarm_id} {time}）",
                "{\"phone\": \"{phone}\", \"text\": \"{text}\"}",
            )
            .kind("textarea"),
            Field::new("phones", "手机号（多个用逗号分隔）", ""),
        ],
    });
    fields.extend(common_fields());
    FormSpec {
        title: format!("新建{}通知渠道", kind_label(kind)),
        action: format!("{CHANNELS}?kind={kind}"),
        fields,
        submit: "创建渠道",
    }
}

async fn channels_page(st: &AppState, v: &Viewer) -> Result<Page, PageError> {
    enterprise(v)?;
    let channels = pe(alarms::list_channels(st, &v.p).await)?;
    let mut page = v.page(st, "通知渠道", CHANNELS).await;
    page.intro = "报警通过这些渠道通知：Webhook（如值班群机器人）、邮件和短信网关。密钥和密码\
                  保存后不再显示；泄漏报警通知本单位的全部渠道，规则报警通知规则所选的渠道。"
        .to_owned();
    let head = "名称 类型 发送到 重复提醒 每小时上限 创建时间 删除";
    let mut t = Table::new("channels", "", &head.split(' ').collect::<Vec<_>>());
    t.rows = channels
        .iter()
        .filter(|c| !c.deleted)
        .map(|c| {
            let repeat = c
                .channel
                .repeat_every_secs
                .map_or_else(|| "不重复".to_owned(), |s| format!("每 {s} 秒"));
            vec![
                Cell::text(&c.channel.name),
                Cell::text(kind_label(c.channel.kind())),
                Cell::text(target(c)),
                Cell::text(repeat),
                Cell::num(c.channel.max_per_hour),
                Cell::text(local(c.created_at)),
                Cell::button(format!("{CHANNELS}/{}/delete", c.id), "删除"),
            ]
        })
        .collect();
    let empty = "尚无通知渠道：在下方新建 Webhook、邮件或短信渠道。";
    page.blocks.push(table_or(t, 0, empty));
    for kind in ["webhook", "email", "sms"] {
        page.blocks.push(Block::Form(channel_form(kind)));
    }
    Ok(page)
}

pub(crate) async fn channels(State(st): State<AppState>, v: Viewer) -> PageResult {
    ok(channels_page(&st, &v).await?)
}

/// A comma-, 、- or space-separated list as a JSON array.
fn list_of(s: &str) -> Value {
    let items: Vec<&str> = s
        .split([',', '，', '、', ' ', ';', '；'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    json!(items)
}

/// The body of `create_channel` from the form of its kind.
fn channel_body(f: &Posted, kind: &str) -> Value {
    let mut members = vec![("kind", json!(kind)), ("name", f.required("name"))];
    members.extend(match kind {
        "webhook" => vec![("url", f.required("url")), ("secret", f.text("secret"))],
        "email" => vec![
            ("smtp_host", f.required("smtp_host")),
            ("smtp_port", f.number("smtp_port")),
            ("smtp_tls", f.text("smtp_tls")),
            ("username", f.text("username")),
            ("password", f.text("password")),
            ("from", f.required("from")),
            ("to", list_of(f.get("to"))),
        ],
        _ => vec![
            ("url", f.required("url")),
            ("content_type", f.text("content_type")),
            ("body_template", f.required("body_template")),
            ("phones", list_of(f.get("phones"))),
        ],
    });
    members.push(("repeat_every_secs", f.number("repeat_every_secs")));
    members.push(("max_per_hour", f.number("max_per_hour")));
    object(members)
}

pub(crate) async fn create_channel(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    let f = posted(&v, f)?;
    let kind = KINDS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == f.get("kind"))
        .unwrap_or("webhook");
    match alarms::create_channel(&st, &v.p, &channel_body(&f, kind)).await {
        Ok(c) => Ok(noted(
            Redirect::to(CHANNELS),
            format!("notify channel {} ({kind}) created", c.id),
        )),
        Err(e) => {
            let action = format!("{CHANNELS}?kind={kind}");
            let failure = FormFailure::of(&action, f.sent(), e)?;
            channels_page(&st, &v).await?.refused(failure)
        }
    }
}

pub(crate) async fn delete_channel(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> PageResult {
    posted(&v, f)?;
    let id = pe(parse_id(&id, "通知渠道"))?;
    pe(alarms::delete_channel(&st, &v.p, id).await)?;
    Ok(noted(
        Redirect::to(CHANNELS),
        format!("notify channel {id} deleted"),
    ))
}
