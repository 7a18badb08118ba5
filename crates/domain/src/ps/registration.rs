//! Usage-registration applications (§7.1 ApplyNew, §7.2 ApplyOld) and the 12-digit registration
//! numbers a registering authority assigns.

use serde_json::Value;
use uuid::Uuid;

use crate::archive::{Archive, Registration, Valve};
use crate::codes::CylinderCode;
use crate::error::ValidationErrors;
use crate::time::MonthOrDate;
use crate::units::Text;

use super::*;

/// A usage-registration application (§7.1 ApplyNew, §7.2 ApplyOld).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrationApply {
    pub third_id: String,
    /// The cylinders' common data, as archives without codes.
    pub overview: Archive,
    /// `Overview.Factory`: the maker's id in the regulator's catalogue.
    pub factory_id: i64,
    pub remark: Option<String>,
    /// `PayImage`, `BatchImage`, `DeviceImage`: paths returned by `/PS/File/Upload`.
    pub images: [String; 3],
    pub items: Vec<ApplyItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyItem {
    pub code: CylinderCode,
    pub printno: Text,
    pub inner_no: Option<Text>,
}

/// An archive field's name in an application's `Overview`.
fn overview_name(field: &str) -> &'static str {
    match field {
        "next_check_date" => "NextDate",
        "discard_date" => "DiscardDate",
        "last_check_date" => "CheckDate",
        "manufacture_date" => "CreateDate",
        "medium" => "Medium",
        "style" => "Style",
        "valve" => "Valve",
        _ => "IdleWeight",
    }
}

impl RegistrationApply {
    /// The plausible-value rules that need today (China calendar): nothing made or checked after
    /// `today`, named by the `Overview`'s own names.
    pub fn check_on(&self, today: chrono::NaiveDate) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        if let Err(e) = self.overview.validate_on(today) {
            for f in e.0 {
                errs.push(
                    crate::error::join_path("Overview", overview_name(&f.field)),
                    f.message,
                );
            }
        }
        errs.into_result(())
    }

    pub fn parse(body: &Value) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let root = Obj::root(body, &mut errs)?;
        let third_id = root.id("ThirdId", &mut errs);
        let ov = root.obj("Overview", &mut errs);
        let mut overview = Archive::blank(CylinderCode::parse("0000000000").expect("ten digits"));
        let mut factory_id = None;
        let mut remark = None;
        let mut images: [String; 3] = Default::default();
        if let Some(o) = &ov {
            overview.style = o.text("Style", &mut errs);
            overview.medium = o.text("Medium", &mut errs);
            factory_id = o.int("Factory", &mut errs);
            overview.manufacture_date = o.date("CreateDate", &mut errs).map(MonthOrDate::day);
            overview.discard_date = o.date("DiscardDate", &mut errs);
            overview.last_check_date = o.date("CheckDate", &mut errs);
            overview.next_check_date = o.date("NextDate", &mut errs);
            overview.tare_kg = o.kg("IdleWeight", &mut errs);
            remark = o.opt_string("Remark", &mut errs);
            overview.valve = o.int("Valve", &mut errs).and_then(|v| {
                match u8::try_from(v)
                    .map_err(|_| v.to_string())
                    .and_then(Valve::try_from)
                {
                    Ok(v) => Some(v),
                    Err(m) => {
                        errs.push(o.at("Valve"), m);
                        None
                    }
                }
            });
            for (slot, name) in images
                .iter_mut()
                .zip(["PayImage", "BatchImage", "DeviceImage"])
            {
                *slot = o.str(name, &mut errs).unwrap_or_default();
            }
            if let Err(e) = overview.validate() {
                for f in e.0 {
                    errs.push(o.at(overview_name(&f.field)), f.message);
                }
            }
        }
        let mut items = Vec::new();
        let list = root.array("Items", &mut errs);
        if list.is_empty() && root.has("Items") {
            errs.push("Items", "至少需要一个气瓶");
        }
        if list.len() > MAX_ITEMS {
            // Refused by its length before any item is read (issue 22, found fuzzing): each
            // Barcode is compared with all before it.
            errs.push("Items", format!("一次最多申请 {MAX_ITEMS} 个气瓶"));
            return Err(errs);
        }
        for (i, v) in list.iter().enumerate() {
            let Some(it) = Obj::new(v, format!("Items[{i}]"), &mut errs) else {
                continue;
            };
            let code = it.code("Barcode", &mut errs);
            let printno = it.text("Printno", &mut errs);
            let inner_no = it
                .opt_string("InnerNo", &mut errs)
                .and_then(|s| it.parse_text("InnerNo", &s, &mut errs));
            if let Some(c) = &code
                && let Some(j) = items.iter().position(|x: &ApplyItem| &x.code == c)
            {
                errs.push(
                    it.at("Barcode"),
                    format!("与 Items[{j}] 的气瓶条码 {c} 重复"),
                );
            }
            if let (Some(code), Some(printno)) = (code, printno) {
                items.push(ApplyItem {
                    code,
                    printno,
                    inner_no,
                });
            }
        }
        let out = match (third_id, factory_id) {
            (Some(third_id), Some(factory_id)) => Some(RegistrationApply {
                third_id,
                overview,
                factory_id,
                remark,
                images,
                items,
            }),
            _ => None,
        };
        errs.into_result(out).map(|o| o.expect("no errors"))
    }

    /// The archive of item `i` once registered with `registration`, owned by `owner`.
    pub fn archive(&self, i: usize, owner: Uuid, registration: Registration) -> Archive {
        let it = &self.items[i];
        let mut a = self.overview.clone();
        a.code = it.code.clone();
        a.factory_serial = Some(it.printno.clone());
        a.inner_no = it.inner_no.clone();
        a.owner_org_id = Some(owner);
        a.registration = Some(registration);
        a
    }
}

/// The 12-digit usage registration number (DOMAIN.md): variety (1 digit) + province (2) + user unit
/// (3) + sequence (6).
pub fn registration_number(variety: u8, province: &str, unit: u32, seq: u32) -> String {
    format!(
        "{}{:0>2}{:03}{:06}",
        variety % 10,
        &province[..province.len().min(2)],
        unit % 1000,
        seq % 1_000_000
    )
}
