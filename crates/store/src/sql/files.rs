//! Who may read an uploaded file (issue 22): the organisations that own it. Files themselves live
//! in the data directory under their SM3 hash; this table only says whose they are.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SqlStore;
use super::db::sql;
use crate::model::Scope;
use crate::{FileStore, Result};

#[async_trait]
impl FileStore for SqlStore {
    async fn add_file_owner(
        &self,
        hash: &str,
        org_id: Uuid,
        by: Option<Uuid>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sql("insert into file_owners (hash, org_id, uploaded_by, uploaded_at) values ($1, $2, $3, $4)
             on conflict (hash, org_id) do nothing")
        .bind(hash.to_owned())
        .bind(org_id)
        .bind(by)
        .bind(at)
        .execute(&mut self.conn().await?.conn())
        .await?;
        Ok(())
    }

    async fn file_owned_within(&self, hash: &str, scope: &Scope) -> Result<bool> {
        Ok(sql(
            "select 1 as one from file_owners f join orgs o on o.org_id = f.org_id
             where f.hash = $1 and o.path like $2 limit 1",
        )
        .bind(hash.to_owned())
        .bind(scope.like())
        .fetch_optional(&mut self.conn().await?.conn())
        .await?
        .is_some())
    }
}
