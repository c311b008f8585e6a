//! What can go wrong reading a run folder or a report back.

use faultline_checker::history::HistoryError;

/// Raised when a report, a certificate or a run folder cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `report.json` (or a summary, or a certificate) is not JSON of the documented shape.
    #[error("{file}: {source}")]
    Json {
        /// Which file.
        file: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The report or certificate was written by a newer faultline whose schema this one
    /// cannot read.
    #[error("{file}: schema_version {found} is newer than the {supported} this faultline reads")]
    UnsupportedSchema {
        /// Which file.
        file: String,
        /// The version in the file.
        found: u32,
        /// The newest version this crate reads.
        supported: u32,
    },
    /// `history.jsonl` is malformed.
    #[error("{file}: {source}")]
    History {
        /// Which file.
        file: String,
        /// What the history reader said.
        source: HistoryError,
    },
    /// A file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// Which file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
}
