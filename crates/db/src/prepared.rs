//! Prepared statements for `UPDATE`s on the hot path. diesel prepares and caches most
//! queries per connection, but never an `UPDATE` (its changeset may change shape), so
//! PostgreSQL parsed, analysed and planned the conversation and participant updates of
//! every post again: about 100 µs of its CPU per post (measured with
//! `pg_stat_statements.track_planning`). Cached by the statement's SQL text and bind types,
//! as diesel does for queries without a static id, a prepared `UPDATE` is correct for any
//! changeset shape.

use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
use diesel::query_source::QuerySource;

use crate::connection::AnyConnection;

/// `UPDATE <table> SET <changeset> WHERE <filter>`, written by us rather than by diesel's
/// `UpdateStatement` (which marks itself unsafe to cache), so diesel keeps it prepared,
/// keyed by its SQL text and bind types.
#[derive(Debug, Clone, Copy)]
pub struct PreparedUpdate<T, V, W> {
    from_clause: T,
    values: V,
    filter: W,
}

impl<T, V, W> QueryId for PreparedUpdate<T, V, W> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<T, V, W, DB> QueryFragment<DB> for PreparedUpdate<T, V, W>
where
    DB: Backend,
    T: QueryFragment<DB>,
    V: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.from_clause.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<T, V, W, Conn> RunQueryDsl<Conn> for PreparedUpdate<T, V, W> {}

/// Sets `values` (a changeset: a row struct deriving `AsChangeset`, or a tuple of
/// `column.eq(value)`) on the rows of `table` matching `filter`, as a prepared statement
/// on either backend; the number of rows it changed.
pub fn update<T, V, W>(
    conn: &mut AnyConnection,
    table: T,
    values: V,
    filter: W,
) -> QueryResult<usize>
where
    T: Table + QuerySource,
    V: AsChangeset<Target = T>,
    PreparedUpdate<T::FromClause, V::Changeset, W>:
        QueryFragment<diesel::pg::Pg> + QueryFragment<diesel::sqlite::Sqlite>,
{
    let statement = PreparedUpdate {
        from_clause: table.from_clause(),
        values: values.as_changeset(),
        filter,
    };
    match conn {
        AnyConnection::Postgresql(c) => statement.execute(c),
        AnyConnection::Sqlite(c) => statement.execute(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::BigInt;

    diesel::table! {
        probe (id) {
            id -> BigInt,
            n -> BigInt,
        }
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// A connection to the test server's `postgres` database (temporary tables only).
    fn connection() -> AnyConnection {
        let url = conversations_test_support::postgres::admin_url();
        AnyConnection::Postgresql(diesel::PgConnection::establish(&url).unwrap())
    }

    #[test]
    fn an_update_stays_prepared() {
        let mut conn = connection();
        diesel::sql_query("CREATE TEMP TABLE probe (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)")
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query("INSERT INTO probe VALUES (1, 0)")
            .execute(&mut conn)
            .unwrap();
        for i in 0..3 {
            let changed = update(&mut conn, probe::table, probe::n.eq(i), probe::id.eq(1)).unwrap();
            assert_eq!(changed, 1);
        }
        let prepared: Vec<Count> = diesel::sql_query(
            "SELECT COUNT(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'UPDATE%probe%'",
        )
        .load(&mut conn)
        .unwrap();
        assert_eq!(prepared[0].n, 1, "one prepared statement, reused");
    }

    #[test]
    fn a_raw_statement_can_stay_prepared_with_its_values_in_place() {
        use crate::statement::{Statement, Value};
        let mut conn = connection();
        diesel::sql_query("CREATE TEMP TABLE kept (id BIGINT PRIMARY KEY, t TEXT, b BYTEA)")
            .execute(&mut conn)
            .unwrap();
        for i in 0..3 {
            let mut insert = Statement::new("INSERT INTO kept (id, t, b) VALUES ");
            insert.row(&[
                Value::Int(i),
                Value::OptText(Some("x?y")),
                Value::Bytes(b"?"),
            ]);
            assert_eq!(insert.execute_prepared(&mut conn).unwrap(), 1);
        }
        let check: Vec<Count> = diesel::sql_query(
            "SELECT (SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO kept%') * 100 \
             + (SELECT COUNT(*) FROM kept WHERE t = 'x?y' AND b = '\\x3f'::bytea) AS n",
        )
        .load(&mut conn)
        .unwrap();
        assert_eq!(
            check[0].n, 103,
            "one prepared statement; three rows with their values"
        );
    }
}
