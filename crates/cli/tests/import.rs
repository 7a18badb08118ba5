//! A6 on the command line: `cyltrace import` refuses a file with a bad row (exit 1, the errors listed
//! with row, column and reason, nothing stored), imports a good one, and `cyltrace export` writes the
//! archives back out. SQLite in a temp dir, or a fresh PostgreSQL schema when
//! `CYLTRACE_TEST_DATABASE_URL` is set.
// Tests stand at real time (the node's clock is shifted where a test needs another).
#![allow(clippy::disallowed_methods)]

use std::process::{Command, Output};

use cyltrace_domain::OrgKind;
use cyltrace_store::{OrgRecord, Scope};

/// An organisation with a fixed id (every test has a database of its own).
fn org(id: &str, kind: OrgKind, name: &str, parent: Option<&OrgRecord>) -> OrgRecord {
    let id = id.parse().expect("uuid");
    OrgRecord {
        id,
        kind,
        name: name.to_owned(),
        region_code: cyltrace_domain::RegionCode::parse("530102").unwrap(),
        parent_id: parent.map(|p| p.id),
        credit_code: None,
        licences: vec![],
        phone: None,
        address: None,
        path: OrgRecord::child_path(parent.map(|p| p.path.as_str()), id),
        created_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn import_refuses_bad_rows_then_imports_and_exports() {
    let db = cyltrace_testkit::TestDb::new().await;
    let reg = org(
        "8d6f2c1e-0000-4000-8000-000000000001",
        OrgKind::Regulator,
        "昆明市市场监督管理局",
        None,
    );
    let ent = org(
        "8d6f2c1e-0000-4000-8000-000000000002",
        OrgKind::FillingEnterprise,
        "昆明燃气",
        Some(&reg),
    );
    db.store.insert_org(&reg).await.unwrap();
    db.store.insert_org(&ent).await.unwrap();
    let database_url = std::env::var("CYLTRACE_TEST_DATABASE_URL").ok().map(|url| {
        let schema = db
            .schema
            .clone()
            .expect("a PostgreSQL test database has a schema");
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-csearch_path%3D{schema}")
    });
    let run = |args: &[&str]| -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cyltrace"));
        cmd.args(args)
            .arg("--data-dir")
            .arg(db.dir.path())
            .env_remove("CYLTRACE_DATABASE_URL")
            .env("RUST_BACKTRACE", "0");
        if let Some(url) = &database_url {
            cmd.env("CYLTRACE_DATABASE_URL", url);
        }
        cmd.output().expect("run cyltrace")
    };

    let mut csv = String::from("\u{feff}气瓶编码,充装介质,皮重(kg),检验日期,下次检验日期\n");
    for i in 0..50 {
        let medium = if i == 5 { "氧气" } else { "液化石油气" };
        csv.push_str(&format!("19{i:08},{medium},16.5,2024-01-01,2028-01-01\n"));
    }
    let bad = db.dir.path().join("bad.csv");
    std::fs::write(&bad, &csv).unwrap();
    // The only filling enterprise is the owner by default.
    let out = run(&["import", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("第 7 行「充装介质」列") && stderr.contains("氧气"),
        "{stderr}"
    );
    assert!(stderr.contains("未导入任何数据"), "{stderr}");
    assert_eq!(db.store.count_cylinders().await.unwrap(), 0);

    let good = db.dir.path().join("good.csv");
    std::fs::write(&good, csv.replace("氧气", "LPG")).unwrap();
    let out = run(&["import", good.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("已导入 50 条气瓶档案"), "{stdout}");
    let listed = db
        .store
        .list_cylinders_after(&Scope(ent.path.clone()), None, 100)
        .await
        .unwrap();
    assert_eq!(listed.len(), 50);
    assert_eq!(
        listed[5].archive.medium.as_ref().unwrap().as_str(),
        "液化石油气"
    );

    // A file that is not what its extension says.
    let png = db.dir.path().join("photo.xlsx");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n").unwrap();
    let out = run(&["import", png.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PNG"));

    let exported = db.dir.path().join("out.csv");
    let out = run(&[
        "export",
        "--format",
        "csv",
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&exported).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 51);
    assert!(lines[0].starts_with("\u{feff}气瓶编码,"), "{}", lines[0]);
    assert!(lines[1].starts_with("1900000000,"), "{}", lines[1]);
}
