//! Shadow copies of a projection's tables in a schema of their own, and the
//! swap that puts them in place of the live ones.
//!
//! A shadow table has the live table's columns, defaults, identity, checks,
//! keys, indexes (same names) and foreign keys (to the shadow copies); the
//! plain indexes and the foreign keys are added once the store is folded
//! ([`complete`]), so what is swapped in is the
//! schema the migrations made, only with rows folded anew. The projection's own bookkeeping tables are shadowed too:
//! the rebuild's projector keeps its checkpoint, sequences and dead letters
//! there, through the shadow pool's `search_path`.

use sqlx::{Executor, PgConnection, PgPool, Row};

/// The runner's tables, shadowed with every projection's.
pub(crate) const BOOKKEEPING: [&str; 3] = [
    "projection_checkpoints",
    "projection_aggregate_sequences",
    "projection_dead_letters",
];

/// The schema that holds the shadow tables of `projection`.
pub(crate) fn shadow_schema(projection: &str) -> String {
    format!("jobsprint_rebuild_{projection}")
}

fn retired_schema(projection: &str) -> String {
    format!("jobsprint_retired_{projection}")
}

/// Drops what an earlier, failed rebuild of `projection` left behind.
pub(crate) async fn drop_leftovers(pool: &PgPool, projection: &str) -> Result<(), sqlx::Error> {
    for schema in [shadow_schema(projection), retired_schema(projection)] {
        pool.execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
            .await?;
    }
    Ok(())
}

/// Creates the shadow schema of `projection` with empty copies of `tables`
/// and of the bookkeeping tables. One short transaction.
pub(crate) async fn create(
    pool: &PgPool,
    projection: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    let schema = shadow_schema(projection);
    let all: Vec<&str> = tables.iter().copied().chain(BOOKKEEPING).collect();
    let mut tx = pool.begin().await?;
    // Definitions printed with an empty search_path name every relation
    // with its schema, so they can be pointed at the shadow ones exactly.
    tx.execute("SET LOCAL search_path = ''").await?;
    tx.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await?;
    for table in &all {
        tx.execute(
            format!(
                "CREATE TABLE {schema}.{table} (LIKE public.{table} INCLUDING DEFAULTS \
                 INCLUDING CONSTRAINTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE)"
            )
            .as_str(),
        )
        .await?;
    }
    for table in &all {
        for index in index_statements(&mut tx, &schema, table).await? {
            if !index.deferred {
                tx.execute(index.statement.as_str()).await?;
            }
        }
    }
    tx.commit().await
}

/// Gives the filled shadow tables their secondary indexes and foreign keys.
///
/// A non-unique index maintained row by row costs a random page write per
/// row folded (for `audit_log`'s three, five times the cost of the rows
/// themselves); one sorted build at the end costs a fraction of that. Each
/// is built `CONCURRENTLY`, which holds no transaction id while it builds,
/// so the cluster's commit-order readers are not held back. Keys and unique
/// indexes stay from the start: the projections' upserts need them.
///
/// Foreign keys checked row by row while the store is folded cost a lookup
/// per row written; one join at the end costs a fraction of that, and the
/// folding code already rejects what they reject (a step without its
/// execution is poison). Each is added unchecked, then validated, each
/// statement a transaction of its own. Validating holds a transaction id
/// (so the commit-order readers of the cluster) for one join: about 0.2 s
/// for the 270,000 steps of a 1,000,000-event store, a few batches' worth.
pub(crate) async fn complete(
    pool: &PgPool,
    projection: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    let schema = shadow_schema(projection);
    let all: Vec<&str> = tables.iter().copied().chain(BOOKKEEPING).collect();
    let (mut indexes, mut foreign_keys) = (Vec::new(), Vec::new());
    let mut tx = pool.begin().await?;
    tx.execute("SET LOCAL search_path = ''").await?;
    for table in &all {
        indexes.extend(
            index_statements(&mut tx, &schema, table)
                .await?
                .into_iter()
                .filter(|index| index.deferred),
        );
        foreign_keys.extend(foreign_key_statements(&mut tx, &schema, table, &all).await?);
    }
    tx.commit().await?;
    for index in indexes {
        pool.execute(index.statement.as_str()).await?;
    }
    for (table, name, definition) in foreign_keys {
        pool.execute(
            format!("ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} {definition} NOT VALID")
                .as_str(),
        )
        .await?;
        pool.execute(format!("ALTER TABLE {schema}.{table} VALIDATE CONSTRAINT {name}").as_str())
            .await?;
    }
    Ok(())
}

/// An index of a live table, as the statement that makes it on the shadow
/// copy under its live name.
struct Index {
    statement: String,
    /// A plain (non-unique) index, built once the shadow is filled
    /// (`CREATE INDEX CONCURRENTLY`, see [`complete`]).
    deferred: bool,
}

/// Keys (primary, unique, exclusion) as constraints and the other indexes
/// by their definitions, under their live names.
async fn index_statements(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
) -> Result<Vec<Index>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT c.conname, pg_get_constraintdef(c.oid) AS constraint_def,
                pg_get_indexdef(i.indexrelid) AS index_def, i.indisunique
           FROM pg_index i
           LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')
          WHERE i.indrelid = ('public.' || $1)::regclass
          ORDER BY i.indexrelid",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let live = format!(" ON public.{table} ");
    let shadow = format!(" ON {schema}.{table} ");
    rows.iter()
        .map(|row| {
            let constraint: Option<String> = row.try_get("conname")?;
            let unique: bool = row.try_get("indisunique")?;
            Ok(match constraint {
                Some(name) => {
                    let definition: String = row.try_get("constraint_def")?;
                    Index {
                        statement: format!(
                            "ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} {definition}"
                        ),
                        deferred: false,
                    }
                }
                None if unique => {
                    let definition: String = row.try_get("index_def")?;
                    Index {
                        statement: definition.replacen(&live, &shadow, 1),
                        deferred: false,
                    }
                }
                None => {
                    let definition: String = row.try_get("index_def")?;
                    let statement = definition.replacen(&live, &shadow, 1).replacen(
                        "CREATE INDEX ",
                        "CREATE INDEX CONCURRENTLY ",
                        1,
                    );
                    Index {
                        statement,
                        deferred: true,
                    }
                }
            })
        })
        .collect()
}

/// Foreign keys (table, name, definition), pointed at the shadow copy when
/// the referenced table is shadowed too.
async fn foreign_key_statements(
    conn: &mut PgConnection,
    schema: &str,
    table: &str,
    shadowed: &[&str],
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT conname, pg_get_constraintdef(oid) AS definition
           FROM pg_constraint
          WHERE conrelid = ('public.' || $1)::regclass AND contype = 'f'
          ORDER BY oid",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("conname")?;
            let mut definition: String = row.try_get("definition")?;
            for target in shadowed {
                definition = definition.replace(
                    &format!("REFERENCES public.{target}("),
                    &format!("REFERENCES {schema}.{target}("),
                );
            }
            Ok((table.to_owned(), name, definition))
        })
        .collect()
}

/// Inside the swap transaction: moves the live `tables` out and the shadow
/// ones in, and makes the shadow's bookkeeping of `projection` the live
/// one. The retired tables are dropped after the commit ([`drop_leftovers`]).
pub(crate) async fn swap(
    conn: &mut PgConnection,
    projection: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    let shadow = shadow_schema(projection);
    let retired = retired_schema(projection);
    conn.execute(format!("CREATE SCHEMA {retired}").as_str())
        .await?;
    for table in tables {
        conn.execute(format!("ALTER TABLE public.{table} SET SCHEMA {retired}").as_str())
            .await?;
        conn.execute(format!("ALTER TABLE {shadow}.{table} SET SCHEMA public").as_str())
            .await?;
    }
    // The shadow has every aggregate of the live projection at least as far
    // (checked under the same lock, `live_ahead`), so the live sequences
    // only need the shadow's where they differ: while the live projection
    // runs, that is a few rows, not one per aggregate.
    let statements = [
        format!(
            "INSERT INTO public.projection_aggregate_sequences AS live
                    (projection, aggregate_type, aggregate_id, last_sequence)
             SELECT projection, aggregate_type, aggregate_id, last_sequence
               FROM {shadow}.projection_aggregate_sequences WHERE projection = $1
             ON CONFLICT (projection, aggregate_type, aggregate_id)
                DO UPDATE SET last_sequence = EXCLUDED.last_sequence
                WHERE live.last_sequence <> EXCLUDED.last_sequence"
        ),
        "DELETE FROM public.projection_dead_letters WHERE projection = $1".to_owned(),
        format!(
            "INSERT INTO public.projection_dead_letters
                    (projection, global_position, transaction_id, aggregate_type, aggregate_id,
                     sequence, event_id, event_type, error, payload, attempts, failed_at)
             SELECT projection, global_position, transaction_id, aggregate_type, aggregate_id,
                    sequence, event_id, event_type, error, payload, attempts, failed_at
               FROM {shadow}.projection_dead_letters WHERE projection = $1"
        ),
        format!(
            "UPDATE public.projection_checkpoints AS live
                SET transaction_id = s.transaction_id, global_position = s.global_position,
                    state = s.state, error = s.error, updated_at = clock_timestamp()
               FROM {shadow}.projection_checkpoints AS s
              WHERE live.projection = $1 AND s.projection = $1"
        ),
    ];
    for statement in &statements {
        sqlx::query(statement)
            .bind(projection)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
