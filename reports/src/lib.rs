//! faultline-reports: what a run found, in forms people and CI can read.
//!
//! The CLI hands over a [`RunReport`] and the run's [`History`]; this crate renders them
//! and writes the run folder. It prints nothing.
//!
//! - [`run`]: [`RunReport`], the data of one run (`report.json`).
//! - [`summary`]: [`Summary`], many runs at a glance (`explore`, `hunt`, `merge`).
//! - [`evidence`]: anomalies joined with the history and the faults active at the time.
//! - [`json`]: `report.json` and `summary.json`.
//! - [`junit`]: `junit.xml`, one test case per check per seed.
//! - [`markdown`]: `summary.md`, also a CI step summary.
//! - [`html`]: `report.html`, one self-contained page with the timeline.
//! - [`terminal`]: plain text the CLI prints at the end of a run.
//! - [`format`](mod@format): [`Format`], the renderings by name (`faultline report --format`).
//! - [`folder`]: writes and reads a run folder, every file atomically.
//! - [`certificate`]: a certification's `certificate.json`, `.md` and `.html`, and the
//!   folder that holds them.
//! - [`text`], [`escape`]: shared wording and escaping.
//!
//! [`History`]: faultline_checker::history::History

pub mod certificate;
pub mod error;
pub mod escape;
pub mod evidence;
pub mod folder;
pub mod format;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod run;
pub mod summary;
pub mod terminal;
pub mod text;

pub use certificate::{read_certificate, write_certificate_folder};
pub use error::ReportError;
pub use folder::{read_run_folder, write_run_folder};
pub use format::Format;
pub use run::{ClusterEvent, FaultWindow, PartitionState, RunReport, ScenarioInfo, SCHEMA_VERSION};
pub use summary::{RunSummaryRow, Summary, Totals};
