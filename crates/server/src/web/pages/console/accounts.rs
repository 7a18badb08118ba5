//! Accounts managed by admins (G5): the node admin's 用户管理 (`/admin/users`, every user of the
//! node) and the enterprise admin's staff accounts (`/console/staff`, created there; edited at
//! `/console/staff/{id}`). The edit page changes name, roles (only those the admin may grant) and
//! whether the account is active (停用 ends its sessions at once), resets the password (optionally
//! as a temporary one, to be changed at the next login) and the second factor. Every form carries
//! the session's CSRF token and comes back filled in, with each reason next to its field, when
//! refused.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query, State};
use axum::response::Redirect;
use cyltrace_domain::Role;
use cyltrace_domain::access::may_grant;
use cyltrace_store::{Page as StorePage, UserRecord};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::services::{accounts as svc, orgs};
use crate::state::AppState;
use crate::web::extract::Viewer;
use crate::web::middleware::noted;
use crate::web::pages::kit::{
    Block, Cell, Field, FormFailure, FormSpec, Page, PageError, PageResult, Pager, Table, local,
    ok, pe,
};

/// Where an account is managed from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    /// `/admin/users`: the node admin.
    Admin,
    /// `/console/staff`: the enterprise admin.
    Staff,
}

impl Base {
    fn path(self) -> &'static str {
        match self {
            Base::Admin => "/admin/users",
            Base::Staff => "/console/staff",
        }
    }

    fn check(self, v: &Viewer) -> Result<(), PageError> {
        match self {
            Base::Admin => v.require_role(&[Role::NodeAdmin]),
            Base::Staff => v.require_role(&[Role::EnterpriseAdmin, Role::NodeAdmin]),
        }
    }
}

/// The roles the viewer may give on these pages (customers are not staff).
fn grantable(v: &Viewer) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|r| *r != Role::Customer && may_grant(&v.p.roles, *r))
        .collect()
}

fn roles_zh(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.label_zh())
        .collect::<Vec<_>>()
        .join("、")
}

/// 启用 / 停用, with the temporary password and the second factor noted.
pub(super) fn state_cell(u: &UserRecord) -> Cell {
    if !u.active {
        return Cell::text("停用").class("bad");
    }
    let mut s = "启用".to_owned();
    if u.must_change_password {
        s.push_str("（临时密码）");
    }
    Cell::text(s).class("ok")
}

pub(super) fn totp_cell(u: &UserRecord) -> Cell {
    Cell::text(if u.totp_enabled { "已绑定" } else { "—" })
}

/// One checkbox per role the viewer may grant, checked for `held`.
fn role_fields(v: &Viewer, held: &[Role]) -> Vec<Field> {
    grantable(v)
        .into_iter()
        .map(|r| {
            Field::new(
                r.as_str(),
                r.label_zh(),
                if held.contains(&r) { "on" } else { "" },
            )
            .kind("checkbox")
        })
        .collect()
}

/// The roles ticked in a submitted form, and every role box as sent (unticked ones as ""), so that
/// a refused form comes back as it was.
fn ticked(v: &Viewer, f: &HashMap<String, String>) -> (Vec<&'static str>, Vec<(String, String)>) {
    let mut roles = Vec::new();
    let mut values = Vec::new();
    for r in grantable(v) {
        let on = f.get(r.as_str()).is_some_and(|x| x == "on");
        if on {
            roles.push(r.as_str());
        }
        values.push((r.as_str().to_owned(), if on { "on" } else { "" }.to_owned()));
    }
    (roles, values)
}

/// Errors about `roles` have no field of that name on the page (one box per role): they are
/// shown above the form, in words.
fn roles_in_words(mut failure: FormFailure) -> FormFailure {
    for e in &mut failure.errors {
        if e.field.starts_with("roles") {
            e.field = String::new();
            e.message = format!("角色：{}", e.message);
        }
    }
    failure
}

fn field_value<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map_or("", String::as_str)
}

// ------------------------------------------------------------------------------------ the lists

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    page: Option<i64>,
}

const ROWS: i64 = 100;

/// 用户管理: every user of the node, with state, roles and second factor.
pub(super) async fn users(
    State(st): State<AppState>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> PageResult {
    Base::Admin.check(&v)?;
    let n = q.page.unwrap_or(0).clamp(0, 10_000);
    let users = pe(orgs::list_users(
        &st,
        &v.p,
        StorePage {
            limit: ROWS + 1,
            offset: n * ROWS,
        },
    )
    .await)?;
    let more = users.len() as i64 > ROWS;
    let mut page = v.page(&st, "用户管理", "/admin/users").await;
    page.intro = "点击用户名修改姓名、角色、启用或停用账户，重置密码或动态口令。停用的账户立即退出所有登录。"
        .to_owned();
    let mut t = Table::new(
        "users",
        "",
        &["用户名", "姓名", "角色", "状态", "动态口令", "创建时间"],
    );
    t.rows = users
        .iter()
        .take(ROWS as usize)
        .map(|u| {
            vec![
                Cell::link(&u.username, format!("/admin/users/{}", u.id)),
                Cell::text(&u.name),
                Cell::text(roles_zh(&u.roles)),
                state_cell(u),
                totp_cell(u),
                Cell::text(local(u.created_at)),
            ]
        })
        .collect();
    t.pager = Some(Pager {
        prev: if n > 0 {
            format!("/admin/users?page={}", n - 1)
        } else {
            String::new()
        },
        next: if more {
            format!("/admin/users?page={}", n + 1)
        } else {
            String::new()
        },
        note: format!("第 {} 页", n + 1),
    });
    page.blocks.push(Block::Table(t));
    ok(page)
}

/// The form that creates a staff account of the viewer's organisation (`/console/staff`).
pub(super) fn staff_form(v: &Viewer) -> FormSpec {
    let mut fields = vec![
        Field::new("username", "用户名", "").required(),
        Field::new("name", "姓名", "").required(),
        Field::new("password", "初始密码", "")
            .kind("password")
            .required(),
    ];
    fields.extend(role_fields(v, &[]));
    FormSpec {
        title: "新建员工账户".to_owned(),
        action: "/console/staff".to_owned(),
        fields,
        submit: "创建账户",
    }
}

/// Creates a staff account of the viewer's organisation.
pub(super) async fn create_staff(
    State(st): State<AppState>,
    v: Viewer,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    Base::Staff.check(&v)?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let (roles, mut values) = ticked(&v, &f);
    let body = json!({
        "username": field_value(&f, "username").trim(), "name": field_value(&f, "name"),
        "password": field_value(&f, "password"), "org_id": v.p.org_id, "roles": roles,
    });
    match orgs::create_user(&st, &v.p, &body).await {
        Ok(u) => Ok(noted(
            Redirect::to(&format!("/console/staff/{}", u.id)),
            format!("user {} {} roles {}", u.id, u.username, roles.join(",")),
        )),
        Err(e) => {
            values.push((
                "username".to_owned(),
                field_value(&f, "username").to_owned(),
            ));
            values.push(("name".to_owned(), field_value(&f, "name").to_owned()));
            let failure = roles_in_words(FormFailure::of("/console/staff", values, e)?);
            super::admin::staff_page(&st, &v).await?.refused(failure)
        }
    }
}

// --------------------------------------------------------------------------------- one account

#[derive(Deserialize, Default)]
pub(super) struct Saved {
    done: Option<String>,
}

async fn edit_page(
    st: &AppState,
    v: &Viewer,
    base: Base,
    id: Uuid,
    done: Option<&str>,
) -> Result<Page, PageError> {
    base.check(v)?;
    let u = pe(svc::managed_user(st, &v.p, id).await)?;
    let org = orgs::get_org(st, &v.p, u.org_id).await.ok();
    let mut page = v
        .page(st, &format!("账户 {}", u.username), base.path())
        .await;
    match done {
        Some("saved") => page.blocks.push(Block::Note("已保存。".to_owned())),
        Some("password") => page.blocks.push(Block::Note(
            "密码已重置，该用户的其他登录已全部退出。".to_owned(),
        )),
        Some("totp") => page.blocks.push(Block::Note("动态口令已重置。".to_owned())),
        _ => {}
    }
    page.blocks.push(Block::Facts(
        "账户".to_owned(),
        vec![
            ("用户名".to_owned(), u.username.clone()),
            (
                "所属单位".to_owned(),
                org.map_or_else(String::new, |o| o.name),
            ),
            ("状态".to_owned(), state_cell(&u).text),
            (
                "动态口令".to_owned(),
                if u.totp_enabled {
                    "已绑定"
                } else {
                    "未绑定"
                }
                .to_owned(),
            ),
            ("创建时间".to_owned(), local(u.created_at)),
        ],
    ));
    let action = format!("{}/{}", base.path(), u.id);
    let mut fields = vec![Field::new("name", "姓名", u.name.clone()).required()];
    fields.extend(role_fields(v, &u.roles));
    fields.push(
        Field::new(
            "active",
            "账户状态",
            if u.active { "true" } else { "false" },
        )
        .options(vec![
            ("true".to_owned(), "启用".to_owned()),
            ("false".to_owned(), "停用（立即退出所有登录）".to_owned()),
        ]),
    );
    page.blocks.push(Block::Form(FormSpec {
        title: "姓名、角色与状态".to_owned(),
        action: action.clone(),
        fields,
        submit: "保存",
    }));
    page.blocks.push(Block::Form(FormSpec {
        title: "重置密码".to_owned(),
        action: format!("{action}/password"),
        fields: vec![
            Field::new("password", "新密码", "")
                .kind("password")
                .required(),
            Field::new("temporary", "临时密码（下次登录时须修改）", "on").kind("checkbox"),
        ],
        submit: "重置密码",
    }));
    if u.totp_enabled {
        page.blocks.push(Block::Form(FormSpec {
            title: "重置动态口令（用户手机丢失时）".to_owned(),
            action: format!("{action}/totp"),
            fields: vec![],
            submit: "重置动态口令",
        }));
    }
    Ok(page)
}

async fn show(st: AppState, v: Viewer, base: Base, id: &str, done: Option<&str>) -> PageResult {
    let id = pe(crate::services::parse_id(id, "用户"))?;
    ok(edit_page(&st, &v, base, id, done).await?)
}

pub(super) async fn admin_user(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> PageResult {
    show(st, v, Base::Admin, &id, q.done.as_deref()).await
}

pub(super) async fn staff_user(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> PageResult {
    show(st, v, Base::Staff, &id, q.done.as_deref()).await
}

/// What the edit page's three forms ask of the service.
enum Change {
    Account,
    Password,
    Totp,
}

async fn change(
    st: AppState,
    v: Viewer,
    base: Base,
    id: &str,
    what: Change,
    f: HashMap<String, String>,
) -> PageResult {
    base.check(&v)?;
    v.check_csrf(f.get("_csrf").map(String::as_str))?;
    let id = pe(crate::services::parse_id(id, "用户"))?;
    let action = format!("{}/{id}", base.path());
    let (result, action, values, done) = match what {
        Change::Account => {
            let (roles, mut values) = ticked(&v, &f);
            let active = field_value(&f, "active") != "false";
            let body = json!({"name": field_value(&f, "name"), "roles": roles, "active": active});
            values.push(("name".to_owned(), field_value(&f, "name").to_owned()));
            values.push(("active".to_owned(), active.to_string()));
            let r = svc::update_user(&st, &v.p, id, &body).await.map(|(_, n)| n);
            (r, action, values, "saved")
        }
        Change::Password => {
            let temporary = field_value(&f, "temporary") == "on";
            let body: Value =
                json!({"password": field_value(&f, "password"), "temporary": temporary});
            let values = vec![(
                "temporary".to_owned(),
                if temporary { "on" } else { "" }.to_owned(),
            )];
            let r = svc::set_password(&st, &v.p, id, &body).await;
            (r, format!("{action}/password"), values, "password")
        }
        Change::Totp => {
            let r = svc::reset_totp(&st, &v.p, id).await;
            (r, format!("{action}/totp"), vec![], "totp")
        }
    };
    match result {
        Ok(note) => Ok(noted(
            Redirect::to(&format!("{}/{id}?done={done}", base.path())),
            note,
        )),
        Err(e) => {
            let failure = roles_in_words(FormFailure::of(&action, values, e)?);
            edit_page(&st, &v, base, id, None).await?.refused(failure)
        }
    }
}

pub(super) async fn admin_update(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Admin, &id, Change::Account, f).await
}

pub(super) async fn admin_password(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Admin, &id, Change::Password, f).await
}

pub(super) async fn admin_totp(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Admin, &id, Change::Totp, f).await
}

pub(super) async fn staff_update(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Staff, &id, Change::Account, f).await
}

pub(super) async fn staff_password(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Staff, &id, Change::Password, f).await
}

pub(super) async fn staff_totp(
    State(st): State<AppState>,
    v: Viewer,
    Path(id): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> PageResult {
    change(st, v, Base::Staff, &id, Change::Totp, f).await
}
