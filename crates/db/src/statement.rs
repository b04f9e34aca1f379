//! Statements whose shape depends on the data (multi-row `VALUES` lists, `IN` lists, table
//! names chosen at run time), written once with `?` placeholders and run on either backend:
//! diesel's query builder cannot express guarded upserts and `UPDATE … FROM` on a
//! multi-backend connection.

use chrono::NaiveDateTime;

use crate::connection::AnyConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, BoxedSqlQuery, QueryFragment, QueryId, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

/// Binds per statement at most: below SQLite's limit (32,766) and PostgreSQL's (65,535).
pub const MAX_BINDS: usize = 30_000;

/// One bound value, typed as the column it is compared with or stored in.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
    Bool(bool),
    Time(NaiveDateTime),
    OptTime(Option<NaiveDateTime>),
    Bytes(&'a [u8]),
    OptBytes(Option<&'a [u8]>),
}

/// SQL text with `?` placeholders and the values for them, in order.
#[derive(Debug, Default)]
pub struct Statement<'a> {
    sql: String,
    binds: Vec<Value<'a>>,
    /// Rows appended with [`Statement::row`] (one `VALUES` list per statement).
    rows: usize,
}

impl<'a> Statement<'a> {
    /// Starts a statement with this text.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            binds: Vec::new(),
            rows: 0,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Binds the next `?`.
    pub fn bind(&mut self, value: Value<'a>) -> &mut Self {
        self.binds.push(value);
        self
    }

    /// Appends `(?, ?, …)` binding `values` as text: the list of an `IN`.
    pub fn texts_in(&mut self, values: impl IntoIterator<Item = &'a str>) -> &mut Self {
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            self.sql.push_str(if i > 0 { ", ?" } else { "?" });
            self.binds.push(Value::Text(value));
        }
        self.sql.push(')');
        self
    }

    /// Appends `(?, ?, …)` binding `values` as integers: the list of an `IN`.
    pub fn ints_in(&mut self, values: impl IntoIterator<Item = i64>) -> &mut Self {
        self.sql.push('(');
        for (i, value) in values.into_iter().enumerate() {
            self.sql.push_str(if i > 0 { ", ?" } else { "?" });
            self.binds.push(Value::Int(value));
        }
        self.sql.push(')');
        self
    }

    /// Appends `(?, ?, …)` for one row of a `VALUES` list and binds its values.
    pub fn row(&mut self, values: &[Value<'a>]) -> &mut Self {
        let mut template = String::with_capacity(values.len() * 3 + 2);
        template.push('(');
        for i in 0..values.len() {
            template.push_str(if i > 0 { ", ?" } else { "?" });
        }
        template.push(')');
        self.row_as(&template, values)
    }

    /// Appends one row of a `VALUES` list written as `template` (which may hold
    /// subqueries), binding `values` to its placeholders in order.
    pub fn row_as(&mut self, template: &str, values: &[Value<'a>]) -> &mut Self {
        debug_assert_eq!(template.matches('?').count(), values.len());
        if self.rows > 0 {
            self.sql.push_str(", ");
        }
        self.rows += 1;
        self.sql.push_str(template);
        self.binds.extend_from_slice(values);
        self
    }

    /// Ends a `VALUES` list with `sql`; the next [`Statement::row`] starts another list.
    pub fn end_list(&mut self, sql: &str) -> &mut Self {
        self.rows = 0;
        self.push(sql)
    }

    /// Runs it; the number of rows it changed.
    pub fn execute(&self, conn: &mut AnyConnection) -> QueryResult<usize> {
        match conn {
            AnyConnection::Postgresql(c) => self.postgres().execute(c),
            AnyConnection::Sqlite(c) => self.sqlite().execute(c),
        }
    }

    /// Runs it and reads the rows it returns.
    pub fn load<U>(&self, conn: &mut AnyConnection) -> QueryResult<Vec<U>>
    where
        U: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        match conn {
            AnyConnection::Postgresql(c) => self.postgres().load(c),
            AnyConnection::Sqlite(c) => self.sqlite().load(c),
        }
    }

    /// Runs it as a prepared statement the connection keeps (diesel never keeps a raw
    /// `sql_query`): for statements of a fixed shape run on every request, which
    /// PostgreSQL would otherwise parse and plan each time. Not for `VALUES` or `IN`
    /// lists whose length varies: each length would be kept as a statement of its own.
    pub fn execute_prepared(&self, conn: &mut AnyConnection) -> QueryResult<usize> {
        match conn {
            AnyConnection::Postgresql(c) => Keep(self).execute(c),
            AnyConnection::Sqlite(c) => Keep(self).execute(c),
        }
    }

    fn postgres(&self) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
        let mut query = diesel::sql_query(numbered(&self.sql)).into_boxed::<Pg>();
        for value in &self.binds {
            query = match *value {
                Value::Text(v) => query.bind::<Text, _>(v),
                Value::OptText(v) => query.bind::<Nullable<Text>, _>(v),
                Value::Int(v) => query.bind::<BigInt, _>(v),
                Value::Bool(v) => query.bind::<Bool, _>(v),
                Value::Time(v) => query.bind::<Timestamp, _>(v),
                Value::OptTime(v) => query.bind::<Nullable<Timestamp>, _>(v),
                Value::Bytes(v) => query.bind::<Binary, _>(v),
                Value::OptBytes(v) => query.bind::<Nullable<Binary>, _>(v),
            };
        }
        query
    }

    fn sqlite(&self) -> BoxedSqlQuery<'a, Sqlite, SqlQuery> {
        let mut query = diesel::sql_query(self.sql.clone()).into_boxed::<Sqlite>();
        for value in &self.binds {
            query = match *value {
                Value::Text(v) => query.bind::<Text, _>(v),
                Value::OptText(v) => query.bind::<Nullable<Text>, _>(v),
                Value::Int(v) => query.bind::<BigInt, _>(v),
                Value::Bool(v) => query.bind::<Bool, _>(v),
                Value::Time(v) => query.bind::<Timestamp, _>(v),
                Value::OptTime(v) => query.bind::<Nullable<Timestamp>, _>(v),
                Value::Bytes(v) => query.bind::<Binary, _>(v),
                Value::OptBytes(v) => query.bind::<Nullable<Binary>, _>(v),
            };
        }
        query
    }
}

/// A [`Statement`] as a query diesel may keep prepared, keyed by its SQL text: each `?`
/// becomes the backend's placeholder for the next bound value.
struct Keep<'s, 'a>(&'s Statement<'a>);

impl QueryId for Keep<'_, '_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn> RunQueryDsl<Conn> for Keep<'_, '_> {}

macro_rules! keep_for {
    ($backend:ty) => {
        impl QueryFragment<$backend> for Keep<'_, '_> {
            fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, $backend>) -> QueryResult<()> {
                let mut binds = self.0.binds.iter();
                for (i, part) in self.0.sql.split('?').enumerate() {
                    if i > 0 {
                        match binds.next() {
                            Some(Value::Text(v)) => out.push_bind_param::<Text, str>(*v)?,
                            Some(Value::OptText(v)) => {
                                out.push_bind_param::<Nullable<Text>, _>(v)?
                            }
                            Some(Value::Int(v)) => out.push_bind_param::<BigInt, _>(v)?,
                            Some(Value::Bool(v)) => out.push_bind_param::<Bool, _>(v)?,
                            Some(Value::Time(v)) => out.push_bind_param::<Timestamp, _>(v)?,
                            Some(Value::OptTime(v)) => {
                                out.push_bind_param::<Nullable<Timestamp>, _>(v)?
                            }
                            Some(Value::Bytes(v)) => out.push_bind_param::<Binary, [u8]>(*v)?,
                            Some(Value::OptBytes(v)) => {
                                out.push_bind_param::<Nullable<Binary>, _>(v)?
                            }
                            None => {
                                return Err(diesel::result::Error::QueryBuilderError(
                                    "more placeholders than bound values".into(),
                                ));
                            }
                        }
                    }
                    out.push_sql(part);
                }
                Ok(())
            }
        }
    };
}
keep_for!(Pg);
keep_for!(Sqlite);

/// Rewrites `?` placeholders as `$1, $2, …` for PostgreSQL (our SQL has no `?` elsewhere).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + sql.len() / 2);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// `column = CASE WHEN condition THEN value ELSE <table>.column END`: an assignment of an
/// `UPDATE` that only takes `value` when it is newer.
pub fn guarded(table: &str, column: &str, condition: &str, value: &str) -> String {
    format!("{column} = CASE WHEN {condition} THEN {value} ELSE {table}.{column} END")
}

/// How many rows of `binds_per_row` values fit in one statement.
pub fn rows_per_statement(binds_per_row: usize) -> usize {
    (MAX_BINDS / binds_per_row.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("SELECT ? WHERE a = ? AND b = ?"),
            "SELECT $1 WHERE a = $2 AND b = $3"
        );
    }

    #[test]
    fn rows_are_listed_with_one_placeholder_per_value() {
        let mut s = Statement::new("INSERT INTO t (a, b) VALUES ");
        s.row(&[Value::Int(1), Value::Text("x")])
            .row(&[Value::Int(2), Value::OptText(None)]);
        assert_eq!(s.sql, "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
        assert_eq!(s.binds.len(), 4);
    }

    #[test]
    fn in_lists_bind_each_value() {
        let mut s = Statement::new("SELECT 1 WHERE id IN ");
        s.texts_in(["a", "b", "c"]);
        assert_eq!(s.sql, "SELECT 1 WHERE id IN (?, ?, ?)");
        assert_eq!(s.binds.len(), 3);
    }
}
