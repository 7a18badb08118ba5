//! China calendar days as UTC instants: the periods that figures, lists and exports are counted in.

use chrono::{DateTime, NaiveDate, Utc};
use cyltrace_domain::supervision::Granularity;
use cyltrace_domain::time::{china_date, cst};

/// The start (00:00 China time) of a China calendar day, in UTC.
pub fn day_start(d: NaiveDate) -> DateTime<Utc> {
    // China time is a fixed offset: every local midnight is one instant.
    d.and_time(chrono::NaiveTime::MIN).and_utc()
        - chrono::Duration::seconds(i64::from(cst().local_minus_utc()))
}

/// This China calendar month: `[first day, first day of next month)` in UTC.
pub fn this_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let s = Granularity::Month.start(china_date(now));
    (day_start(s), day_start(Granularity::Month.next(s)))
}
