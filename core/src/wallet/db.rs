//! The wallet file: one SQLite database per wallet (`<walletdir>/<name>/wallet.dat`)
//! holding a single key-value table, as Core's SQLite wallets do.
//!
//! Every write is one SQLite transaction in WAL mode with `synchronous=FULL`, so a write
//! that returned is on disk and a crash mid-write leaves the previous state.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// Identifies hashvive wallet files (SQLite `application_id`, Core's regtest magic).
const APPLICATION_ID: i32 = 0xfabfb5dau32 as i32;
/// Schema version kept in `user_version`.
const SCHEMA_VERSION: i32 = 1;

/// An open wallet database.
pub struct WalletDb {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// One change in a batch written by [`WalletDb::write_batch`].
#[derive(Debug, Clone)]
pub enum Write {
    /// Stores `value` under `key`.
    Put(String, Value),
    /// Removes `key`.
    Erase(String),
}

fn err(e: rusqlite::Error) -> String {
    e.to_string()
}

impl WalletDb {
    /// Opens (or, with `create`, creates) the database file at `path`.
    pub fn open(path: &Path, create: bool) -> Result<Self, String> {
        if !create && !path.exists() {
            return Err(format!("Wallet file {} does not exist", path.display()));
        }
        let conn = Connection::open(path).map_err(err)?;
        // Another process holding the file is an error at once, not a wait.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(err)?;
        // A second process (or a second load) must not share the file.
        conn.pragma_update(None, "locking_mode", "exclusive")
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        // Overwritten records (e.g. keys before encryption) must not linger in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(err)?;
        let has_table: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='main'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| format!("{e} (not a wallet file?)"))?
            > 0;
        if !has_table {
            if !create {
                return Err(format!("{} is not a wallet file", path.display()));
            }
            conn.execute_batch(&format!(
                "BEGIN; CREATE TABLE main(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                 PRAGMA application_id={APPLICATION_ID}; PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            ))
            .map_err(err)?;
        } else if app_id != APPLICATION_ID {
            return Err(format!(
                "{} is not a hashvive wallet file (application id {app_id:#x})",
                path.display()
            ));
        }
        // Take the exclusive lock now rather than at the first write.
        conn.execute_batch("BEGIN IMMEDIATE; COMMIT;").map_err(|e| {
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
                "Unable to obtain an exclusive lock on the database, is it being used by another instance of hashvive?".to_string()
            } else {
                err(e)
            }
        })?;
        Ok(WalletDb {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads one value.
    pub fn read(&self, key: &str) -> Result<Option<Value>, String> {
        let conn = self.conn.lock();
        let s: Option<String> = conn
            .query_row("SELECT value FROM main WHERE key=?1", params![key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            .transpose()
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn read_prefix(&self, prefix: &str) -> Result<Vec<(String, Value)>, String> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT key, value FROM main WHERE substr(key, 1, ?2) = ?1 ORDER BY key")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![prefix, prefix.len() as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (k, v) = row.map_err(err)?;
            out.push((k, serde_json::from_str(&v).map_err(|e| e.to_string())?));
        }
        Ok(out)
    }

    /// Applies `writes` atomically: all of them or none.
    pub fn write_batch(&self, writes: &[Write]) -> Result<(), String> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(err)?;
        for w in writes {
            match w {
                Write::Put(k, v) => {
                    tx.execute(
                        "INSERT OR REPLACE INTO main(key, value) VALUES (?1, ?2)",
                        params![k, v.to_string()],
                    )
                    .map_err(err)?;
                }
                Write::Erase(k) => {
                    tx.execute("DELETE FROM main WHERE key=?1", params![k])
                        .map_err(err)?;
                }
            }
        }
        tx.commit().map_err(err)
    }

    /// Stores one value.
    pub fn write(&self, key: &str, value: Value) -> Result<(), String> {
        self.write_batch(&[Write::Put(key.to_string(), value)])
    }

    /// Copies the whole database to `dest` (which must not exist) as one consistent snapshot.
    pub fn backup(&self, dest: &Path) -> Result<(), String> {
        let conn = self.conn.lock();
        // A checkpoint first, so the copy is a single self-contained file.
        conn.execute_batch("PRAGMA wal_checkpoint(FULL);")
            .map_err(err)?;
        let dest = dest
            .to_str()
            .ok_or_else(|| "backup path is not valid UTF-8".to_string())?;
        // VACUUM INTO writes a consistent, compacted copy in one statement.
        conn.execute("VACUUM INTO ?1", params![dest]).map_err(err)?;
        Ok(())
    }

    /// Rewrites the file from scratch and empties the WAL, so no old record survives in
    /// slack space (Core's `Rewrite`, done after encrypting).
    pub fn rewrite(&self) -> Result<(), String> {
        let conn = self.conn.lock();
        conn.execute_batch(
            "PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .map_err(err)
    }

    /// Merges the WAL into the main file (called when the wallet is flushed or closed).
    pub fn checkpoint(&self) {
        let _ = self
            .conn
            .lock()
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
    }
}

/// Whether `path` looks like a SQLite database (for `listwalletdir`).
pub fn is_sqlite_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|_| &magic == b"SQLite format 3\0")
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wallet_db_roundtrip_and_atomic_batches() {
        let dir = std::env::temp_dir().join(format!("hv-walletdb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wallet.dat");
        assert!(WalletDb::open(&path, false).is_err());
        {
            let db = WalletDb::open(&path, true).unwrap();
            db.write_batch(&[
                Write::Put("tx/a".into(), json!(1)),
                Write::Put("tx/b".into(), json!({"x": 2})),
                Write::Put("meta".into(), json!("m")),
            ])
            .unwrap();
            db.write_batch(&[Write::Erase("tx/a".into())]).unwrap();
            // A second handle cannot open a file that is in use.
            assert!(WalletDb::open(&path, false).is_err());
        }
        let db = WalletDb::open(&path, false).unwrap();
        assert_eq!(db.read("meta").unwrap(), Some(json!("m")));
        let txs = db.read_prefix("tx/").unwrap();
        assert_eq!(txs, vec![("tx/b".to_string(), json!({"x": 2}))]);
        assert!(is_sqlite_file(&path));
        let copy = dir.join("copy.dat");
        db.backup(&copy).unwrap();
        drop(db);
        let db2 = WalletDb::open(&copy, false).unwrap();
        assert_eq!(db2.read("meta").unwrap(), Some(json!("m")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
