//! README_migration.md's schema sections are generated, not kept by hand; these tests fail
//! when one is stale. Regenerate with `CORTEX_UPDATE_DOCS=1 cargo test --test schema_docs`.
//!
//! - the changelog, from `migrations/` (both dialects must hold the same migrations);
//! - an ER diagram per dialect, read from a database just migrated (SQLite in memory, and a
//!   fresh Postgres database);
//! - the example queries in the README run against both.

mod common;

use sqlx::{Connection, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const README: &str = "README_migration.md";

fn migrations_dir(dialect: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dialect)
}

/// One migration file: its number, name and SQL.
struct Migration {
    version: String,
    name: String,
    sql: String,
}

fn migrations(dialect: &str) -> Vec<Migration> {
    let mut found: Vec<Migration> = std::fs::read_dir(migrations_dir(dialect))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let (version, name) = stem.split_once('_').expect("migrations are NNNN_name.sql");
            Migration {
                version: version.to_string(),
                name: name.replace('_', " "),
                sql: std::fs::read_to_string(&p).unwrap(),
            }
        })
        .collect();
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found
}

/// The leading comment of a migration: what it is for.
fn purpose(sql: &str) -> String {
    sql.lines()
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a migration's statements change, one phrase each, comments left out.
fn changes(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for statement in code.split(';') {
        let words: Vec<&str> = statement.split_whitespace().collect();
        let upper: Vec<String> = words.iter().map(|w| w.to_uppercase()).collect();
        let word = |i: usize| {
            words
                .get(i)
                .map_or("", |w| w.trim_matches(|c| c == '(' || c == '"'))
        };
        match upper
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["CREATE", "TABLE", ..] => out.push(format!("adds table `{}`", word(2))),
            ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX", ..] => {
                let at = upper.iter().position(|w| w == "ON").unwrap_or(0);
                out.push(format!("indexes `{}`", word(at + 1)))
            }
            ["ALTER", "TABLE", _, "ADD", "COLUMN", ..] => {
                out.push(format!("adds column `{}.{}`", word(2), word(5)))
            }
            ["ALTER", "TABLE", ..] => out.push(format!("alters table `{}`", word(2))),
            ["INSERT", "INTO", ..] => out.push(format!("writes rows into `{}`", word(2))),
            ["DROP", kind, ..] => out.push(format!("drops {} `{}`", kind.to_lowercase(), word(2))),
            ["UPDATE", ..] => out.push(format!("rewrites rows of `{}`", word(1))),
            ["DELETE", "FROM", ..] => out.push(format!("deletes rows of `{}`", word(2))),
            [] => {}
            other => out.push(format!("runs `{}`", other.join(" "))),
        }
    }
    // One phrase per kind of change and table, in order.
    let mut seen = std::collections::HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

/// Whether undoing a migration by hand keeps every row that was there before it.
fn reversible(changes: &[String]) -> &'static str {
    if changes
        .iter()
        .any(|c| c.starts_with("drops") || c.starts_with("rewrites") || c.starts_with("deletes"))
    {
        "no: it removes or rewrites data"
    } else {
        "yes: drop what it adds (its own data goes with it)"
    }
}

fn changelog() -> String {
    let sqlite = migrations("sqlite");
    let postgres = migrations("postgres");
    let names = |m: &[Migration]| {
        m.iter()
            .map(|m| format!("{} {}", m.version, m.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&sqlite),
        names(&postgres),
        "migrations/sqlite and migrations/postgres must hold the same migrations"
    );
    let mut out = String::from(
        "| # | migration | what it is for | what it changes | reversible by hand |\n|---|---|---|---|---|\n",
    );
    for m in &sqlite {
        let changes = changes(&m.sql);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            m.version,
            m.name,
            purpose(&m.sql).replace('|', "\\|"),
            changes.join("; "),
            reversible(&changes)
        ));
    }
    out
}

/// A column as the diagram shows it.
struct Column {
    name: String,
    kind: String,
    key: &'static str,
}

/// Tables (with their columns in order) and foreign keys (table, column, referenced table).
#[derive(Default)]
struct Schema {
    tables: BTreeMap<String, Vec<Column>>,
    references: Vec<(String, String, String)>,
}

impl Schema {
    fn mermaid(&self) -> String {
        let mut out = String::from("```mermaid\nerDiagram\n");
        for (table, columns) in &self.tables {
            out.push_str(&format!("    {table} {{\n"));
            for c in columns {
                let kind = c.kind.replace(' ', "_");
                match c.key {
                    "" => out.push_str(&format!("        {kind} {}\n", c.name)),
                    key => out.push_str(&format!("        {kind} {} {key}\n", c.name)),
                }
            }
            out.push_str("    }\n");
        }
        for (table, column, target) in &self.references {
            out.push_str(&format!("    {target} ||--o{{ {table} : \"{column}\"\n"));
        }
        out.push_str("```\n");
        out
    }
}

/// Tables sqlx keeps for itself.
fn own(table: &str) -> bool {
    !table.starts_with("_sqlx") && !table.starts_with("sqlite_")
}

async fn sqlite_schema(db: &mut sqlx::SqliteConnection) -> Schema {
    let mut schema = Schema::default();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(&mut *db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .filter(|t| own(t))
        .collect();
    for table in tables {
        let fks: Vec<(String, String)> = sqlx::query(&format!(
            "SELECT \"from\", \"table\" FROM pragma_foreign_key_list('{table}')"
        ))
        .fetch_all(&mut *db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let columns = sqlx::query(&format!(
            "SELECT name, type, pk FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .fetch_all(&mut *db)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let name: String = r.get(0);
            let key = if r.get::<i64, _>(2) > 0 {
                "PK"
            } else if fks.iter().any(|(c, _)| *c == name) {
                "FK"
            } else {
                ""
            };
            Column {
                kind: r.get::<String, _>(1).to_lowercase(),
                name,
                key,
            }
        })
        .collect();
        for (column, target) in fks {
            schema.references.push((table.clone(), column, target));
        }
        schema.tables.insert(table, columns);
    }
    schema.references.sort();
    schema
}

async fn postgres_schema(db: &mut sqlx::PgConnection) -> Schema {
    let mut schema = Schema::default();
    let keys: Vec<(String, String, String, Option<String>)> = sqlx::query(
        "SELECT kcu.table_name::text, kcu.column_name::text, tc.constraint_type::text, ccu.table_name::text
         FROM information_schema.table_constraints tc
         JOIN information_schema.key_column_usage kcu
           ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
         LEFT JOIN information_schema.constraint_column_usage ccu
           ON tc.constraint_type = 'FOREIGN KEY' AND ccu.constraint_name = tc.constraint_name
         WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
    .collect();
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut *db)
    .await
    .unwrap();
    for r in rows {
        let (table, name, kind): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        if !own(&table) {
            continue;
        }
        let has = |k: &str| {
            keys.iter()
                .any(|(t, c, kind, _)| *t == table && *c == name && kind == k)
        };
        let key = if has("PRIMARY KEY") {
            "PK"
        } else if has("FOREIGN KEY") {
            "FK"
        } else {
            ""
        };
        schema
            .tables
            .entry(table)
            .or_default()
            .push(Column { name, kind, key });
    }
    for (table, column, kind, target) in keys {
        if let ("FOREIGN KEY", Some(target)) = (kind.as_str(), target) {
            schema.references.push((table, column, target));
        }
    }
    schema.references.sort();
    schema.references.dedup();
    schema
}

async fn migrated_sqlite() -> sqlx::SqliteConnection {
    let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(migrations_dir("sqlite"))
        .await
        .unwrap()
        .run(&mut db)
        .await
        .unwrap();
    db
}

async fn migrated_postgres(pg: &common::PgDb) -> sqlx::PgConnection {
    let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::migrate::Migrator::new(migrations_dir("postgres"))
        .await
        .unwrap()
        .run(&mut db)
        .await
        .unwrap();
    db
}

/// Checks (or, with `CORTEX_UPDATE_DOCS`, rewrites) the README's section `name`.
fn check_section(name: &str, want: &str) {
    const HOW: &str = "CORTEX_UPDATE_DOCS=1 cargo test --test schema_docs";
    common::generated_section(
        README,
        &format!("<!-- {name}:begin (generated; {HOW}) -->"),
        &format!("<!-- {name}:end -->"),
        want,
        HOW,
    );
}

/// The example queries: every ```sql block of the README's "Looking inside" section.
fn example_queries() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(README)).unwrap();
    let section = readme
        .split("## Looking inside the database")
        .nth(1)
        .expect("README_migration.md has a section \"Looking inside the database\"");
    let section = section.split("\n## ").next().unwrap();
    let queries: Vec<String> = section
        .split("```sql\n")
        .skip(1)
        .flat_map(|block| {
            block
                .split("```")
                .next()
                .unwrap()
                .split(';')
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(queries.len() >= 4, "a few example queries: {queries:?}");
    queries
}

#[test]
fn the_changelog_is_current() {
    check_section("migrations", &changelog());
}

#[tokio::test]
async fn the_schema_diagrams_are_current_and_the_example_queries_run() {
    let mut sqlite = migrated_sqlite().await;
    let pg = common::PgDb::create().await;
    let mut postgres = migrated_postgres(&pg).await;
    check_section("schema-sqlite", &sqlite_schema(&mut sqlite).await.mermaid());
    check_section(
        "schema-postgres",
        &postgres_schema(&mut postgres).await.mermaid(),
    );
    for q in example_queries() {
        sqlx::query(&q)
            .fetch_all(&mut sqlite)
            .await
            .unwrap_or_else(|e| panic!("on SQLite: {e}\n{q}"));
        sqlx::query(&q)
            .fetch_all(&mut postgres)
            .await
            .unwrap_or_else(|e| panic!("on Postgres: {e}\n{q}"));
    }
    drop(postgres);
    pg.drop_db().await;
}

#[test]
fn changes_are_read_from_the_statements() {
    let sql = "-- Why.\nCREATE TABLE a (id TEXT PRIMARY KEY);\nCREATE INDEX a_x ON a (id);\nALTER TABLE b ADD COLUMN c TEXT; -- note\nUPDATE b SET c = '';";
    let c = changes(sql);
    assert_eq!(
        c,
        [
            "adds table `a`",
            "indexes `a`",
            "adds column `b.c`",
            "rewrites rows of `b`"
        ]
    );
    assert_eq!(purpose(sql), "Why.");
    assert!(reversible(&c).starts_with("no"));
    assert!(reversible(&c[..3]).starts_with("yes"));
}
