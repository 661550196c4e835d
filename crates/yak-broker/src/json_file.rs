//! Small JSON files the node keeps beside its logs (`topics.json`, `cluster.json`): read whole,
//! replaced atomically and durably (write a temporary file, fsync it, rename it over the old one,
//! fsync the directory), so a crash leaves the old file or the new one, never a mix.

use std::io::Write;
use std::path::Path;

/// The file's value; `None` when the file does not exist.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `dir/file_name` with `value`; durable once this returns.
pub fn store<T: serde::Serialize>(dir: &Path, file_name: &str, value: &T) -> std::io::Result<()> {
    let path = dir.join(file_name);
    let temporary = dir.join(format!("{file_name}.tmp"));
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    std::fs::File::open(dir)?.sync_all()
}
