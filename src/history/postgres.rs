//! The history's store on RabbitMQ: a PostgreSQL table (`[history]
//! postgres_url`, `postgres_table`) shared by every receiver and worker —
//! one row per record, its time in ms and the record as JSON, indexed by
//! time. Connected lazily and again after an error; the table is created
//! when missing (under an advisory lock, so that processes starting
//! together do not race). Plain TCP: no TLS (keep the database on a private
//! network, or on the same host).

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use super::record::Record;

/// The table, and the connection once made.
pub(super) struct Postgres {
    url: String,
    table: String,
    client: Mutex<Option<Client>>,
}

/// What PostgreSQL said, without the URL (which may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL: {0}")]
pub(super) struct PgError(String);

impl From<tokio_postgres::Error> for PgError {
    fn from(error: tokio_postgres::Error) -> Self {
        PgError(error.to_string())
    }
}

impl Postgres {
    pub fn new(url: &str, table: &str) -> Postgres {
        Postgres {
            url: url.to_string(),
            table: table.to_string(),
            client: Mutex::new(None),
        }
    }

    /// Runs `work` with a connected client; an error drops the connection,
    /// so that the next call connects again.
    async fn with_client<T>(
        &self,
        work: impl AsyncFnOnce(&Client, &str) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, PgError> {
        let mut slot = self.client.lock().await;
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = Some(self.connect().await?);
        }
        let Some(client) = slot.as_ref() else {
            return Err(PgError("not connected".into()));
        };
        let result = work(client, &self.table).await;
        if result.is_err() {
            *slot = None;
        }
        Ok(result?)
    }

    async fn connect(&self) -> Result<Client, PgError> {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "history: the PostgreSQL connection ended");
            }
        });
        let table = &self.table;
        let create = format!(
            "SELECT pg_advisory_xact_lock(hashtext('purgehook history {table}'));
             CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, at_ms bigint NOT NULL, record text NOT NULL);
             CREATE INDEX IF NOT EXISTS {table}_at ON {table} (at_ms);"
        );
        client
            .batch_execute(&format!("BEGIN; {create} COMMIT;"))
            .await?;
        Ok(client)
    }

    /// Inserts `records` in one statement.
    pub async fn write(&self, records: &[Record]) -> Result<(), PgError> {
        let mut times = Vec::with_capacity(records.len());
        let mut bodies = Vec::with_capacity(records.len());
        for record in records {
            times.push(i64::try_from(record.at_ms()).unwrap_or(i64::MAX));
            bodies.push(serde_json::to_string(record).map_err(|e| PgError(e.to_string()))?);
        }
        self.with_client(async |client, table| {
            let insert = format!(
                "INSERT INTO {table} (at_ms, record) SELECT * FROM unnest($1::bigint[], $2::text[])"
            );
            client.execute(&insert, &[&times, &bodies]).await.map(drop)
        })
        .await
    }

    /// The records from `since_ms` on, newest first (at most `limit`).
    pub async fn read(&self, since_ms: u64, limit: i64) -> Result<Vec<Record>, PgError> {
        let since = i64::try_from(since_ms).unwrap_or(i64::MAX);
        let rows = self
            .with_client(async |client, table| {
                let select = format!(
                    "SELECT record FROM {table} WHERE at_ms >= $1 ORDER BY at_ms DESC, id DESC LIMIT $2"
                );
                client.query(&select, &[&since, &limit]).await
            })
            .await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            let text: String = row.try_get(0).map_err(PgError::from)?;
            match serde_json::from_str(&text) {
                Ok(record) => records.push(record),
                Err(error) => {
                    tracing::warn!(%error, "history: a record that is not readable was skipped")
                }
            }
        }
        Ok(records)
    }

    /// Deletes the records older than `before_ms`; returns how many.
    pub async fn prune(&self, before_ms: u64) -> Result<u64, PgError> {
        let before = i64::try_from(before_ms).unwrap_or(i64::MAX);
        self.with_client(async |client, table| {
            let delete = format!("DELETE FROM {table} WHERE at_ms < $1");
            client.execute(&delete, &[&before]).await
        })
        .await
    }
}
