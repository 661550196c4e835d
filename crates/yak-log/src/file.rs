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
    /// Atomically replaces `to` with `from` (POSIX `rename`): a reader, and a crash once the
    /// directory is fsynced, sees either the old `to` or the new one, never a mix. Both paths
    /// are in the same directory; the change is durable only after `sync_dir` of it.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
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

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
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

/// A kind of operation that changes the simulated disk, for injecting faults at a chosen one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimulatedOperation {
    /// `open` with `create` of a file that does not exist yet.
    Create,
    /// `remove_file`.
    Remove,
    /// `rename`.
    Rename,
    /// `sync_dir`.
    SyncDir,
    /// `LogFile::set_len`.
    SetLen,
    /// `LogFile::write_all_at`.
    Write,
    /// `LogFile::sync_data`.
    SyncData,
}

/// An in-memory file system with fault injection, deterministic and cheap to clone (clones share
/// the same files).
///
/// Model: files are inodes, named by directory entries. Per inode, `volatile` bytes (what reads
/// see, like the page cache) and `durable` bytes (what survives a crash; updated by a successful
/// `sync_data`). Per directory, the entries reads see and the entries that survive a crash: a
/// create, a remove or a re-create of a name becomes durable only when its directory is synced,
/// so a crash brings back removed files (with their durable bytes) and loses created ones.
/// Directories themselves never vanish, and `remove_dir_all` is durable at once.
///
/// A handle keeps working after its name is removed, as on POSIX. A crash invalidates every
/// open handle: later calls through an old handle fail, as they would in a process that no
/// longer exists.
///
/// Faults: a failed fsync, a full disk, the Nth operation of a kind failing
/// ([`fail_nth`](Self::fail_nth)), and power lost after the Nth operation of any kind
/// ([`halt_after`](Self::halt_after)), which with [`crash`](Self::crash) puts a crash between any
/// two steps of a log operation.
#[derive(Debug, Clone, Default)]
pub struct SimulatedFileSystem {
    inner: Arc<Mutex<SimulatedState>>,
}

#[derive(Debug, Default)]
struct SimulatedState {
    /// Bumped by every crash; a handle from an older generation is stale.
    generation: u64,
    directories: BTreeSet<PathBuf>,
    /// Directory entries as a running process sees them: name to inode number.
    names: BTreeMap<PathBuf, u64>,
    /// Directory entries as they survive a crash (updated per directory by `sync_dir`).
    durable_names: BTreeMap<PathBuf, u64>,
    inodes: BTreeMap<u64, SimulatedFile>,
    next_inode: u64,
    /// The most recent write not yet covered by a sync, kept for `crash_tearing_last_write`.
    last_unsynced_write: Option<UnsyncedWrite>,
    fail_next_sync: bool,
    disk_full: bool,
    syncs_count: u64,
    bytes_read: u64,
    reads_count: u64,
    /// Per operation kind, how many more calls succeed before one fails (0 = the next fails).
    faults: BTreeMap<SimulatedOperation, u64>,
    /// Operations (of every kind) performed so far.
    operations_count: u64,
    /// Once `operations_count` reaches this, the power is off: every call fails until a crash.
    halt_at_operations: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct SimulatedFile {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    /// Open handles (of the current generation); an inode with no name and no handle is freed.
    handles_count: u64,
}

#[derive(Debug, Clone)]
struct UnsyncedWrite {
    inode: u64,
    position: u64,
    bytes: Vec<u8>,
}

#[derive(Debug)]
struct SimulatedHandle {
    inner: Arc<Mutex<SimulatedState>>,
    path: PathBuf,
    inode: u64,
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
    /// `sync_data` is lost, directory entries created or removed since their directory was last
    /// synced are undone, every open handle goes stale, and the power is back on.
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
        state.faults.clear();
        state.halt_at_operations = None;
        state.names = state.durable_names.clone();
        let named: BTreeSet<u64> = state.names.values().copied().collect();
        state.inodes.retain(|inode, _| named.contains(inode));
        for file in state.inodes.values_mut() {
            file.volatile = file.durable.clone();
            file.handles_count = 0;
        }
        if let (Some(keep_bytes), Some(write)) = (tear_keep_bytes, torn) {
            if let Some(file) = state.inodes.get_mut(&write.inode) {
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

    /// The `nth` next call (1 = the very next) of `operation` fails with EIO and changes
    /// nothing (a failing `sync_data` also drops the file's unsynced data, as
    /// [`fail_next_sync`](Self::fail_next_sync) does). Cleared by a crash.
    pub fn fail_nth(&self, operation: SimulatedOperation, nth: u64) {
        assert!(nth > 0, "nth counts from 1");
        self.state().faults.insert(operation, nth - 1);
    }

    /// Lets `operations` more operations (of any [`SimulatedOperation`] kind) happen, then cuts
    /// the power: every later call fails with EIO and changes nothing, until
    /// [`crash`](Self::crash) restarts the machine. Used with
    /// [`operations_count`](Self::operations_count) to crash between any two steps.
    pub fn halt_after(&self, operations: u64) {
        let mut state = self.state();
        // Power that is already off stays off until the crash.
        if state.check_powered().is_ok() {
            state.halt_at_operations = Some(state.operations_count + operations);
        }
    }

    /// Disarms every fault set with [`fail_nth`](Self::fail_nth),
    /// [`fail_next_sync`](Self::fail_next_sync) and [`halt_after`](Self::halt_after) that has
    /// not fired yet (a power cut that happened stays until [`crash`](Self::crash)).
    pub fn clear_faults(&self) {
        let mut state = self.state();
        state.faults.clear();
        state.fail_next_sync = false;
        if state.check_powered().is_ok() {
            state.halt_at_operations = None;
        }
    }

    /// Operations (of every [`SimulatedOperation`] kind) performed so far.
    pub fn operations_count(&self) -> u64 {
        self.state().operations_count
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

    /// Bytes returned by reads so far, over every file (for tests that check what recovery
    /// reads).
    pub fn bytes_read(&self) -> u64 {
        self.state().bytes_read
    }

    /// `read_exact_at` calls so far (for tests that check a lookup reads little, not a scan).
    pub fn reads_count(&self) -> u64 {
        self.state().reads_count
    }

    /// The bytes reads would currently see, for tests that corrupt files directly.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.state();
        let inode = state.names.get(path)?;
        state.inodes.get(inode).map(|file| file.volatile.clone())
    }

    /// Replaces a file's contents (creating it if needed), durably, for tests that corrupt files
    /// directly.
    pub fn set_file_bytes(&self, path: &Path, bytes: Vec<u8>) {
        let mut state = self.state();
        let inode = match state.names.get(path) {
            Some(inode) => *inode,
            None => state.new_inode(path),
        };
        state.durable_names.insert(path.to_path_buf(), inode);
        if let Some(file) = state.inodes.get_mut(&inode) {
            file.volatile = bytes.clone();
            file.durable = bytes;
        }
    }
}

impl SimulatedState {
    fn new_inode(&mut self, path: &Path) -> u64 {
        let inode = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(inode, SimulatedFile::default());
        self.names.insert(path.to_path_buf(), inode);
        inode
    }

    /// Counts one operation of `kind`; fails it (before it changes anything) if the power is
    /// off or a fault was armed for it.
    fn begin(&mut self, kind: SimulatedOperation) -> io::Result<()> {
        self.check_powered()?;
        if let Some(remaining) = self.faults.get_mut(&kind) {
            if *remaining == 0 {
                self.faults.remove(&kind);
                return Err(io::Error::from_raw_os_error(ERRNO_IO));
            }
            *remaining -= 1;
        }
        self.operations_count += 1;
        Ok(())
    }

    fn check_powered(&self) -> io::Result<()> {
        match self.halt_at_operations {
            Some(halt_at) if self.operations_count >= halt_at => {
                Err(io::Error::from_raw_os_error(ERRNO_IO))
            }
            _ => Ok(()),
        }
    }

    /// Frees an inode nothing refers to any more (no name, durable or not, and no handle).
    fn collect(&mut self, inode: u64) {
        let referenced = self.names.values().any(|named| *named == inode)
            || self.durable_names.values().any(|named| *named == inode)
            || self
                .inodes
                .get(&inode)
                .is_some_and(|file| file.handles_count > 0);
        if !referenced {
            self.inodes.remove(&inode);
        }
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
        state.check_powered()?;
        for ancestor in path.ancestors() {
            state.directories.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let state = self.state();
        state.check_powered()?;
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        let mut entries: Vec<PathBuf> = state
            .names
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
        state.check_powered()?;
        let inode = match state.names.get(path) {
            Some(inode) => *inode,
            None => {
                let parent_exists = path
                    .parent()
                    .is_some_and(|parent| state.directories.contains(parent));
                if !create || !parent_exists {
                    return Err(not_found(path));
                }
                state.begin(SimulatedOperation::Create)?;
                state.new_inode(path)
            }
        };
        if let Some(file) = state.inodes.get_mut(&inode) {
            file.handles_count += 1;
        }
        Ok(Arc::new(SimulatedHandle {
            inner: self.inner.clone(),
            path: path.to_path_buf(),
            inode,
            generation: state.generation,
        }))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check_powered()?;
        if !state.names.contains_key(path) {
            return Err(not_found(path));
        }
        state.begin(SimulatedOperation::Remove)?;
        if let Some(inode) = state.names.remove(path) {
            state.collect(inode);
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check_powered()?;
        if !state.names.contains_key(from) {
            return Err(not_found(from));
        }
        state.begin(SimulatedOperation::Rename)?;
        // Both names change in the running view at once; what survives a crash is decided per
        // directory by `sync_dir`, which copies the whole directory's view, so a crash keeps
        // either both changes or neither.
        if let Some(inode) = state.names.remove(from) {
            if let Some(replaced) = state.names.insert(to.to_path_buf(), inode) {
                state.collect(replaced);
            }
        }
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check_powered()?;
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        state.names.retain(|file, _| !file.starts_with(path));
        state
            .durable_names
            .retain(|file, _| !file.starts_with(path));
        state
            .directories
            .retain(|directory| !directory.starts_with(path));
        let inodes: Vec<u64> = state.inodes.keys().copied().collect();
        for inode in inodes {
            state.collect(inode);
        }
        Ok(())
    }

    fn exists(&self, path: &Path) -> bool {
        let state = self.state();
        state.names.contains_key(path) || state.directories.contains(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.state();
        state.check_powered()?;
        if !state.directories.contains(path) {
            return Err(not_found(path));
        }
        state.begin(SimulatedOperation::SyncDir)?;
        let in_dir = |entry: &Path| entry.parent() == Some(path);
        let dropped: Vec<u64> = state
            .durable_names
            .iter()
            .filter(|(name, _)| in_dir(name))
            .map(|(_, inode)| *inode)
            .collect();
        state.durable_names.retain(|name, _| !in_dir(name));
        let current: Vec<(PathBuf, u64)> = state
            .names
            .iter()
            .filter(|(name, _)| in_dir(name))
            .map(|(name, inode)| (name.clone(), *inode))
            .collect();
        state.durable_names.extend(current);
        for inode in dropped {
            state.collect(inode);
        }
        Ok(())
    }
}

impl SimulatedHandle {
    /// Runs `operation` on this handle's file, failing if the handle predates a crash or the
    /// power is off.
    fn with_file<T>(
        &self,
        kind: Option<SimulatedOperation>,
        operation: impl FnOnce(&mut SimulatedState) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = lock(&self.inner);
        if state.generation != self.generation {
            return Err(io::Error::from_raw_os_error(ERRNO_STALE_HANDLE));
        }
        if !state.inodes.contains_key(&self.inode) {
            return Err(not_found(&self.path));
        }
        match kind {
            Some(kind) => state.begin(kind)?,
            None => state.check_powered()?,
        }
        operation(&mut state)
    }

    fn file<'a>(&self, state: &'a mut SimulatedState) -> io::Result<&'a mut SimulatedFile> {
        state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| not_found(&self.path))
    }
}

impl Drop for SimulatedHandle {
    fn drop(&mut self) {
        let mut state = lock(&self.inner);
        if state.generation != self.generation {
            return;
        }
        if let Some(file) = state.inodes.get_mut(&self.inode) {
            file.handles_count = file.handles_count.saturating_sub(1);
        }
        state.collect(self.inode);
    }
}

impl LogFile for SimulatedHandle {
    fn len(&self) -> io::Result<u64> {
        self.with_file(None, |state| Ok(self.file(state)?.volatile.len() as u64))
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.with_file(None, |state| {
            state.reads_count += 1;
            let file = self.file(state)?;
            let start = usize::try_from(position).map_err(|_| eof())?;
            let end = start.checked_add(buf.len()).ok_or_else(eof)?;
            if end > file.volatile.len() {
                return Err(eof());
            }
            buf.copy_from_slice(&file.volatile[start..end]);
            state.bytes_read += buf.len() as u64;
            Ok(())
        })
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        self.with_file(Some(SimulatedOperation::Write), |state| {
            let disk_full = state.disk_full;
            let written = if disk_full {
                &buf[..buf.len() / 2]
            } else {
                buf
            };
            let start = position as usize;
            let file = self.file(state)?;
            if file.volatile.len() < start + written.len() {
                file.volatile.resize(start + written.len(), 0);
            }
            file.volatile[start..start + written.len()].copy_from_slice(written);
            state.last_unsynced_write = Some(UnsyncedWrite {
                inode: self.inode,
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
        self.with_file(Some(SimulatedOperation::SetLen), |state| {
            self.file(state)?.volatile.resize(len as usize, 0);
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        self.with_file(None, |state| {
            // An armed `fail_nth(SyncData, ..)` fails like `fail_next_sync`: the data is dropped.
            let fault = state.begin(SimulatedOperation::SyncData).is_err();
            let fail = std::mem::take(&mut state.fail_next_sync) || fault;
            if state
                .last_unsynced_write
                .as_ref()
                .is_some_and(|write| write.inode == self.inode)
            {
                state.last_unsynced_write = None;
            }
            let file = self.file(state)?;
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
