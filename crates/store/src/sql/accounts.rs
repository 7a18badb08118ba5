//! Keeping accounts safe: deactivation, passwords, ending a user's sessions, the TOTP second factor
//! and its recovery codes. A change that ends sessions deletes the token rows in its own transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{Conn, sql, to_json};
use super::rows::{self, USER_COLUMNS};
use crate::model::UserRecord;
use crate::{AccountStore, Result, TotpRecord, UserChange};

/// Deletes the tokens of `id` but `keep`.
async fn delete_tokens(c: &mut Conn<'_>, id: Uuid, keep: Option<&str>) -> Result<u64> {
    match keep {
        Some(k) => {
            sql("delete from tokens where user_id = $1 and token_hash <> $2")
                .bind(id)
                .bind(k)
                .execute(c)
                .await
        }
        None => {
            sql("delete from tokens where user_id = $1")
                .bind(id)
                .execute(c)
                .await
        }
    }
}

async fn user(c: &mut Conn<'_>, id: Uuid) -> Result<Option<UserRecord>> {
    sql(AssertSqlSafe(format!(
        "select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id where u.user_id = $1"
    )))
    .bind(id)
    .fetch_optional(c)
    .await?
    .as_ref()
    .map(rows::user)
    .transpose()
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn update_user(
        &self,
        id: Uuid,
        change: &UserChange,
    ) -> Result<Option<(UserRecord, u64)>> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        if user(&mut c, id).await?.is_none() {
            return Ok(None);
        }
        if let Some(name) = &change.name {
            sql("update users set name = $2 where user_id = $1")
                .bind(id)
                .bind(name)
                .execute(&mut c)
                .await?;
        }
        if let Some(roles) = &change.roles {
            let roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            sql("update users set roles = $2 where user_id = $1")
                .bind(id)
                .bind(to_json(&roles))
                .execute(&mut c)
                .await?;
        }
        let mut ended = 0;
        if let Some(active) = change.active {
            sql("update users set active = $2 where user_id = $1")
                .bind(id)
                .bind(active)
                .execute(&mut c)
                .await?;
            if !active {
                ended = delete_tokens(&mut c, id, None).await?;
            }
        }
        let after = user(&mut c, id).await?;
        tx.commit().await?;
        Ok(after.map(|u| (u, ended)))
    }

    async fn count_active_node_admins(&self) -> Result<i64> {
        // Roles are a JSON array of role names: `"node_admin"` (quotes included) matches that role
        // and no other.
        sql("select count(*) as n from users where active and roles like $1")
            .bind("%\"node_admin\"%")
            .fetch_one(&mut self.conn().await?.conn())
            .await?
            .get("n")
    }

    async fn set_password(
        &self,
        id: Uuid,
        hash: &str,
        must_change: bool,
        keep: Option<&str>,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        sql(
            "update users set password_hash = $2, must_change_password = $3, failed_logins = 0,
             locked_until = null where user_id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(must_change)
        .execute(&mut c)
        .await?;
        let ended = delete_tokens(&mut c, id, keep).await?;
        tx.commit().await?;
        Ok(ended)
    }

    async fn end_sessions(&self, id: Uuid, keep: Option<&str>) -> Result<u64> {
        delete_tokens(&mut self.conn().await?.conn(), id, keep).await
    }

    async fn totp(&self, id: Uuid) -> Result<Option<TotpRecord>> {
        let mut c = self.conn().await?;
        let mut c = c.conn();
        let Some(r) = sql(
            "select totp_secret, totp_pending, totp_enabled_at, totp_last_step
                           from users where user_id = $1",
        )
        .bind(id)
        .fetch_optional(&mut c)
        .await?
        else {
            return Ok(None);
        };
        let left: i64 =
            sql("select count(*) as n from recovery_codes where user_id = $1 and used_at is null")
                .bind(id)
                .fetch_one(&mut c)
                .await?
                .get("n")?;
        Ok(Some(TotpRecord {
            secret: r.get("totp_secret")?,
            pending: r.get("totp_pending")?,
            enabled_at: r.opt_time("totp_enabled_at")?,
            last_step: r.get("totp_last_step")?,
            recovery_left: left,
        }))
    }

    async fn set_totp_pending(&self, id: Uuid, sealed: Option<&str>) -> Result<()> {
        sql("update users set totp_pending = $2 where user_id = $1")
            .bind(id)
            .bind(sealed)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn enable_totp(
        &self,
        id: Uuid,
        sealed: &str,
        step: i64,
        recovery: &[String],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        let n = sql(
            "update users set totp_secret = totp_pending, totp_pending = null, totp_enabled_at = $3,
             totp_last_step = $4 where user_id = $1 and totp_pending = $2",
        )
        .bind(id)
        .bind(sealed)
        .bind(at)
        .bind(step)
        .execute(&mut c)
        .await?;
        if n == 0 {
            return Ok(false);
        }
        sql("delete from recovery_codes where user_id = $1")
            .bind(id)
            .execute(&mut c)
            .await?;
        for h in recovery {
            sql("insert into recovery_codes (user_id, code_hash, created_at) values ($1, $2, $3)")
                .bind(id)
                .bind(h)
                .bind(at)
                .execute(&mut c)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn disable_totp(&self, id: Uuid) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut c = tx.conn();
        sql(
            "update users set totp_secret = null, totp_pending = null, totp_enabled_at = null,
             totp_last_step = null where user_id = $1",
        )
        .bind(id)
        .execute(&mut c)
        .await?;
        sql("delete from recovery_codes where user_id = $1")
            .bind(id)
            .execute(&mut c)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_totp_step(&self, id: Uuid, step: i64) -> Result<bool> {
        // One statement: of two logins racing with the same code, exactly one changes the row.
        let n = sql(
            "update users set totp_last_step = $2 where user_id = $1 and totp_secret is not null
             and (totp_last_step is null or totp_last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(n == 1)
    }

    async fn use_recovery_code(&self, id: Uuid, hash: &str, at: DateTime<Utc>) -> Result<bool> {
        let n = sql("update recovery_codes set used_at = $3
             where user_id = $1 and code_hash = $2 and used_at is null")
        .bind(id)
        .bind(hash)
        .bind(at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(n == 1)
    }
}
