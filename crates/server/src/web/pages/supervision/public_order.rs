//! 预约订气 from the page behind a label (F3): `/q/{code}/order`, a plain form (name, phone,
//! address, day and time of day, how many cylinders) protected by a double-submit cookie and
//! throttled per client address; the request lands in the owning enterprise's order list, and the
//! visitor is told what happens next. The phone is never written to the audit note.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cyltrace_domain::FieldError;
use serde::Deserialize;

use super::public::{
    PublicField, PublicForm, PublicPage, fresh_token, throttle, token_matches, with_token,
};
use crate::error::ApiError;
use crate::services::public_requests::{self as svc, OrderRequestInput, SLOTS, Target};
use crate::state::AppState;
use crate::web::cookies;
use crate::web::extract::ClientIp;
use crate::web::middleware::noted;
use crate::web::pages::kit::{PageResult, error_page, pe, render};
use crate::web::pages::public_label::tel_uri;

fn order_page(st: &AppState, t: &Target) -> PublicPage {
    let code = t.cylinder.as_str();
    let (first, last) = svc::date_range(st.now());
    let mut page = PublicPage::new("预约订气");
    page.paragraphs = vec![format!(
        "留下联系方式和希望送气的时间，{} 将电话联系您确认品种、价格和送气时间，确认后安排配送。",
        if t.org_name.is_empty() {
            "供气企业"
        } else {
            &t.org_name
        }
    )];
    page.form = Some(PublicForm {
        method: "post",
        action: format!("/q/{code}/order"),
        multipart: false,
        csrf: fresh_token(),
        error: String::new(),
        fields: vec![
            PublicField::new("name", "联系人", "text")
                .required()
                .attr("maxlength", "20")
                .attr("autocomplete", "name"),
            PublicField::new("phone", "联系电话", "tel")
                .required()
                .attr("inputmode", "tel")
                .attr("maxlength", "20")
                .attr("autocomplete", "tel")
                .hint("11 位手机号，或带区号的固定电话（如 0871-68881234）"),
            PublicField::new("address", "送气地址", "text")
                .required()
                .attr("maxlength", "200")
                .hint("区县、街道、小区、楼栋和门牌号"),
            PublicField::new("date", "送气日期", "date")
                .required()
                .value(first.to_string())
                .attr("min", first.to_string())
                .attr("max", last.to_string()),
            PublicField::new("slot", "送气时段", "select")
                .required()
                .options(
                    std::iter::once((String::new(), "请选择".to_owned()))
                        .chain(SLOTS.iter().map(|s| (s.0.to_owned(), s.1.to_owned())))
                        .collect(),
                ),
            PublicField::new("quantity", "数量（瓶）", "number")
                .value("1")
                .attr("min", "1")
                .attr("max", svc::MAX_QUANTITY.to_string()),
            PublicField::new("remark", "备注（选填）", "textarea")
                .attr("maxlength", "200")
                .hint("如气瓶规格、楼层、是否有电梯"),
        ],
        submit: "提交预约",
    });
    page.links = t
        .phone
        .iter()
        .map(|p| {
            (
                format!("tel:{}", tel_uri(p)),
                format!("拨打供气企业电话 {p}"),
            )
        })
        .chain([(format!("/q/{code}"), "返回气瓶信息".to_owned())])
        .collect();
    page
}

const FIELDS: [&str; 7] = [
    "name", "phone", "address", "date", "slot", "quantity", "remark",
];

fn refused(
    st: &AppState,
    t: &Target,
    status: StatusCode,
    values: &[(String, String)],
    errors: &[FieldError],
) -> Response {
    let mut page = order_page(st, t);
    if let Some(f) = page.form.as_mut() {
        f.refused(values, errors);
    }
    with_token(st, status, &page, cookies::ORDER)
}

pub(super) async fn order_form(State(st): State<AppState>, Path(code): Path<String>) -> PageResult {
    let t = pe(svc::target(&st, &code).await)?;
    Ok(with_token(
        &st,
        StatusCode::OK,
        &order_page(&st, &t),
        cookies::ORDER,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct OrderForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    phone: String,
    address: String,
    date: String,
    slot: String,
    quantity: String,
    remark: String,
}

impl OrderForm {
    fn values(&self) -> Vec<(String, String)> {
        FIELDS
            .iter()
            .zip([
                &self.name,
                &self.phone,
                &self.address,
                &self.date,
                &self.slot,
                &self.quantity,
                &self.remark,
            ])
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }
}

/// A request from the public: stored for the cylinder's enterprise, answered with what happens next.
pub(super) async fn submit_order(
    State(st): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    Form(f): Form<OrderForm>,
) -> PageResult {
    let t = pe(svc::target(&st, &code).await)?;
    throttle(&st, client)?;
    if !token_matches(&st, &headers, cookies::ORDER, Some(f.csrf.as_str())) {
        return Ok(refused(
            &st,
            &t,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.values(),
            &[FieldError::new("", "页面已过期，请重新填写后提交")],
        ));
    }
    let input = OrderRequestInput {
        name: f.name.clone(),
        phone: f.phone.clone(),
        address: f.address.clone(),
        date: f.date.clone(),
        slot: f.slot.clone(),
        quantity: f.quantity.clone(),
        remark: f.remark.clone(),
    };
    let id = match svc::submit_order_request(&st, &t.cylinder, t.org_id, &input).await {
        Ok(id) => id,
        Err(ApiError::Invalid(v)) => {
            return Ok(refused(
                &st,
                &t,
                StatusCode::UNPROCESSABLE_ENTITY,
                &f.values(),
                &v.0,
            ));
        }
        Err(e) => return Err(error_page(e)),
    };
    let slot = SLOTS
        .iter()
        .find(|s| s.0 == f.slot.trim())
        .map_or("", |s| s.1);
    let mut page = PublicPage::new("预约已提交");
    let who = if t.org_name.is_empty() {
        "供气企业".to_owned()
    } else {
        t.org_name.clone()
    };
    page.paragraphs = vec![
        format!("{who} 已收到您的订气预约，将尽快拨打您留下的电话确认品种、价格和送气时间。"),
        "电话确认后才会安排配送；如长时间无人联系，请直接拨打企业电话。".to_owned(),
        "收气时请扫描气瓶上的二维码，确认显示“可以使用”后再签收。".to_owned(),
    ];
    page.facts = vec![
        ("送气时间".to_owned(), format!("{} {slot}", f.date.trim())),
        ("送气地址".to_owned(), f.address.trim().to_owned()),
    ];
    if let Some(phone) = &t.phone {
        page.facts.push(("企业电话".to_owned(), phone.clone()));
    }
    page.links = vec![(
        format!("/q/{}", t.cylinder.as_str()),
        "返回气瓶信息".to_owned(),
    )];
    let note = format!(
        "order request {id} from the page of cylinder {}",
        t.cylinder.as_str()
    );
    Ok(noted(render(StatusCode::CREATED, &page), note))
}
