//! `settings.json`: settings the node and wallet change at run time (Core's read-write
//! settings), such as the wallets to load on startup.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde_json::{Map, Value};

/// The file's contents, kept in memory and written back whole on every change.
#[derive(Debug)]
pub struct RwSettings {
    path: PathBuf,
    values: Mutex<Map<String, Value>>,
}

impl RwSettings {
    /// Reads `path`; a missing file is empty, an unreadable or malformed one an error
    /// in Core's words.
    pub fn open(path: &Path) -> Result<Self, String> {
        let values = match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(format!(
                    "Failed loading settings file:\n- Found non-object value in settings file {}",
                    path.display()
                ))
                }
                Err(e) => {
                    return Err(format!(
                        "Failed loading settings file:\n- Unable to parse settings file {}: {e}",
                        path.display()
                    ))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => {
                return Err(format!(
                    "Failed loading settings file:\n- Failed reading settings file {}: {e}",
                    path.display()
                ))
            }
        };
        Ok(RwSettings {
            path: path.to_path_buf(),
            values: Mutex::new(values),
        })
    }

    /// The value stored under `name`.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.values.lock().get(name).cloned()
    }

    /// Sets (`Some`) or removes (`None`) `name` and writes the file, replacing it
    /// atomically so a crash leaves either the old or the new contents.
    pub fn update(&self, name: &str, value: Option<Value>) -> Result<(), String> {
        let mut values = self.values.lock();
        let mut next = values.clone();
        match value {
            Some(v) => next.insert(name.to_string(), v),
            None => next.remove(name),
        };
        write_atomically(&self.path, &next)
            .map_err(|e| format!("Failed writing settings file {}: {e}", self.path.display()))?;
        *values = next;
        Ok(())
    }
}

fn write_atomically(path: &Path, values: &Map<String, Value>) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(values)?;
    text.push('\n');
    crate::storage::write_atomically(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hv-settings-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn values_survive_reopening_and_removal_is_written() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("settings.json");
        let s = RwSettings::open(&path).unwrap();
        assert_eq!(s.get("wallet"), None);
        s.update("wallet", Some(json!(["w1", "w2"]))).unwrap();
        let again = RwSettings::open(&path).unwrap();
        assert_eq!(again.get("wallet"), Some(json!(["w1", "w2"])));
        again.update("wallet", None).unwrap();
        assert_eq!(RwSettings::open(&path).unwrap().get("wallet"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn malformed_file_is_a_clear_error() {
        let dir = temp_dir("bad");
        let path = dir.join("settings.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = RwSettings::open(&path).unwrap_err();
        assert!(err.starts_with("Failed loading settings file"), "{err}");
        std::fs::write(&path, "[1]").unwrap();
        assert!(RwSettings::open(&path).unwrap_err().contains("non-object"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
