//! The run folder: every rendering of one run plus its history, each file written
//! atomically.
//!
//! A run may be killed at any moment (a CI timeout, Ctrl-C in `explore`), so no reader
//! may ever see half a file: each is written to a temporary file in the same directory,
//! fsynced, then renamed over its final name (rename within a directory is atomic on
//! POSIX), and the directory is fsynced so the rename itself survives a crash. A file
//! is therefore either its old complete version or its new complete version.
//! `report.json` is written last, so a folder with one is complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use faultline_checker::history::History;

use crate::error::ReportError;
use crate::format::Format;
use crate::json;
use crate::run::RunReport;

/// The history's file name in a run folder.
pub const HISTORY_FILE: &str = "history.jsonl";

/// Distinguishes temporary files of concurrent writers within one process.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a run folder: `history.jsonl`, `report.html`, `summary.md`, `junit.xml`, then
/// `report.json`, each atomically. Creates `dir` if needed; replaces files already there.
pub fn write_run_folder(dir: &Path, report: &RunReport, history: &History) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_atomically(&dir.join(HISTORY_FILE), |out| history.write_jsonl(out))?;
    for format in Format::ALL {
        let text = format.render(report, history);
        write_atomically(&dir.join(format.file_name()), |out| {
            out.write_all(text.as_bytes())
        })?;
    }
    Ok(())
}

/// Reads a run folder back: its `report.json` and `history.jsonl`.
pub fn read_run_folder(dir: &Path) -> Result<(RunReport, History), ReportError> {
    let report_path = dir.join(Format::Json.file_name());
    let text = fs::read_to_string(&report_path).map_err(|source| ReportError::Io {
        file: report_path.display().to_string(),
        source,
    })?;
    let report = json::parse_report(&text, &report_path.display().to_string())?;
    let history_path = dir.join(HISTORY_FILE);
    let file = File::open(&history_path).map_err(|source| ReportError::Io {
        file: history_path.display().to_string(),
        source,
    })?;
    let history =
        History::read_jsonl(BufReader::new(file)).map_err(|source| ReportError::History {
            file: history_path.display().to_string(),
            source,
        })?;
    Ok((report, history))
}

/// Writes `path` atomically: `write` fills a temporary file in the same directory, which
/// is fsynced and renamed over `path` only if `write` succeeded. On any error the
/// temporary file is removed and `path` is left as it was.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = fill_and_sync(&temporary, write).and_then(|()| fs::rename(&temporary, path));
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    sync_directory(path.parent().unwrap_or(Path::new(".")))
}

/// `dir/.name.tmp-<pid>-<n>`: hidden, in the same directory (a rename across file
/// systems is not atomic), and unique per process and call.
fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let n = TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temporary = format!(".{}.tmp-{}-{n}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temporary))
}

fn fill_and_sync(
    temporary: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temporary)?;
    let mut out = BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// Makes a rename durable. Only POSIX systems can open and fsync a directory.
fn sync_directory(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_that_fails_midway_leaves_the_old_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomically(&path, |out| out.write_all(b"old, complete")).unwrap();
        let failed = write_atomically(&path, |out| {
            out.write_all(&[b'x'; 100_000])?;
            Err(io::Error::other("killed midway"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "killed midway");
        assert_eq!(fs::read_to_string(&path).unwrap(), "old, complete");
        assert_eq!(names(dir.path()), ["report.json"]);
    }

    #[test]
    fn a_failed_first_write_leaves_no_file_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        let failed = write_atomically(&path, |out| {
            out.write_all(b"<testsuites>")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_successful_write_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        write_atomically(&path, |out| out.write_all(b"first")).unwrap();
        write_atomically(&path, |out| out.write_all(b"second")).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second");
        assert_eq!(names(dir.path()), ["summary.md"]);
    }
}
