//! Writes the seed corpus, `corpus/<target>/seed-*`, from the repository's test vectors: the
//! samples of the domain's tests, the YUNNAN-API examples, the import template. Run it (without
//! the fuzzing flags) after changing a parser's input format: `cargo run --example seeds` in
//! `fuzz/` (the SM4 and xlsx seeds come out different each time: random IVs, timestamps; commit only
//! the seeds you meant to change). Inputs libFuzzer finds are merged by `run.sh --merge`.

use std::path::Path;

use cyltrace_domain::import::{COLUMNS, template_example, template_headers};
use cyltrace_fuzz::sm4::{self, Sm4Key};
use serde_json::{Value, json};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("seed written");
}

fn write_json(target: &str, name: &str, v: &Value) {
    write(target, name, v.to_string().as_bytes());
}

/// One event of each kind (the domain's `event.rs` test samples), as `POST /api/v1/events` takes it.
fn events() -> Vec<(&'static str, Value)> {
    let nil = "00000000-0000-0000-0000-000000000000";
    vec![
        ("tag_bind", json!({"tag_uid": "E2000017221101441890"})),
        (
            "register",
            json!({"number": "537007004136", "date": "2020-10-01", "authority": "昆明市市场监督管理局"}),
        ),
        (
            "pre_fill_check",
            json!({"own_property": true, "medium_matches": true, "no_cracks": true, "no_corrosion": true,
            "no_deformation": true, "no_damage": true, "inspection_valid": true, "valve_valid": true, "residual_pressure_ok": true}),
        ),
        (
            "fill",
            json!({"scale_no": "S1", "begin": "2026-11-21T08:00:00+08:00", "end": "2026-11-21T08:02:00+08:00",
            "tare_kg": 16.5, "gross_kg": 31.0}),
        ),
        (
            "in_fill_check",
            json!({"no_abnormal_sound": true, "no_seal_leak": true, "wall_temperature_normal": true, "no_other_abnormality": true}),
        ),
        (
            "post_fill_check",
            json!({"fill_within_limit": true, "no_valve_neck_leak": true, "no_valve_outlet_leak": true,
            "no_bulge_or_defect": true, "no_temperature_rise": true}),
        ),
        ("store_in", json!({"full": true})),
        ("store_out", json!({"full": false})),
        ("load", json!({"vehicle": "云A12345", "waybill": "W1"})),
        ("unload", json!({"vehicle": "云A12345", "waybill": "W1"})),
        ("deliver", json!({"customer_id": "C1"})),
        ("recycle", json!({})),
        ("inspection_send", json!({"station_org_id": nil})),
        (
            "inspection_result",
            json!({"conclusion": "pass", "check_date": "2026-11-01", "next_check_date": "2030-11-01",
            "report_no": "R1", "station_org_id": nil, "inspector": "张三"}),
        ),
        ("scrap", json!({"reason": "腐蚀严重"})),
        (
            "archive_change",
            json!({"changes": {"tare_kg": {"from": 16.5, "to": 15.2}}, "reason": "复称皮重"}),
        ),
        (
            "lab_test",
            json!({"sample_no": "S-20261121-1", "medium": "LPG", "result": "pass", "tester": "李工",
            "composition": {"丙烷": 62.5, "丁烷": 36.0}}),
        ),
        (
            "repair",
            json!({"items": "更换瓶阀", "valve_replaced": true, "valve_maker": "宁波阀门厂", "repairer": "王师傅"}),
        ),
    ]
}

fn event_json() {
    let nil = "00000000-0000-0000-0000-000000000000";
    for (kind, data) in events() {
        let e = json!({"id": "7d4ad2a8-5c1e-4a57-9d55-0c6b6f7c1a01", "kind": kind, "codes": ["1103007831"],
            "time": "2026-11-21T08:00:00+08:00", "site_id": nil, "operator": "张三", "device": "PDA-1",
            "lat": 25.04, "lon": 102.71, "data": data});
        write_json("event_json", kind, &json!({"events": [e]}));
    }
    // Refusals the tests name: unknown kind, duplicate codes, no site, a time out of bounds.
    write_json(
        "event_json",
        "refused-kind",
        &json!({"events": [{"id": nil, "kind": "teleport",
        "codes": ["1103007831"], "time": "2026-11-21T08:00:00+08:00", "data": {}}]}),
    );
    write_json(
        "event_json",
        "refused-codes",
        &json!({"events": [{"id": nil, "kind": "load",
        "codes": ["1103007831", "1103007831"], "time": "0001-01-01T00:00:00Z", "lat": 91.0, "lon": 0,
        "data": {"vehicle": "云A12345"}}]}),
    );
    // Found fuzzing (issue 22): a list of codes past the bound was searched for repeats,
    // quadratically (200,000 codes: minutes); now refused by its length.
    let codes: Vec<String> = (0..1001)
        .map(|i| format!("{:010}", 1_103_000_000 + i))
        .collect();
    write_json(
        "event_json",
        "overlong-codes",
        &json!({"events": [{"id": nil, "kind": "load", "codes": codes,
            "time": "2026-11-21T08:00:00+08:00", "site_id": nil, "data": {"vehicle": "云A12345"}}]}),
    );
}

fn ps_data() {
    let seeds = [
        (
            "before-fill",
            json!({"Items": [
            {"Barcode": "1103007831", "State": 1, "Remark": "瓶体变形", "Date": "20200420195401", "ThridId": 20489},
            {"Barcode": "1103007832", "State": 0, "ThridId": 20490}], "Man": {"Name": "张三"}}),
        ),
        (
            "fill",
            json!({"Items": [
            {"Barcode": " 1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": " 20200420195401", "EndDate": "20200420195521", "Machine": 1, "ThridId": 20490}],
            "Factory": {"Name": " 测试厂家"}, "Man": {"Name": " 张三"}}),
        ),
        (
            "fill-machine-no",
            json!({"Items": [
            {"Barcode": "1103007831", "IdleWeight": 16.33, "GrossWeight": 29.76, "NetWeight": 13.43,
             "BeginDate": "20200420195401", "EndDate": "20200420195521", "Machine": 0, "MachineNo": "CZ-01",
             "ThridId": "20489"}], "Factory": {"Name": "厂"}, "Man": {"Name": "张三"}}),
        ),
        (
            "after-fill",
            json!({"Items": [{"Barcode": "1103007831", "State": 2, "ThridId": 1}], "Man": {"Name": "李"}}),
        ),
        (
            "inspection",
            json!({"Items": [{"Barcode": "1103007831", "Result": 0, "CheckDate": "20261101",
            "NextDate": "20301101", "ReportNo": "R-1", "Inspector": "王五", "ThridId": "7"}],
            "Station": {"Name": "昆明检验站"}, "Man": {"Name": "王五"}}),
        ),
        (
            "business-count",
            json!({"Year": 2026, "Month": 12, "Count": 3, "Type": 2}),
        ),
        (
            "apply",
            json!({"ThirdId": 77, "Overview": {"Style": "YSP35.5", "Medium": "液化石油气", "Factory": 12,
            "CreateDate": "20250101", "DiscardDate": "20330101", "CheckDate": "20250101", "NextDate": "20290101",
            "IdleWeight": 16.5, "Remark": "新购", "Valve": 1, "PayImage": "files/a", "BatchImage": "files/b",
            "DeviceImage": "files/c"},
            "Items": [{"Barcode": "1103007831", "Printno": "1260419", "InnerNo": "XY1"}]}),
        ),
        (
            "generic-bottle",
            json!([{"Barcode":"1103007831","Printno":"1260419","InnerNo":"XY60235",
            "Style":"YSP35.5","Valve":1,"ProductDate":"20140901","DiscardDate":"20220901","CheckDate":"20200401",
            "NextDate":"20240401","State":1,"IdleWeight":16.5,"FillWeight":14.5,"Medium":"液化石油气",
            "NominalPressure":1.6,"Volumn":35.5,"Thickness":2.5,"WaterPressure":2.4,"CheckPeriod":4,"LifePeriod":8,
            "Factory":"江苏特种设备生产有限公司","Designer":"江苏特种设备设计有限公司","Supervise":"江苏特种设备监督检验公司",
            "Check":"江苏特种设备检测有限公司","RegisterDate":"20201001000000",
            "RegisterNo":"537007004136","Office":"昆明市市场监督管理局","Id":10245}]),
        ),
        // Values that cannot mean what the field means (issue 22 defect 5).
        (
            "mistyped",
            json!({"Items": [{"Barcode": "1103007831", "IdleWeight": "x", "GrossWeight": 29.76,
            "NetWeight": 9.0, "BeginDate": "20200231195401", "EndDate": "20200420195521", "Machine": 1.5,
            "ThridId": "abc"}], "Man": {"Name": 7}, "Factory": {"Name": 1.5}}),
        ),
    ];
    for (name, v) in seeds {
        write_json("ps_data", name, &v);
    }
    // Found fuzzing (issue 22): Items past the bound were read one by one, each ThridId compared
    // with all before it; now refused by their length. Empty items keep the seed under 4 KiB
    // (libFuzzer's inputs grow to the largest seed, and slow down with it).
    let items: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    write_json(
        "ps_data",
        "overlong-items",
        &json!({"Items": items, "Man": {"Name": "张三"}}),
    );
    for (name, s) in [
        ("ymd", "20200420"),
        ("ymdhms", " 20200420195401"),
        ("feb30", "20200230000000"),
    ] {
        write_json("ps_data", name, &json!(s));
    }
}

fn sm4_envelope() {
    let key = Sm4Key::parse_hex("0123456789abcdeffedcba9876543210").expect("key");
    let data = json!({"Items": [{"Barcode": "1103007831", "State": 0, "ThridId": 1}], "Man": {"Name": "张三"}});
    let sealed = sm4::seal(&key, &data).expect("sealed");
    let mut open = vec![0u8];
    open.extend_from_slice(sealed.to_string().as_bytes());
    write("sm4_envelope", "sealed", &open);
    let mut plain = vec![0u8];
    plain.extend_from_slice(data.to_string().as_bytes());
    write("sm4_envelope", "plain", &plain);
    write(
        "sm4_envelope",
        "bad-base64",
        b"\x00{\"Cipher\":\"%%%\",\"Iv\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
    );
    let (iv, ct) = sm4::encrypt(&key, b"{\"a\":1}").expect("encrypted");
    let mut raw = vec![1u8];
    raw.extend_from_slice(&iv);
    raw.extend_from_slice(&ct);
    write("sm4_envelope", "raw", &raw);
    write(
        "sm4_envelope",
        "key",
        b"\x020123456789abcdeffedcba9876543210",
    );
    write("sm4_envelope", "bytes", "\x03张三 1103007831".as_bytes());
}

fn label_url() {
    let seeds: [(&str, &str); 6] = [
        ("bare", "5301021103007831"),
        (
            "url",
            "https://trace.example.cn/Q?id=5301021103007831&s=0123456789ABCDEF",
        ),
        ("relative", "Q?id=5301021103007831&s=0123456789abcdef"),
        ("query", "?s=&id=5301021103007831"),
        ("short", "https://trace.example.cn/Q?id=53010211030078"),
        ("spaces", "  5301021103007831\t"),
    ];
    for (name, s) in seeds {
        write("label_url", name, s.as_bytes());
    }
}

fn csv_line(cells: &[&str]) -> String {
    cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                (*c).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn import_csv() {
    let headers = template_headers();
    let example = template_example();
    let template = format!("\u{FEFF}{}\n{}\n", csv_line(&headers), csv_line(&example));
    write("import_csv", "template", template.as_bytes());
    // A short row (issue 22 defect 6), a repeated code, an unknown column, a formula guard.
    let short = format!("{}\n{}\n", csv_line(&headers), csv_line(&example[..7]));
    write("import_csv", "short-row", short.as_bytes());
    let twice = format!(
        "{}\n{}\n{}\n",
        csv_line(&headers),
        csv_line(&example),
        csv_line(&example)
    );
    write("import_csv", "repeated", twice.as_bytes());
    let mut odd = headers.clone();
    odd.push("备注X");
    write(
        "import_csv",
        "unknown-column",
        format!("{}\n", csv_line(&odd)).as_bytes(),
    );
    let mut guarded: Vec<String> = example.iter().map(|s| (*s).to_owned()).collect();
    guarded[1] = "'=1+1".to_owned();
    let guarded: Vec<&str> = guarded.iter().map(String::as_str).collect();
    write(
        "import_csv",
        "formula",
        format!("{}\n{}\n", csv_line(&headers), csv_line(&guarded)).as_bytes(),
    );
}

fn import_xlsx() {
    use rust_xlsxwriter::Workbook;
    let sheet = |rows: &[Vec<&str>], name: &str| {
        let mut book = Workbook::new();
        let ws = book.add_worksheet();
        ws.set_name(name).expect("sheet name");
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                ws.write_string(r as u32, c as u16, *cell).expect("cell");
            }
        }
        book.save_to_buffer().expect("workbook")
    };
    let headers = template_headers();
    let example = template_example();
    write(
        "import_xlsx",
        "template",
        &sheet(&[headers.clone(), example.clone()], "气瓶档案"),
    );
    write(
        "import_xlsx",
        "other-sheet",
        &sheet(&[headers.clone(), example[..7].to_vec()], "Sheet1"),
    );
    // Numbers and dates as Excel types rather than text.
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    for (c, h) in headers.iter().enumerate() {
        ws.write_string(0, c as u16, *h).expect("header");
    }
    for (c, col) in COLUMNS.iter().enumerate() {
        match col.example.parse::<f64>() {
            Ok(n) => ws.write_number(1, c as u16, n).map(|_| ()),
            Err(_) => ws.write_string(1, c as u16, col.example).map(|_| ()),
        }
        .expect("cell");
    }
    write(
        "import_xlsx",
        "numbers",
        &book.save_to_buffer().expect("workbook"),
    );
}

fn main() {
    event_json();
    ps_data();
    sm4_envelope();
    label_url();
    import_csv();
    import_xlsx();
}
