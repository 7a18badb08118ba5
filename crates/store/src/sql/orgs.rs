//! Organisations, sites, users and tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::NewSite;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{sql, taken, to_json};
use super::rows::{self, USER_COLUMNS};
use crate::model::{OrgRecord, Page, Scope, SiteRecord, UserRecord};
use crate::{OrgStore, Result};

#[async_trait]
impl OrgStore for SqlStore {
    async fn insert_org(&self, o: &OrgRecord) -> Result<()> {
        sql("insert into orgs (org_id, kind, name, region_code, parent_id, credit_code, licences, path, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(o.id)
        .bind(o.kind.as_str())
        .bind(&o.name)
        .bind(o.region_code.as_str())
        .bind(o.parent_id)
        .bind(o.credit_code.clone())
        .bind(to_json(&o.licences))
        .bind(&o.path)
        .bind(o.created_at)
        .execute(&mut self.conn().await?.conn())
        .await
        .map_err(taken(|| format!("org {}", o.id)))?;
        Ok(())
    }

    async fn get_org(&self, id: Uuid) -> Result<Option<OrgRecord>> {
        sql("select * from orgs where org_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::org)
            .transpose()
    }

    async fn list_orgs(&self, scope: &Scope, page: Page) -> Result<Vec<OrgRecord>> {
        sql("select * from orgs where path like $1 order by path limit $2 offset $3")
            .bind(scope.like())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&mut self.conn().await?.conn())
            .await?
            .iter()
            .map(rows::org)
            .collect()
    }

    async fn insert_site(&self, id: Uuid, s: &NewSite, at: DateTime<Utc>) -> Result<()> {
        sql(
            "insert into sites (site_id, org_id, kind, name, address, lat, lon, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(s.org_id)
        .bind(s.kind.as_str())
        .bind(s.name.as_str())
        .bind(s.address.as_ref().map(|a| a.as_str()))
        .bind(s.lat)
        .bind(s.lon)
        .bind(at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn get_site(&self, id: Uuid) -> Result<Option<SiteRecord>> {
        get_site(&mut self.conn().await?.conn(), id).await
    }

    async fn list_sites(&self, scope: &Scope, page: Page) -> Result<Vec<SiteRecord>> {
        sql(
            "select s.*, o.path from sites s join orgs o on o.org_id = s.org_id
             where o.path like $1 order by o.path, s.name limit $2 offset $3",
        )
        .bind(scope.like())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::site)
        .collect()
    }

    async fn insert_user(&self, u: &UserRecord) -> Result<()> {
        let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
        sql(
            "insert into users (user_id, org_id, username, password_hash, name, roles, created_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u.id)
        .bind(u.org_id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.name)
        .bind(to_json(&roles))
        .bind(u.created_at)
        .execute(&mut self.conn().await?.conn())
        .await
        .map_err(taken(|| format!("username {}", u.username)))?;
        Ok(())
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<UserRecord>> {
        sql(AssertSqlSafe(format!(
            "select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id where u.user_id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut self.conn().await?.conn())
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        sql(AssertSqlSafe(format!(
            "select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id where u.username = $1"
        )))
        .bind(username)
        .fetch_optional(&mut self.conn().await?.conn())
        .await?
        .as_ref()
        .map(rows::user)
        .transpose()
    }

    async fn list_users(&self, scope: &Scope, page: Page) -> Result<Vec<UserRecord>> {
        sql(AssertSqlSafe(format!(
            "select {USER_COLUMNS} from users u join orgs o on o.org_id = u.org_id
             where o.path like $1 order by u.username limit $2 offset $3"
        )))
        .bind(scope.like())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn note_failed_login(
        &self,
        user_id: Uuid,
        lock_until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        sql("update users set failed_logins = failed_logins + 1, locked_until = coalesce($2, locked_until) where user_id = $1")
            .bind(user_id)
            .bind(lock_until)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn reset_failed_logins(&self, user_id: Uuid) -> Result<()> {
        sql("update users set failed_logins = 0, locked_until = null where user_id = $1")
            .bind(user_id)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        user_id: Uuid,
        expires_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sql("insert into tokens (token_hash, user_id, expires_at, created_at) values ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(user_id)
            .bind(expires_at)
            .bind(at)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn delete_token(&self, token_hash: &str) -> Result<()> {
        sql("delete from tokens where token_hash = $1")
            .bind(token_hash)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn user_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserRecord, DateTime<Utc>)>> {
        sql(AssertSqlSafe(format!(
            "select {USER_COLUMNS}, t.expires_at from tokens t join users u on u.user_id = t.user_id
             join orgs o on o.org_id = u.org_id
             where t.token_hash = $1 and t.expires_at > $2 and u.active"
        )))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut self.conn().await?.conn())
        .await?
        .as_ref()
        .map(|r| Ok((rows::user(r)?, r.time("expires_at")?)))
        .transpose()
    }
}

/// A site with its organisation's tree path.
pub(super) async fn get_site(c: &mut super::db::Conn<'_>, id: Uuid) -> Result<Option<SiteRecord>> {
    sql("select s.*, o.path from sites s join orgs o on o.org_id = s.org_id where s.site_id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?
        .as_ref()
        .map(rows::site)
        .transpose()
}
