//! `report.json` and `summary.json`: the machine-readable forms, pretty-printed so that a
//! diff between two runs reads line by line.
//!
//! Field order is the struct's and maps are `BTreeMap`s, so equal reports give equal
//! bytes. Readers reject a `schema_version` newer than [`SCHEMA_VERSION`] rather than
//! guess at fields they do not know.

use serde::Deserialize;

use crate::error::ReportError;
use crate::run::{RunReport, SCHEMA_VERSION};
use crate::summary::Summary;

/// The report as pretty JSON, ending with a newline.
pub fn report_json(report: &RunReport) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a RunReport serializes");
    text.push('\n');
    text
}

/// Reads a report back; `file` names it in errors.
pub fn parse_report(text: &str, file: &str) -> Result<RunReport, ReportError> {
    check_schema(text, file, SCHEMA_VERSION)?;
    serde_json::from_str(text).map_err(|source| ReportError::Json {
        file: file.to_string(),
        source,
    })
}

/// The summary as pretty JSON, ending with a newline.
pub fn summary_json(summary: &Summary) -> String {
    let mut text = serde_json::to_string_pretty(summary).expect("a Summary serializes");
    text.push('\n');
    text
}

/// Reads a summary back; `file` names it in errors.
pub fn parse_summary(text: &str, file: &str) -> Result<Summary, ReportError> {
    serde_json::from_str(text).map_err(|source| ReportError::Json {
        file: file.to_string(),
        source,
    })
}

/// Looks at `schema_version` alone first, so a newer report (or certificate) fails with a
/// clear message instead of a confusing missing-field error. `supported` is the newest
/// version this faultline reads.
pub(crate) fn check_schema(text: &str, file: &str, supported: u32) -> Result<(), ReportError> {
    #[derive(Deserialize)]
    struct Versioned {
        schema_version: u32,
    }
    let versioned: Versioned = serde_json::from_str(text).map_err(|source| ReportError::Json {
        file: file.to_string(),
        source,
    })?;
    if versioned.schema_version > supported {
        return Err(ReportError::UnsupportedSchema {
            file: file.to_string(),
            found: versioned.schema_version,
            supported,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_by_name() {
        let error = parse_report(r#"{"schema_version": 99}"#, "report.json").unwrap_err();
        assert!(matches!(
            error,
            ReportError::UnsupportedSchema { found: 99, .. }
        ));
        assert!(error.to_string().contains("schema_version 99"));
    }

    #[test]
    fn garbage_is_a_json_error() {
        let error = parse_report("not json", "report.json").unwrap_err();
        assert!(matches!(error, ReportError::Json { .. }));
    }
}
