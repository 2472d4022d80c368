//! The shared PostgreSQL database of `[store] kind = "postgres"` for the parts that keep
//! tables of their own in the gateway's database: the model registry and the policy
//! bundles. With SQLite they stay in `<data_dir>/portcullis.db`, as before.

use std::path::Path;

use portcullis_core::config::{Config, PostgresStoreConfig, StoreKind};
use portcullis_integrity::policy_bundle::BundleStore;
use portcullis_integrity::registry::postgres::PostgresRegistryStore;
use portcullis_integrity::registry::sqlite::SqliteRegistryStore;
use portcullis_integrity::registry::{AnyRegistryStore, Registry};
use portcullis_store::postgres::{PostgresConfig, SqlClient};

use crate::upstream::read_credential;

/// The connection settings of `[store] kind = "postgres"`, the URL read from its source.
/// Errors never hold the URL's password.
pub fn postgres_config(config: &Config, p: &PostgresStoreConfig) -> Result<PostgresConfig, String> {
    let url = read_credential(&p.url)
        .map_err(|e| format!("{}: store URL: {e}", config.path.display()))?
        .ok_or_else(|| format!("{}: store URL: none given", config.path.display()))?;
    let mut cfg = PostgresConfig::new(url)
        .with_pool_size(p.pool_size)
        .with_timeout(p.timeout);
    if let Some(s) = &p.schema {
        cfg = cfg.with_schema(s).map_err(|e| e.to_string())?;
    }
    if let Some(ca) = &p.ca_file {
        cfg = cfg.with_ca_file(ca);
    }
    Ok(cfg)
}

/// A client on the shared database; `None` with SQLite.
pub fn sql_client(config: &Config) -> Result<Option<SqlClient>, String> {
    match &config.store {
        StoreKind::Sqlite => Ok(None),
        StoreKind::Postgres(p) => {
            let cfg = postgres_config(config, p)?;
            SqlClient::open(&cfg)
                .map(Some)
                .map_err(|e| format!("PostgreSQL at {}: {e}", cfg.redacted()))
        }
    }
}

/// The model registry: in the shared database, or in the SQLite file `db`.
pub fn open_registry(config: &Config, db: &Path) -> Result<Registry<AnyRegistryStore>, String> {
    let store = match sql_client(config)? {
        Some(sql) => AnyRegistryStore::Postgres(PostgresRegistryStore::new(sql)),
        None => AnyRegistryStore::Sqlite(
            SqliteRegistryStore::open(db)
                .map_err(|e| format!("model registry in {}: {e}", db.display()))?,
        ),
    };
    Ok(Registry::new(store))
}

/// The policy bundles: in the shared database, or in the SQLite file `db`.
pub fn open_bundles(config: &Config, db: &Path) -> Result<BundleStore, String> {
    match sql_client(config)? {
        Some(sql) => Ok(BundleStore::open_postgres(sql)),
        None => {
            BundleStore::open(db).map_err(|e| format!("policy bundles in {}: {e}", db.display()))
        }
    }
}
