//! Looking into the running system from outside, as an operator would: counting rows in
//! a service's database, finding what mentions a value anywhere, publishing straight to
//! the broker, reading a metric.

use crate::System;
use conversations_test_support::amqp_url;

impl System {
    /// `SELECT count(*) AS n …` on one service's database (0: conversation-api's, 1: the
    /// notifier's, 2: metadata-query's).
    pub async fn count(&self, database: usize, sql: &str) -> i64 {
        let url = self.database_urls[database].clone();
        let sql = sql.to_owned();
        tokio::task::spawn_blocking(move || {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut conn = diesel::PgConnection::establish(&url).unwrap();
            let rows: Vec<Count> = diesel::sql_query(sql).load(&mut conn).unwrap();
            rows.first().map_or(0, |r| r.n)
        })
        .await
        .unwrap()
    }

    /// Every table of every service's database whose rows mention `needle` (as text, or
    /// inside a binary column such as an event payload): `database.table` names.
    pub async fn tables_mentioning(&self, needle: &str) -> Vec<String> {
        let urls = self.database_urls.clone();
        let needle = needle.to_owned();
        tokio::task::spawn_blocking(move || {
            use diesel::{Connection, RunQueryDsl};
            #[derive(diesel::QueryableByName)]
            struct Table {
                #[diesel(sql_type = diesel::sql_types::Text)]
                tablename: String,
            }
            #[derive(diesel::QueryableByName)]
            struct Hits {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let hex: String = needle.bytes().map(|b| format!("{b:02x}")).collect();
            let mut found = Vec::new();
            for url in urls {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                let tables: Vec<Table> = diesel::sql_query(
                    "SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = 'public'",
                )
                .load(&mut conn)
                .unwrap();
                for table in tables {
                    let hits: Vec<Hits> = diesel::sql_query(format!(
                        "SELECT count(*) AS n FROM \"{}\" AS x \
                         WHERE x::text LIKE $1 OR x::text LIKE $2",
                        table.tablename
                    ))
                    .bind::<diesel::sql_types::Text, _>(format!("%{needle}%"))
                    .bind::<diesel::sql_types::Text, _>(format!("%{hex}%"))
                    .load(&mut conn)
                    .unwrap();
                    if hits.first().is_some_and(|h| h.n > 0) {
                        let db = url.rsplit('/').next().unwrap_or_default().to_owned();
                        found.push(format!("{db}.{}", table.tablename));
                    }
                }
            }
            found
        })
        .await
        .unwrap()
    }

    /// Publishes `payload` to the system's events exchange as an event of type
    /// `routing_key`, straight to the broker (as a broken producer would).
    pub async fn publish_raw(&self, routing_key: &str, payload: &[u8]) {
        let connection =
            lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
                .await
                .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .basic_publish(
                self.exchange.as_str().into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions::default(),
                payload,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        let _ = connection.close(200, "ok".into()).await;
    }

    /// The value of the sample `sample` (name and labels exactly as exposed, e.g.
    /// `x_total{consumer="a",result="b"}`) at `base`'s `/metrics`.
    pub async fn metric(&self, base: &str, sample: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
    }
}
