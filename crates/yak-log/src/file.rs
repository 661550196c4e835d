//! The file seam: the only way the log touches the disk.
//!
//! [`OsFileSystem`] is the real one. [`SimulatedFileSystem`] keeps files in memory and can
//! crash (losing unsynced writes), tear the last write, fail an fsync, or run out of space, so
//! tests can check the log's crash safety deterministically.
//!
//! All `LogFile` methods take `&self` and use positional I/O, so the broker can fsync or read an
//! `Arc<dyn LogFile>` without holding the log's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Directory operations the log needs.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Paths of the entries of `path`, in no particular order.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Opens for reading and writing; creates the file if `create` and it is missing.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// Makes the directory's entries (created and removed files) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// One open file, read and written at explicit positions.
// `len` is a file length that can fail, not a collection size, so `is_empty` would add nothing.
#[allow(clippy::len_without_is_empty)]
pub trait LogFile: Send + Sync + std::fmt::Debug {
    fn len(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()>;
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// fdatasync: makes the file's data (and its length) durable.
    fn sync_data(&self) -> io::Result<()>;
}

/// The real disk, through `std::fs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsFileSystem;

#[derive(Debug)]
struct OsFile {
    file: File,
}

impl FileSystem for OsFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(path)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect()
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(OsFile { file }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
}

impl LogFile for OsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, position)
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.file, buf, position)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

// Linux errno values, so the simulated errors look like the real ones (`kind()` maps them).
const ERRNO_IO: i32 = 5;
const ERRNO_NO_SPACE: i32 = 28;
const ERRNO_NOT_FOUND: i32 = 2;
const ERRNO_STALE_HANDLE: i32 = 116;

/// An in-memory file system with fault injection, deterministic and cheap to clone (clones share
/// the same files).
///
/// Model, per file: `volatile` bytes (what reads see, like the page cache) and `durable` bytes
/// (what survives a crash; updated by a successful `sync_data`). Directory entries: a file
/// created since its directory was last synced is lost by a crash; removals are durable at once
/// (a simplification: a removed file never comes back). Directories themselves never vanish.
///
/// A crash invalidates every open handle: later calls through an old handle fail, as they would
/// in a process that no longer exists.
#[derive(Debug, Clone, Default)]
pub struct SimulatedFileSystem {
    inner: Arc<Mutex<SimulatedState>>,
}

#[derive(Debug, Default)]
struct SimulatedState {
    /// Bumped by every crash; a handle from an older generation is stale.
    generation: u64,
    directories: BTreeSet<PathBuf>,
    files: BTreeMap<PathBuf, SimulatedFile>,
    /// The most recent write not yet covered by a sync, kept for `crash_tearing_last_write`.
    last_unsynced_write: Option<UnsyncedWrite>,
    fail_next_sync: bool,
    /// Successful syncs left before one fails, set by `fail_sync_after`.
    syncs_before_failure: Option<u64>,
    disk_full: bool,
    syncs_count: u64,
}

#[derive(Debug, Default, Clone)]
struct SimulatedFile {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    /// Whether the directory entry survives a crash (its directory was synced since creation).
    entry_durable: bool,
}

#[derive(Debug, Clone)]
struct UnsyncedWrite {
    path: PathBuf,
    position: u64,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct SimulatedHandle {
    inner: Arc<Mutex<SimulatedState>>,
    path: PathBuf,
    generation: u64,
}

impl SimulatedFileSystem {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, SimulatedState> {
        lock(&self.inner)
    }

    /// Simulates power loss and restart: every write since each file's last successful
    /// `sync_data` is lost, files whose directory entry was never synced vanish, and every open
    /// handle goes stale.
    pub fn crash(&self) {
        self.crash_with(None);
    }

    /// Like [`crash`](Self::crash), but the most recent unsynced write survives as its first
    /// `keep_bytes` bytes (a torn write), on top of the file's durable bytes.
    pub fn crash_tearing_last_write(&self, keep_bytes: usize) {
        self.crash_with(Some(keep_bytes));
    }

    fn crash_with(&self, tear_keep_bytes: Option<usize>) {
        let mut state = self.state();
        let torn = state.last_unsynced_write.take();
        state.generation += 1;
        state.fail_next_sync = false;
        state.disk_full = false;
        state.files.retain(|_, file| file.entry_durable);
        for file in state.files.values_mut() {
            file.volatile = file.durable.clone();
        }
        if let (Some(keep_bytes), Some(write)) = (tear_keep_bytes, torn) {
            if let Some(file) = state.files.get_mut(&write.path) {
                let kept = &write.bytes[..keep_bytes.min(write.bytes.len())];
                let position = write.position as usize;
                if file.durable.len() < position + kept.len() {
                    file.durable.resize(position + kept.len(), 0);
                }
                file.durable[position..position + kept.len()].copy_from_slice(kept);
                file.volatile = file.durable.clone();
            }
        }
    }

    /// The next `sync_data` fails with EIO and, as Linux may, drops the file's unsynced data.
    pub fn fail_next_sync(&self) {
        self.state().fail_next_sync = true;
    }

    /// The next `successful_syncs` calls of `sync_data` succeed and the one after fails, as
    /// [`fail_next_sync`](Self::fail_next_sync) makes the next one fail.
    pub fn fail_sync_after(&self, successful_syncs: u64) {
        self.state().syncs_before_failure = Some(successful_syncs);
    }

    /// While set, every write stores only the first half of its buffer and then fails with
    /// ENOSPC, as a real disk that fills up mid-write does.
    pub fn set_disk_full(&self, full: bool) {
        self.state().disk_full = full;
    }

    /// Successful `sync_data` calls so far (for tests that check the log syncs when it must).
    pub fn syncs_count(&self) -> u64 {
        self.state().syncs_count
    }

    /// The bytes reads would currently see, for tests that corrupt files directly.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.state()
            .files
            .get(path)
            .map(|file| file.volatile.clone())
    }

    /// Replaces a file's contents, durably, for tests that corrupt files directly.
    pub fn set_file_bytes(&self, path: &Path, bytes: Vec<u8>) {
        let mut state = self.state();
        let file = state.files.entry(path.to_path_buf()).or_default();
        file.volatile = bytes.clone();
        file.durable = bytes;
        file.entry_durable = true;
    }
}

fn lock(inner: &Mutex<SimulatedState>) -> MutexGuard<'_, SimulatedState> {
    // A panic while holding this lock can only come from a test assertion; the state is still
    // plain data, so recovering it is safe.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::Error::from_raw_os_error(ERRNO_NOT_FOUND).kind(),
        format!("{} not found", path.display()),
    )
}

impl FileSystem for SimulatedFileSystem {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        for ancestor in path.ancestors() {
            state.directories.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let state = self.state();
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        let mut entries: Vec<PathBuf> = state
            .files
            .keys()
            .chain(state.directories.iter())
            .filter(|entry| entry.parent() == Some(path))
            .cloned()
            .collect();
        entries.sort();
        Ok(entries)
    }

    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let mut state = self.state();
        if !state.files.contains_key(path) {
            let parent_exists = path
                .parent()
                .is_some_and(|parent| state.directories.contains(parent));
            if !create || !parent_exists {
                return Err(not_found(path));
            }
            state
                .files
                .insert(path.to_path_buf(), SimulatedFile::default());
        }
        Ok(Arc::new(SimulatedHandle {
            inner: self.inner.clone(),
            path: path.to_path_buf(),
            generation: state.generation,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        if state.files.remove(path).is_none() {
            return Err(not_found(path));
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        state.files.retain(|file, _| !file.starts_with(path));
        state
            .directories
            .retain(|directory| !directory.starts_with(path));
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.state();
        state.files.contains_key(path) || state.directories.contains(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        for (file_path, file) in state.files.iter_mut() {
            if file_path.parent() == Some(path) {
                file.entry_durable = true;
            }
        }
        Ok(())
    }
}

impl SimulatedHandle {
    /// Runs `operation` on this handle's file, failing if the handle predates a crash.
    fn with_file<T>(
        &self,
        operation: impl FnOnce(&mut SimulatedState) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = lock(&self.inner);
        if state.generation != self.generation {
            return Err(io::Error::from_raw_os_error(ERRNO_STALE_HANDLE));
        }
        if !state.files.contains_key(&self.path) {
            return Err(not_found(&self.path));
        }
        operation(&mut state)
    }
}

fn file_of<'a>(state: &'a mut SimulatedState, path: &Path) -> io::Result<&'a mut SimulatedFile> {
    state.files.get_mut(path).ok_or_else(|| not_found(path))
}

impl LogFile for SimulatedHandle {
    fn len(&self) -> io::Result<u64> {
        self.with_file(|state| Ok(file_of(state, &self.path)?.volatile.len() as u64))
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.with_file(|state| {
            let file = file_of(state, &self.path)?;
            let start = usize::try_from(position).map_err(|_| eof())?;
            let end = start.checked_add(buf.len()).ok_or_else(eof)?;
            if end > file.volatile.len() {
                return Err(eof());
            }
            buf.copy_from_slice(&file.volatile[start..end]);
            Ok(())
        })
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        self.with_file(|state| {
            let disk_full = state.disk_full;
            let written = if disk_full {
                &buf[..buf.len() / 2]
            } else {
                buf
            };
            let start = position as usize;
            let file = file_of(state, &self.path)?;
            if file.volatile.len() < start + written.len() {
                file.volatile.resize(start + written.len(), 0);
            }
            file.volatile[start..start + written.len()].copy_from_slice(written);
            state.last_unsynced_write = Some(UnsyncedWrite {
                path: self.path.clone(),
                position,
                bytes: written.to_vec(),
            });
            if disk_full {
                return Err(io::Error::from_raw_os_error(ERRNO_NO_SPACE));
            }
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with_file(|state| {
            file_of(state, &self.path)?.volatile.resize(len as usize, 0);
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with_file(|state| {
            let mut fail = std::mem::take(&mut state.fail_next_sync);
            match state.syncs_before_failure {
                Some(0) => {
                    state.syncs_before_failure = None;
                    fail = true;
                }
                Some(left) => state.syncs_before_failure = Some(left - 1),
                None => {}
            }
            if state
                .last_unsynced_write
                .as_ref()
                .is_some_and(|write| write.path == self.path)
            {
                state.last_unsynced_write = None;
            }
            let file = file_of(state, &self.path)?;
            if fail {
                // Like Linux after a writeback error: the dirty pages are gone, not retried.
                file.volatile = file.durable.clone();
                return Err(io::Error::from_raw_os_error(ERRNO_IO));
            }
            file.durable = file.volatile.clone();
            state.syncs_count += 1;
            Ok(())
        })
    }
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the file",
    )
}
