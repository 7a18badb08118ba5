//! Organisations, sites, users and tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cyltrace_domain::NewSite;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::SqlStore;
use super::db::{sql, taken, to_json};
use super::rows::{self, USER_COLUMNS};
use crate::model::{FillingPermission, OrgRecord, Page, Scope, SiteRecord, UserRecord};
use crate::{OrgStore, Result};

#[async_trait]
impl OrgStore for SqlStore {
    async fn insert_org(&self, o: &OrgRecord) -> Result<()> {
        sql("insert into orgs (org_id, kind, name, region_code, parent_id, credit_code, licences, path, created_at, phone, address)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(o.id)
        .bind(o.kind.as_str())
        .bind(&o.name)
        .bind(o.region_code.as_str())
        .bind(o.parent_id)
        .bind(o.credit_code.clone())
        .bind(to_json(&o.licences))
        .bind(&o.path)
        .bind(o.created_at)
        .bind(o.phone.clone())
        .bind(o.address.clone())
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

    async fn update_org(&self, o: &OrgRecord) -> Result<()> {
        sql("update orgs set name = $1, phone = $2, address = $3, credit_code = $4, licences = $5 where org_id = $6")
            .bind(&o.name)
            .bind(o.phone.clone())
            .bind(o.address.clone())
            .bind(o.credit_code.clone())
            .bind(to_json(&o.licences))
            .bind(o.id)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
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

    async fn update_site(&self, s: &SiteRecord) -> Result<()> {
        sql("update sites set name = $1, address = $2, lat = $3, lon = $4, active = $5 where site_id = $6")
            .bind(&s.name)
            .bind(s.address.clone())
            .bind(s.lat)
            .bind(s.lon)
            .bind(s.active)
            .bind(s.id)
            .execute(&mut self.conn().await?.conn())
            .await?;
        Ok(())
    }

    async fn insert_permission(&self, p: &FillingPermission) -> Result<()> {
        sql("insert into filling_permissions (permission_id, owner_org_id, filler_org_id, valid_until, granted_by, granted_org_id, created_at)
             values ($1, $2, $3, $4, $5, $6, $7)")
        .bind(p.id)
        .bind(p.owner_org_id)
        .bind(p.filler_org_id)
        .bind(p.valid_until.to_string())
        .bind(p.granted_by)
        .bind(p.granted_org_id)
        .bind(p.created_at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn get_permission(&self, id: Uuid) -> Result<Option<FillingPermission>> {
        sql("select * from filling_permissions where permission_id = $1")
            .bind(id)
            .fetch_optional(&mut self.conn().await?.conn())
            .await?
            .as_ref()
            .map(rows::permission)
            .transpose()
    }

    async fn list_permissions(&self, scope: &Scope, page: Page) -> Result<Vec<FillingPermission>> {
        sql("select p.* from filling_permissions p
             join orgs o on o.org_id = p.owner_org_id
             join orgs f on f.org_id = p.filler_org_id
             join orgs g on g.org_id = p.granted_org_id
             where o.path like $1 or f.path like $1 or g.path like $1
             order by p.created_at desc, p.permission_id limit $2 offset $3")
        .bind(scope.like())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut self.conn().await?.conn())
        .await?
        .iter()
        .map(rows::permission)
        .collect()
    }

    async fn revoke_permission(&self, id: Uuid, by: Uuid, at: DateTime<Utc>) -> Result<bool> {
        let done = sql(
            "update filling_permissions set revoked_at = $1, revoked_by = $2
                        where permission_id = $3 and revoked_at is null",
        )
        .bind(at)
        .bind(by)
        .bind(id)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(done > 0)
    }

    async fn entrusted_until(
        &self,
        owner: Uuid,
        filler: Uuid,
    ) -> Result<Option<cyltrace_domain::Date>> {
        entrusted_until(&mut self.conn().await?.conn(), owner, filler).await
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

/// The last day of the unrevoked permissions for `filler` to fill `owner`'s cylinders (B9).
pub(super) async fn entrusted_until(
    c: &mut super::db::Conn<'_>,
    owner: Uuid,
    filler: Uuid,
) -> Result<Option<cyltrace_domain::Date>> {
    let row = sql("select max(valid_until) as until from filling_permissions
                   where owner_org_id = $1 and filler_org_id = $2 and revoked_at is null")
    .bind(owner)
    .bind(filler)
    .fetch_one(c)
    .await?;
    let until: Option<String> = row.get("until")?;
    until
        .map(|d| cyltrace_domain::Date::parse(&d).map_err(crate::StoreError::Corrupt))
        .transpose()
}
