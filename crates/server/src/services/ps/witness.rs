//! Witnessing a lower node's ledger (cyltrace extension): its checkpoints are verified for signature
//! and consistency, its declared upload leaves for inclusion; anything that does not verify raises a
//! tamper alarm for the regulator.

use std::collections::HashMap;

use cyltrace_ledger::{Checkpoint, Hash, verify_checkpoint, verify_consistency, verify_inclusion};
use cyltrace_store::{RegAlarm, WitnessRecord};
use serde_json::{Value, json};

use super::{PsError, PsResult, refuse};
use crate::auth::Principal;
use crate::state::AppState;

/// What this node holds of the caller's ledger: the size and root of the last accepted checkpoint
/// and the declared leaves still to be proven included (at most 256).
pub async fn witness_state(st: &AppState, p: &Principal) -> PsResult<Value> {
    let latest = st.store.latest_witness(p.user_id).await?;
    let size = latest.as_ref().map_or(0, |w| w.size);
    let pending = st
        .store
        .ps_leaves_unaudited(p.user_id, u64::MAX >> 1, 256)
        .await?;
    Ok(json!({
        "Size": size,
        "Root": latest.map(|w| w.root.to_hex()),
        "Pending": pending.iter().map(|(i, _)| i).collect::<Vec<_>>(),
    }))
}

/// Verifies and stores a lower node's checkpoint:
/// `{"Text","Signature" (hex DER),"PublicKey" (hex SEC1),"Hash"?: "sm3"|"sha256",
///   "Consistency": [hex…] (from the size this node holds), "Inclusion": [{"Index","Proof":[hex…]}]}`.
/// Anything that does not verify raises a tamper alarm for the regulator.
pub async fn witness_checkpoint(st: &AppState, p: &Principal, body: &Value) -> PsResult<()> {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| refuse(k, "缺少必填属性"))
    };
    let text = s("Text")?;
    let sig = hex::decode(s("Signature")?).map_err(|_| refuse("Signature", "应为十六进制"))?;
    let key = hex::decode(s("PublicKey")?).map_err(|_| refuse("PublicKey", "应为十六进制"))?;
    let alg: cyltrace_ledger::HashAlg = body
        .get("Hash")
        .and_then(Value::as_str)
        .unwrap_or("sm3")
        .parse()
        .map_err(|_| refuse("Hash", "应为 sm3 或 sha256"))?;
    let hashes = |v: Option<&Value>, field: &str| -> PsResult<Vec<Hash>> {
        v.and_then(Value::as_array)
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(|h| Hash::from_hex(h).ok())
                    .ok_or_else(|| refuse(field, "应为 64 位十六进制哈希"))
            })
            .collect()
    };
    let consistency = hashes(body.get("Consistency"), "Consistency")?;
    let cp = Checkpoint::parse(text).map_err(|e| refuse("Text", format!("检查点格式错误：{e}")))?;
    let now = st.now();
    let prev = st.store.latest_witness(p.user_id).await?;
    let alarm = |msg: String| async move {
        tracing::error!(account = %p.username, "TAMPER ALARM (lower node ledger): {msg}");
        st.metrics.tamper_alarms.inc();
        st.store
            .insert_reg_alarm(&RegAlarm {
                id: 0,
                org_id: p.org_id,
                kind: "ledger_tamper".to_owned(),
                message: msg.clone(),
                at: now,
            })
            .await?;
        Err::<(), PsError>(PsError::Refused(format!("账本检查点未通过验证：{msg}")))
    };
    if verify_checkpoint(&key, text, &sig).is_err() {
        return alarm(format!(
            "{} 的检查点（大小 {}）签名无效",
            cp.origin, cp.size
        ))
        .await;
    }
    if let Some(prev) = &prev {
        if prev.public_key != key || prev.origin != cp.origin {
            return alarm(format!(
                "检查点的签名密钥或日志名（{}）与此前登记的（{}）不同",
                cp.origin, prev.origin
            ))
            .await;
        }
        if cp.size < prev.size {
            return alarm(format!(
                "{} 的新检查点大小 {} 小于此前见证的 {}：日志被截短",
                cp.origin, cp.size, prev.size
            ))
            .await;
        }
        if verify_consistency(alg, prev.size, cp.size, &prev.root, &cp.root, &consistency).is_err()
        {
            return alarm(format!(
                "{} 的检查点（大小 {}）与此前见证的检查点（大小 {}）不一致：历史记录被改写",
                cp.origin, cp.size, prev.size
            ))
            .await;
        }
    }
    // Inclusion of the leaves the lower node declared with its uploads.
    let declared: HashMap<i64, Hash> = st
        .store
        .ps_leaves_unaudited(p.user_id, cp.size, 100_000)
        .await?
        .into_iter()
        .collect();
    let mut audited = Vec::new();
    for (i, inc) in body
        .get("Inclusion")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let index = inc
            .get("Index")
            .and_then(Value::as_i64)
            .ok_or_else(|| refuse(format!("Inclusion[{i}].Index"), "缺少或不是整数"))?;
        let Some(leaf) = declared.get(&index) else {
            continue;
        };
        let proof = hashes(inc.get("Proof"), &format!("Inclusion[{i}].Proof"))?;
        if verify_inclusion(alg, leaf, index as u64, cp.size, &proof, &cp.root).is_err() {
            return alarm(format!(
                "{} 上传记录的账本条目 {index} 不在其检查点（大小 {}）中：已上传的记录被改写",
                cp.origin, cp.size
            ))
            .await;
        }
        audited.push(index);
    }
    st.store.ps_leaves_mark_audited(p.user_id, &audited).await?;
    if prev.as_ref().is_none_or(|w| w.size < cp.size) {
        st.store
            .insert_witness(&WitnessRecord {
                user_id: p.user_id,
                origin: cp.origin.clone(),
                size: cp.size,
                root: cp.root,
                text: text.to_owned(),
                signature: sig,
                public_key: key,
                received_at: now,
            })
            .await?;
    }
    Ok(())
}
