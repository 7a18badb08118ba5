//! Throughput of the pure filling-control rule function (issue 3 target: ≥ 1,000,000 decisions/s
//! on one core). Run: `cargo bench -p cyltrace-domain --bench rules`.

use chrono::{DateTime, Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cyltrace_domain::filling::{FillFacts, decide};
use cyltrace_domain::parse::from_value;
use cyltrace_domain::{Archive, CylinderStatus, Licence};
use serde_json::json;
use uuid::Uuid;

fn bench(c: &mut Criterion) {
    let owner = Uuid::from_u128(1);
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-21T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let archive: Archive = from_value(
        &json!({"code": "1103007831", "medium": "液化石油气", "tare_kg": 16.5, "fill_limit_kg": 14.5, "manufacture_date": "2022-09",
                "life_years": 8, "last_check_date": "2022-09-01", "next_check_date": "2026-12-01", "owner_org_id": owner,
                "registration": {"number": "553001000001", "date": "2022-10-01", "authority": "昆明市市场监督管理局"}}),
        "",
    )
    .unwrap();
    let licences: Vec<Licence> = from_value(
        &json!([{"kind": "filling", "number": "TS4253001-2028", "valid_until": "2028-12-31"},
                {"kind": "gas_business", "number": "云燃经字第001号", "valid_until": "2028-12-31"}]),
        "",
    )
    .unwrap();
    let mut allowed = CylinderStatus::initial(&archive);
    allowed.last_fill_at = Some(now - Duration::days(3));
    allowed.post_fill_checked = true;
    allowed.out_since_fill = true;
    allowed.back_since_out = true;
    allowed.last_pre_fill_pass_at = Some(now - Duration::hours(1));
    // A cylinder refused under several rules: the reasons are formatted, the costly path.
    let mut refused = allowed.clone();
    refused.last_fill_at = Some(now - Duration::hours(2));
    refused.back_since_out = false;
    refused.registration = None;

    let mut g = c.benchmark_group("fill_control_rules");
    g.throughput(Throughput::Elements(1));
    for (name, status) in [("allowed", &allowed), ("refused_4_rules", &refused)] {
        let facts = FillFacts {
            archive: &archive,
            status,
            enterprise_id: owner,
            licences: &licences,
            medium: "液化石油气",
            entrusted_until: None,
            vehicle: false,
        };
        g.bench_function(name, |b| {
            b.iter(|| std::hint::black_box(decide(std::hint::black_box(&facts), now)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
