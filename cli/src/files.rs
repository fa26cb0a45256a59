//! File output that never leaves a half-written or half-finished result behind.
//!
//! Every file is written under a temporary name in its target directory (`.NAME.tmp-PID`) and
//! renamed into place when complete. The files of one run ([`OutputFiles`]) are all renamed
//! together at its end, so a run that fails or is killed leaves no file that looks finished: only
//! temporary files, removed when the run fails and, when it was killed, by the next run that
//! writes into the same directory ([`remove_stale_temporaries`]).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use twin_engine::csv::{self, Missing};

/// The marker between a file's name and the process id in a temporary name.
const TEMPORARY_MARKER: &str = ".tmp-";

/// The temporary name of `path` for this process: `.NAME.tmp-PID` in the same directory.
fn temporary_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("output path {} has no file name", path.display()))?;
    Ok(directory_of(path).join(format!(
        ".{}{TEMPORARY_MARKER}{}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

/// The directory of `path` (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The process id in a temporary file name written by [`temporary_path`], if `name` is one.
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once(TEMPORARY_MARKER)?;
    pid.parse().ok()
}

/// Whether process `pid` may still be running. Where the system offers no process table to look
/// in (`/proc`), every other process counts as gone: two runs writing the same directory at
/// once is not supported.
fn may_be_running(pid: u32) -> bool {
    pid == std::process::id()
        || (Path::new("/proc/self").exists() && Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the temporary files that runs killed before they finished (SIGKILL, power loss) left in
/// `dir`: entries named `.NAME.tmp-PID` whose process is gone. Missing directories are fine.
///
/// # Errors
/// When a stale temporary file exists but cannot be removed.
pub fn remove_stale_temporaries(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temporary_owner(&name.to_string_lossy()) else {
            continue;
        };
        if !may_be_running(pid) {
            let path = entry.path();
            fs::remove_file(&path).with_context(|| {
                format!(
                    "removing {}, left by an earlier run that did not finish",
                    path.display()
                )
            })?;
        }
    }
    Ok(())
}

/// A file being written under its temporary name; [`PendingFile::commit`] renames it into place.
/// Dropped without a commit (an error on the way), the temporary file is removed.
pub struct PendingFile {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<fs::File>>,
}

impl PendingFile {
    /// Starts writing `path`, first removing stale temporary files from its directory.
    ///
    /// # Errors
    /// When the temporary file cannot be created.
    pub fn create(path: &Path) -> Result<Self> {
        remove_stale_temporaries(directory_of(path))?;
        let tmp = temporary_path(path)?;
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(Self {
            path: path.to_owned(),
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Flushes the contents to disk and leaves them under the temporary name.
    fn finish_writing(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            let file = writer
                .into_inner()
                .map_err(|e| e.into_error())
                .with_context(|| format!("writing {}", self.tmp.display()))?;
            file.sync_all()
                .with_context(|| format!("flushing {}", self.tmp.display()))?;
        }
        Ok(())
    }

    /// Renames the finished file into place.
    fn rename_into_place(&self) -> Result<()> {
        fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming {} to {}", self.tmp.display(), self.path.display()))
    }

    /// Flushes the file and renames it into place.
    ///
    /// # Errors
    /// When writing, flushing or renaming fails; the temporary file is then removed.
    pub fn commit(mut self) -> Result<()> {
        self.finish_writing()?;
        self.rename_into_place()
    }
}

impl Write for PendingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(buf),
            None => Err(std::io::Error::other("file already finished")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.as_mut().map_or(Ok(()), BufWriter::flush)
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // After a successful rename the temporary name no longer exists; otherwise this cleans up.
        self.writer = None;
        let _ = fs::remove_file(&self.tmp);
    }
}

/// The files of one run in one output directory, written under temporary names and renamed into
/// place together by [`OutputFiles::commit`] when the run is complete. Dropped without a commit,
/// its temporary files are removed.
pub struct OutputFiles {
    dir: PathBuf,
    pending: Vec<PendingFile>,
}

impl OutputFiles {
    /// Creates `dir` (and parents) and removes the temporary files killed runs left there.
    ///
    /// # Errors
    /// When the directory cannot be created or cleaned.
    pub fn new(dir: &Path) -> Result<Self> {
        ensure_dir(dir)?;
        remove_stale_temporaries(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            pending: Vec::new(),
        })
    }

    /// Writes `contents` as the file `name` of the directory (renamed into place on commit).
    ///
    /// # Errors
    /// When the temporary file cannot be written.
    pub fn write(&mut self, name: &str, contents: &[u8]) -> Result<()> {
        let mut file = self.stream(name)?;
        file.write_all(contents)
            .with_context(|| format!("writing {}", file.tmp.display()))?;
        self.add(file)
    }

    /// Starts the file `name` of the directory, to be written piece by piece and handed back with
    /// [`OutputFiles::add`].
    ///
    /// # Errors
    /// When the temporary file cannot be created.
    pub fn stream(&self, name: &str) -> Result<PendingFile> {
        let path = self.dir.join(name);
        let tmp = temporary_path(&path)?;
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        Ok(PendingFile {
            path,
            tmp,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Adds a file started with [`OutputFiles::stream`] and now complete to the files renamed on
    /// commit.
    ///
    /// # Errors
    /// When flushing it fails.
    pub fn add(&mut self, mut file: PendingFile) -> Result<()> {
        file.finish_writing()?;
        self.pending.push(file);
        Ok(())
    }

    /// Renames every file into place, in the order they were written.
    ///
    /// # Errors
    /// When a rename fails; the files not yet renamed are removed.
    pub fn commit(mut self) -> Result<()> {
        for file in self.pending.drain(..) {
            file.rename_into_place()?;
        }
        Ok(())
    }
}

/// Writes `contents` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = PendingFile::create(path)?;
    file.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    file.commit()
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Creates the output directory (and parents).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating output directory {}", dir.display()))
}

/// A number for the CLI's CSV files (NONMEM-style tables): [`twin_engine::csv::number`] with `.`
/// for a missing value.
pub fn number(x: f64) -> String {
    csv::number(x, Missing::Dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_carry_their_owner() {
        assert_eq!(temporary_owner(".summary.json.tmp-4242"), Some(4242));
        assert_eq!(temporary_owner(".a.tmp-b.tmp-7"), Some(7));
        assert_eq!(temporary_owner("summary.json"), None);
        assert_eq!(temporary_owner(".summary.json.tmp-x"), None);
        assert_eq!(temporary_owner(".hidden"), None);
    }
}
