//! 账户安全 (`/account`), for everyone signed in: change one's own password; enrol the TOTP second
//! factor with the QR code shown on the page (recovery codes shown once), or turn it off with a
//! current code. `/account/password` and `/account/totp` are also the pages a user is sent to when a
//! temporary password must be changed or a role requires a second factor (G5).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::kit::{Block, Field, FormFailure, FormSpec, Page, PageResult, ok, pe};
use crate::auth::Restriction;
use crate::services::accounts as svc;
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account))
        .route(
            "/account/password",
            get(password_page).post(change_password),
        )
        .route("/account/totp", get(totp_page))
        .route("/account/totp/begin", post(begin_totp))
        .route("/account/totp/confirm", post(confirm_totp))
        .route("/account/totp/disable", post(disable_totp))
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

fn password_form() -> FormSpec {
    FormSpec {
        title: "修改密码".to_owned(),
        action: "/account/password".to_owned(),
        fields: vec![
            Field::new("old_password", "原密码", "")
                .kind("password")
                .required(),
            Field::new("new_password", "新密码", "")
                .kind("password")
                .required(),
            Field::new("new_password2", "再次输入新密码", "")
                .kind("password")
                .required(),
        ],
        submit: "修改密码",
    }
}

fn code_form(title: &str, action: &str, submit: &'static str) -> FormSpec {
    FormSpec {
        title: title.to_owned(),
        action: action.to_owned(),
        fields: vec![Field::new("code", "动态口令", "").required()],
        submit,
    }
}

async fn account_page(
    st: &AppState,
    v: &Viewer,
    done: Option<&str>,
) -> Result<Page, super::kit::PageError> {
    let user = pe(svc::own_account(st, &v.p).await)?;
    let totp = pe(svc::totp_status(st, &v.p).await)?;
    let mut page = v.page(st, "账户安全", "/account").await;
    page.intro = "修改登录密码、绑定手机动态口令（双因素认证），保护您的账户。".to_owned();
    match done {
        Some("password") => page.blocks.push(Block::Note(
            "密码已修改，您在其他设备上的登录已全部退出。".to_owned(),
        )),
        Some("totp-off") => page.blocks.push(Block::Note("动态口令已停用。".to_owned())),
        _ => {}
    }
    page.blocks.push(Block::Facts(
        "账户".to_owned(),
        vec![
            ("用户名".to_owned(), user.username.clone()),
            ("姓名".to_owned(), user.name.clone()),
            (
                "角色".to_owned(),
                user.roles
                    .iter()
                    .map(|r| r.label_zh())
                    .collect::<Vec<_>>()
                    .join("、"),
            ),
            (
                "动态口令".to_owned(),
                if totp.enabled {
                    format!("已启用（剩余恢复码 {} 个）", totp.recovery_codes_left)
                } else if totp.required {
                    "未启用（您的角色要求启用）".to_owned()
                } else {
                    "未启用".to_owned()
                },
            ),
        ],
    ));
    page.blocks.push(Block::Form(password_form()));
    if totp.enabled {
        page.blocks.push(Block::Form(code_form(
            "停用动态口令",
            "/account/totp/disable",
            "停用",
        )));
    } else {
        page.blocks.push(Block::Links(
            "动态口令".to_owned(),
            vec![("/account/totp".to_owned(), "绑定动态口令".to_owned())],
        ));
    }
    Ok(page)
}

async fn account(State(st): State<AppState>, v: Viewer, Query(q): Query<Done>) -> PageResult {
    ok(account_page(&st, &v, q.done.as_deref()).await?)
}

/// The page a user with a temporary password is sent to: only the password form.
async fn forced_password_page(st: &AppState, v: &Viewer) -> Page {
    let mut page = v.page(st, "修改临时密码", "/account").await;
    page.intro =
        "您的密码是管理员设置的临时密码。请先设置一个只有您知道的新密码，然后才能继续使用平台。"
            .to_owned();
    page.blocks.push(Block::Form(password_form()));
    page
}

async fn password_page(State(st): State<AppState>, v: Viewer) -> PageResult {
    if v.p.restriction == Some(Restriction::ChangePassword) {
        return ok(forced_password_page(&st, &v).await);
    }
    ok(account_page(&st, &v, None).await?)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    old_password: String,
    new_password: String,
    new_password2: String,
}

async fn change_password(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    let result = if f.new_password != f.new_password2 {
        Err(crate::error::ApiError::invalid(
            "new_password2",
            "两次输入的新密码不一致",
        ))
    } else {
        let body = json!({"old_password": f.old_password, "new_password": f.new_password});
        svc::change_own_password(&st, &v.p, &body).await
    };
    match result {
        Ok(note) => Ok(noted(Redirect::to("/account?done=password"), note)),
        Err(e) => {
            let failure = FormFailure::of("/account/password", vec![], e)?;
            let page = if v.p.restriction == Some(Restriction::ChangePassword) {
                forced_password_page(&st, &v).await
            } else {
                account_page(&st, &v, None).await?
            };
            page.refused(failure)
        }
    }
}

/// Enrolment: the button that begins it, or (begun) the QR code, the secret and the first code.
async fn enrol_page(st: &AppState, v: &Viewer) -> Result<Page, super::kit::PageError> {
    let mut page = v.page(st, "绑定动态口令", "/account").await;
    let status = pe(svc::totp_status(st, &v.p).await)?;
    page.intro = if status.required {
        "您的角色要求使用动态口令登录（双因素认证）。请在手机上安装验证器应用（如“腾讯身份验证器”、Microsoft Authenticator、Google Authenticator），绑定后才能继续使用平台。".to_owned()
    } else {
        "绑定后，每次登录除密码外还需输入手机验证器上显示的 6 位动态口令。支持“腾讯身份验证器”、Microsoft Authenticator、Google Authenticator 等应用。".to_owned()
    };
    match pe(svc::pending_totp(st, &v.p).await)? {
        Some(e) => {
            page.blocks.push(Block::Svg(
                "第一步：用验证器扫描二维码".to_owned(),
                e.qr_svg,
            ));
            page.blocks.push(Block::Facts(
                "无法扫码时手工输入".to_owned(),
                vec![
                    ("密钥".to_owned(), e.secret),
                    (
                        "类型".to_owned(),
                        "基于时间（TOTP），6 位，30 秒".to_owned(),
                    ),
                ],
            ));
            page.blocks.push(Block::Form(code_form(
                "第二步：输入验证器上显示的 6 位数字",
                "/account/totp/confirm",
                "完成绑定",
            )));
        }
        None => page.blocks.push(Block::Form(FormSpec {
            title: "开始绑定".to_owned(),
            action: "/account/totp/begin".to_owned(),
            fields: vec![],
            submit: "生成二维码",
        })),
    }
    Ok(page)
}

async fn totp_page(State(st): State<AppState>, v: Viewer) -> PageResult {
    if pe(svc::totp_status(&st, &v.p).await)?.enabled {
        return Ok(Redirect::to("/account").into_response());
    }
    ok(enrol_page(&st, &v).await?)
}

async fn begin_totp(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    match svc::begin_totp(&st, &v.p).await {
        Ok(_) => Ok(noted(
            Redirect::to("/account/totp"),
            format!(
                "user {} {}: second factor enrolment begun",
                v.p.user_id, v.p.username
            ),
        )),
        Err(e) => {
            let failure = FormFailure::of("/account/totp/begin", vec![], e)?;
            enrol_page(&st, &v).await?.refused(failure)
        }
    }
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: Option<String>,
    code: String,
}

async fn confirm_totp(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<CodeForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    match svc::confirm_totp(&st, &v.p, &json!({"code": f.code})).await {
        Ok((codes, note)) => {
            let mut page = v.page(&st, "动态口令已绑定", "/account").await;
            page.intro = "今后登录时，请在密码之后输入验证器上的动态口令。".to_owned();
            page.blocks.push(Block::Error(
                "请立即抄写或打印下面的恢复码并妥善保管：手机丢失时，每个恢复码可代替动态口令登录一次。恢复码只显示这一次。".to_owned(),
            ));
            page.blocks.push(Block::Facts(
                "恢复码".to_owned(),
                codes
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (format!("{}", i + 1), c))
                    .collect(),
            ));
            page.blocks.push(Block::Links(
                "继续".to_owned(),
                vec![("/".to_owned(), "我已保存恢复码，进入平台".to_owned())],
            ));
            Ok(noted(ok(page)?, note))
        }
        Err(e) => {
            let failure = FormFailure::of(
                "/account/totp/confirm",
                vec![("code".to_owned(), f.code)],
                e,
            )?;
            enrol_page(&st, &v).await?.refused(failure)
        }
    }
}

async fn disable_totp(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<CodeForm>,
) -> PageResult {
    v.check_csrf(f.csrf.as_deref())?;
    match svc::disable_own_totp(&st, &v.p, &json!({"code": f.code})).await {
        Ok(note) => Ok(noted(Redirect::to("/account?done=totp-off"), note)),
        Err(e) => {
            let failure = FormFailure::of("/account/totp/disable", vec![], e)?;
            account_page(&st, &v, None).await?.refused(failure)
        }
    }
}
