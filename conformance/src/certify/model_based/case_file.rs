//! `case-*.json`: a failing case as the certificate folder keeps it — the family, the
//! seed, the minimal sequence of ops, every request and response of the run that showed
//! the violation, and the violation — and replaying one exactly against any target
//! (`faultline certify --target T --replay case.json`).

use serde::{Deserialize, Serialize};

use faultline_wire::Transport;

use super::ops::Case;
use super::rules::Violation;
use super::runner::{run_case, Names, RunContext};
use super::setup::{readable, versions};
use super::Family;
use crate::certify::model::Exchange;
use crate::certify::suite::SuiteTarget;

/// The case file's format version.
pub const CASE_FILE_VERSION: u32 = 1;

/// A shrunk failing case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    /// The format version.
    pub version: u32,
    /// The property, e.g. `model.produce-fetch`.
    pub property: String,
    /// The family's short name, e.g. `produce-fetch`.
    pub family: String,
    /// The generator's seed.
    pub seed: u64,
    /// The broker it failed on.
    pub target: String,
    /// The minimal case.
    pub case: Case,
    /// Ops of the case first found, before shrinking.
    pub original_ops: usize,
    /// Requests the minimal case sent (setup included).
    pub requests: usize,
    /// The violation.
    pub violation: Violation,
    /// Every request and response of the minimal run, in order.
    pub exchanges: Vec<Exchange>,
}

/// Errors reading a case file.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a case file.
    #[error("{path} is not a faultline case file: {source}")]
    Parse {
        /// The path.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// It names a family this faultline does not know.
    #[error("{path} names unknown family {family:?}")]
    Family {
        /// The path.
        path: String,
        /// The family.
        family: String,
    },
}

impl CaseFile {
    /// Reads and validates one.
    pub fn load(path: &std::path::Path) -> Result<Self, CaseFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CaseFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let file: CaseFile =
            serde_json::from_str(&text).map_err(|source| CaseFileError::Parse {
                path: shown.clone(),
                source,
            })?;
        if Family::named(&file.family).is_none() {
            return Err(CaseFileError::Family {
                path: shown,
                family: file.family,
            });
        }
        Ok(file)
    }

    /// The file name in a certificate folder.
    pub fn file_name(&self) -> String {
        format!("case-{}.json", self.family)
    }
}

/// What a replay showed.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Every request and response.
    pub exchanges: Vec<Exchange>,
    /// The violation, if it reproduced (or another one).
    pub violation: Option<Violation>,
    /// Why it could not run (the family does not apply to this target).
    pub not_applicable: Option<String>,
}

/// Replays `file`'s case once against `target`, exactly (no generation, no shrinking).
pub async fn replay<T: Transport>(
    transport: &T,
    target: &SuiteTarget,
    file: &CaseFile,
    context: RunContext,
) -> Replayed {
    let family = Family::named(&file.family).expect("validated by CaseFile::load");
    let chosen = match versions(target, family) {
        Ok(v) => v,
        Err(why) => {
            return Replayed {
                exchanges: Vec::new(),
                violation: None,
                not_applicable: Some(why),
            }
        }
    };
    let (chosen, _) = readable(transport, target, chosen).await;
    let mut names = Names::new(context);
    let run = run_case(transport, target, family, chosen, &file.case, &mut names).await;
    Replayed {
        exchanges: run.exchanges,
        violation: run.violation.map(|(_, v)| v),
        not_applicable: None,
    }
}
