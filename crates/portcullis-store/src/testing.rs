//! A throwaway PostgreSQL schema for tests (this crate's, and other crates' with the
//! `test-support` feature).
//!
//! Tests that need PostgreSQL run when [`TEST_POSTGRES_ENV`] holds a URL (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) and are skipped otherwise. Each
//! [`TestPostgres`] is a fresh, migrated schema with a random name, so tests run in
//! parallel without seeing each other's rows; it is dropped with everything in it when
//! the value is.

use secrecy::{ExposeSecret, SecretString};

use crate::postgres::{PostgresConfig, PostgresStore};
use crate::StoreError;

/// The environment variable naming the test database.
pub const TEST_POSTGRES_ENV: &str = "PORTCULLIS_TEST_POSTGRES";

/// A fresh schema in the test database.
pub struct TestPostgres {
    url: SecretString,
    schema: String,
}

impl std::fmt::Debug for TestPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPostgres")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl TestPostgres {
    /// A new migrated schema, or `None` when [`TEST_POSTGRES_ENV`] is unset or empty.
    /// An unreachable database is an error, not a skip.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        Self::create(true)
    }

    /// A new empty schema, not migrated (to test `portcullis migrate` and the check
    /// at start), or `None` when [`TEST_POSTGRES_ENV`] is unset or empty.
    pub fn unmigrated_from_env() -> Result<Option<Self>, StoreError> {
        Self::create(false)
    }

    fn create(migrate: bool) -> Result<Option<Self>, StoreError> {
        let Some(url) = std::env::var(TEST_POSTGRES_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
        else {
            return Ok(None);
        };
        let t = Self {
            url: url.into(),
            schema: format!(
                "portcullis_test_{}_{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ),
        };
        if migrate {
            PostgresStore::migrate(&t.config())?;
        } else {
            PostgresStore::raw(&PostgresConfig::new(t.url.clone()))?
                .execute_batch(&format!("CREATE SCHEMA \"{}\"", t.schema))?;
        }
        Ok(Some(t))
    }

    /// [`TestPostgres::from_env`], printing why a test is skipped.
    pub fn or_skip(test: &str) -> Option<Self> {
        match Self::from_env() {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                eprintln!("{test}: skipped on PostgreSQL ({TEST_POSTGRES_ENV} is not set)");
                None
            }
            // PANIC SAFETY: test support only: a configured but unusable database fails
            // the test instead of skipping it.
            #[allow(clippy::panic)]
            Err(e) => panic!("{test}: the test database is unusable: {e}"),
        }
    }

    /// The schema's name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A configuration for the schema.
    pub fn config(&self) -> PostgresConfig {
        // The name is generated above from digits and letters only.
        match PostgresConfig::new(self.url.clone()).with_schema(&self.schema) {
            Ok(c) => c,
            Err(_) => PostgresConfig::new(self.url.clone()),
        }
    }

    /// A store on the schema (one per gateway replica, if you like).
    pub fn open(&self) -> Result<PostgresStore, StoreError> {
        PostgresStore::open(&self.config())
    }

    /// The URL (for configuration files written by tests).
    pub fn url(&self) -> &SecretString {
        &self.url
    }

    /// Runs SQL in the schema as is (e.g. a trigger that makes some writes fail).
    pub fn execute(&self, sql: &str) -> Result<(), StoreError> {
        PostgresStore::raw(&self.config())?.execute_batch(sql)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let cfg = PostgresConfig::new(self.url.clone());
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        let r = PostgresStore::raw(&cfg).and_then(|s| s.execute_batch(&sql));
        if let Err(e) = r {
            eprintln!(
                "could not drop test schema {} in {}: {e}",
                self.schema,
                // Never the password.
                PostgresConfig::new(self.url.expose_secret().to_string().into()).redacted()
            );
        }
    }
}
