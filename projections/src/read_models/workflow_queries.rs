//! Reads of the `workflows` read model, always scoped to one tenant: a
//! workflow of another tenant reads exactly like a missing one.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// A workflow's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowStatus {
    /// Not published (never, or unpublished).
    Draft,
    /// A version runs on its triggers.
    Published,
    /// Archived; accepts no further changes.
    Archived,
}

impl WorkflowStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "draft" => Ok(Self::Draft),
            "published" => Ok(Self::Published),
            "archived" => Ok(Self::Archived),
            other => Err(sqlx::Error::Decode(
                format!("unknown workflow status '{other}'").into(),
            )),
        }
    }
}

/// One row of the `workflows` read model.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRow {
    /// The workflow's id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Current name.
    pub name: String,
    /// Current description.
    pub description: String,
    /// Lifecycle status.
    pub status: WorkflowStatus,
    /// The highest definition version.
    pub latest_version: i32,
    /// The version triggers run, when published.
    pub published_version: Option<i32>,
    /// Number of definition versions.
    pub version_count: i32,
    /// Executions started.
    pub executions_count: i64,
    /// When the last execution started.
    pub last_execution_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last workflow event was recorded.
    pub updated_at: DateTime<Utc>,
}

/// Where a page of workflows starts: after this (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowKey {
    /// The previous page's last creation time.
    pub created_at: DateTime<Utc>,
    /// The previous page's last id.
    pub id: Uuid,
}

impl WorkflowRow {
    /// This row's place in the `created_at DESC, id DESC` order.
    pub fn key(&self) -> WorkflowKey {
        WorkflowKey {
            created_at: self.created_at,
            id: self.id,
        }
    }
}

/// Which workflows a list shows.
#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    /// Only this status.
    pub status: Option<WorkflowStatus>,
    /// Only names containing this, ignoring case.
    pub name_contains: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Whether items follow the last one.
    pub has_more: bool,
}

impl<T> Page<T> {
    fn of(mut items: Vec<T>, first: i64) -> Self {
        let has_more = items.len() as i64 > first;
        items.truncate(first.max(0) as usize);
        Self { items, has_more }
    }
}

const WORKFLOW_COLUMNS: &str = "
SELECT w.id, w.tenant_id, w.name, w.description, w.status, w.latest_version,
       w.published_version, w.version_count, w.created_at, w.updated_at,
       coalesce(c.executions_count, 0) AS executions_count, c.last_execution_at
  FROM workflows w
  LEFT JOIN workflow_execution_counts c ON c.workflow_id = w.id AND c.tenant_id = w.tenant_id";

/// The workflow `id` of `tenant_id`, if it exists there.
pub async fn find_workflow(
    pool: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<WorkflowRow>, sqlx::Error> {
    let sql = format!("{WORKFLOW_COLUMNS} WHERE w.tenant_id = $1 AND w.id = $2");
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(workflow_row).transpose()
}

/// Up to `first` workflows of `tenant_id` matching `filter`, newest first
/// (`created_at DESC, id DESC`), after `after`.
pub async fn list_workflows(
    pool: &PgPool,
    tenant_id: Uuid,
    filter: &WorkflowFilter,
    after: Option<WorkflowKey>,
    first: i64,
) -> Result<Page<WorkflowRow>, sqlx::Error> {
    let sql = format!(
        "{WORKFLOW_COLUMNS}
          WHERE w.tenant_id = $1
            AND ($2::text IS NULL OR w.status = $2)
            AND ($3::text IS NULL OR strpos(lower(w.name), lower($3)) > 0)
            AND ($4::timestamptz IS NULL OR (w.created_at, w.id) < ($4, $5))
          ORDER BY w.created_at DESC, w.id DESC
          LIMIT $6"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(filter.status.map(WorkflowStatus::as_str))
        .bind(filter.name_contains.as_deref())
        .bind(after.map(|k| k.created_at))
        .bind(after.map(|k| k.id))
        .bind(first + 1)
        .fetch_all(pool)
        .await?;
    let items = rows.iter().map(workflow_row).collect::<Result<_, _>>()?;
    Ok(Page::of(items, first))
}

fn workflow_row(row: &sqlx::postgres::PgRow) -> Result<WorkflowRow, sqlx::Error> {
    Ok(WorkflowRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        status: WorkflowStatus::parse(row.try_get("status")?)?,
        latest_version: row.try_get("latest_version")?,
        published_version: row.try_get("published_version")?,
        version_count: row.try_get("version_count")?,
        executions_count: row.try_get("executions_count")?,
        last_execution_at: row.try_get("last_execution_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// One definition version of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersionRow {
    /// The workflow.
    pub workflow_id: Uuid,
    /// The version number, from 1.
    pub version: i32,
    /// The validated definition, as the event recorded it.
    pub definition: Value,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
}

/// Up to `first` versions of workflow `workflow_id` of `tenant_id`, newest
/// first, below version `before` when given.
pub async fn list_workflow_versions(
    pool: &PgPool,
    tenant_id: Uuid,
    workflow_id: Uuid,
    before: Option<i32>,
    first: i64,
) -> Result<Page<WorkflowVersionRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT workflow_id, version, definition, created_at
           FROM workflow_versions
          WHERE tenant_id = $1 AND workflow_id = $2 AND ($3::integer IS NULL OR version < $3)
          ORDER BY version DESC
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(workflow_id)
    .bind(before)
    .bind(first + 1)
    .fetch_all(pool)
    .await?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(WorkflowVersionRow {
                workflow_id: row.try_get("workflow_id")?,
                version: row.try_get("version")?,
                definition: row.try_get("definition")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Page::of(items, first))
}
