//! What anyone scanning a label may see (F1, F2): the verdict, the owner, the next inspection, the
//! last fill, a short trace with personal data masked, and whether the trace is covered by the
//! latest signed ledger checkpoint (G3).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use cyltrace_domain::time::china_date;
use cyltrace_domain::{CylinderCode, Date, EventKind, Verdict};
use cyltrace_store::StoredEvent;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::state::AppState;

/// Events shown on the phone page.
pub const TRACE_LEN: usize = 10;

pub struct PublicCylinder {
    pub code: String,
    pub verdict: Verdict,
    /// `None` for a code that is not a cylinder of this node.
    pub known: Option<Known>,
}

pub struct Known {
    pub state: &'static str,
    pub owner: Option<String>,
    /// The owner's phone (订气、报修、咨询), when it recorded one.
    pub phone: Option<String>,
    pub medium: Option<String>,
    pub style: Option<String>,
    pub next_check_date: Option<Date>,
    pub last_fill: Option<LastFill>,
    /// Newest first.
    pub trace: Vec<TraceItem>,
    pub ledger: LedgerMark,
}

pub struct LastFill {
    pub time: DateTime<Utc>,
    pub station: Option<String>,
}

pub struct TraceItem {
    pub time: DateTime<Utc>,
    pub kind: EventKind,
    pub site: Option<String>,
    /// Masked (张*).
    pub operator: Option<String>,
    pub ledger_index: i64,
}

pub struct LedgerMark {
    /// Every event of the cylinder lies inside the latest signed checkpoint.
    pub covered: bool,
    pub checkpoint_size: Option<u64>,
    pub checkpoint_time: Option<DateTime<Utc>>,
}

/// A person's name with all but its first character masked: 张三 → 张*; digits (a phone number
/// typed as an operator) keep only their first three and last four.
pub fn mask_name(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= 7 && chars.iter().all(|c| c.is_ascii_digit()) {
        let n = chars.len();
        let mut out: String = chars[..3].iter().collect();
        out.push_str(&"*".repeat(n - 7));
        out.extend(&chars[n - 4..]);
        return out;
    }
    match chars.split_first() {
        Some((first, rest)) => {
            let mut out = first.to_string();
            out.push_str(&"*".repeat(rest.len().max(1)));
            out
        }
        None => String::new(),
    }
}

/// The public view of `code`: no authentication, so nothing beyond what the label page shows.
pub async fn cylinder(st: &AppState, code: &str) -> ApiResult<PublicCylinder> {
    let unknown = || PublicCylinder {
        code: code.trim().to_owned(),
        verdict: Verdict::InvalidLabel,
        known: None,
    };
    let Ok(code) = CylinderCode::parse(code) else {
        return Ok(unknown());
    };
    let Some(c) = st.store.get_cylinder(&code).await? else {
        return Ok(unknown());
    };
    let today = Date(china_date(st.now()));
    let verdict = Verdict::of(&c.archive, &c.status, today);
    let events = st.store.events_of(&code).await?;
    let owner_id = c.archive.owner_org_id.unwrap_or(c.org_id);
    let owner_org = st.store.get_org(owner_id).await?;
    let phone = owner_org.as_ref().and_then(|o| o.phone.clone());
    let owner = owner_org.map(|o| o.name);

    let mut site_names: HashMap<Uuid, Option<String>> = HashMap::new();
    let mut site_name = async |id: Option<Uuid>| -> ApiResult<Option<String>> {
        let Some(id) = id else { return Ok(None) };
        if let Some(n) = site_names.get(&id) {
            return Ok(n.clone());
        }
        let n = st.store.get_site(id).await?.map(|s| s.name);
        site_names.insert(id, n.clone());
        Ok(n)
    };
    let last_fill_event: Option<&StoredEvent> = events
        .iter()
        .rev()
        .find(|e| e.event.kind() == EventKind::Fill);
    let last_fill = match (c.status.last_fill_at, last_fill_event) {
        (Some(time), e) => Some(LastFill {
            time,
            station: site_name(e.and_then(|e| e.event.site_id)).await?,
        }),
        (None, _) => None,
    };
    let mut trace = Vec::new();
    for e in events.iter().rev().take(TRACE_LEN) {
        trace.push(TraceItem {
            time: e.event.time,
            kind: e.event.kind(),
            site: site_name(e.event.site_id).await?,
            operator: e.event.operator.as_ref().map(|o| mask_name(o.as_str())),
            ledger_index: e.ledger_index,
        });
    }
    let checkpoint = st.store.latest_checkpoint().await?;
    let last_index = events.iter().map(|e| e.ledger_index).max();
    let ledger = LedgerMark {
        covered: match (&checkpoint, last_index) {
            (Some(cp), Some(i)) => u64::try_from(i).is_ok_and(|i| i < cp.size),
            (Some(_), None) => true,
            (None, _) => false,
        },
        checkpoint_size: checkpoint.as_ref().map(|c| c.size),
        checkpoint_time: checkpoint.as_ref().map(|c| c.time),
    };
    Ok(PublicCylinder {
        code: code.as_str().to_owned(),
        verdict,
        known: Some(Known {
            state: c.status.state.as_str(),
            owner,
            phone,
            medium: c.archive.medium.as_ref().map(|m| m.as_str().to_owned()),
            style: c.archive.style.as_ref().map(|m| m.as_str().to_owned()),
            next_check_date: c.status.next_check_date,
            last_fill,
            trace,
            ledger,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::mask_name;

    #[test]
    fn names_and_phone_numbers_are_masked() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳小明"), "欧***");
        assert_eq!(mask_name("王"), "王*");
        assert_eq!(mask_name("13812341234"), "138****1234");
        assert_eq!(mask_name(""), "");
    }
}
