//! One process per data directory. The embedded qdrant-edge shard and SQLite database are
//! made for one writer; two gateways on one `--data-dir` would corrupt the shard. The
//! first holds an exclusive lock on `<data-dir>/.lock` for its lifetime; a second refuses
//! to start, saying which directory is taken. Because of it, leases found in the embedded
//! store at start-up can only belong to a process that died.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context};

/// The held lock; released when dropped (or when the process dies, however it dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `dir`, creating the directory if needed.
    pub fn take(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let path = dir.join(".lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!("{} is in use by another firebreak process: give each gateway its own --data-dir", dir.display())
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DataDirLock;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::take(dir.path()).unwrap();
        let e = DataDirLock::take(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another firebreak process"), "{e}");
        drop(first);
        DataDirLock::take(dir.path()).unwrap();
    }
}
