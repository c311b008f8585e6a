//! The certificate folder: what `faultline certify` concluded about one broker, as
//! `certificate.json` (for machines), `certificate.md` (for a README, an issue or a CI
//! step summary) and `certificate.html` (one self-contained page), plus the fault
//! workload's `history.jsonl` when it ran.
//!
//! - [`model`] is the certificate's data (serde only): properties, statuses, evidence;
//! - [`markdown`] renders `certificate.md`;
//! - [`html`] renders `certificate.html`.
//!
//! Every file is written atomically with [`write_atomically`], as in a run folder, and
//! `certificate.json` last, so a folder with one is complete.

pub mod html;
pub mod markdown;
pub mod model;

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::certificate::model::{
    Category, Certificate, PropertyResult, Status, CERTIFICATE_SCHEMA_VERSION,
};
use faultline_checker::history::History;

use crate::error::ReportError;
use crate::folder::{write_atomically, HISTORY_FILE};
use crate::json::check_schema;

pub use html::certificate_html;
pub use markdown::certificate_markdown;

/// The certificate's machine-readable file in a certificate folder.
pub const CERTIFICATE_JSON_FILE: &str = "certificate.json";
/// The certificate in Markdown.
pub const CERTIFICATE_MARKDOWN_FILE: &str = "certificate.md";
/// The certificate as a page.
pub const CERTIFICATE_HTML_FILE: &str = "certificate.html";

/// The certificate as pretty JSON, ending with a newline. Field order is the model's, so
/// equal certificates give equal bytes and two certificates diff line by line.
pub fn certificate_json(certificate: &Certificate) -> String {
    let mut text = serde_json::to_string_pretty(certificate).expect("a Certificate serializes");
    text.push('\n');
    text
}

/// Reads a certificate back; `file` names it in errors. A `schema_version` newer than
/// [`CERTIFICATE_SCHEMA_VERSION`] is refused by name rather than half-read.
pub fn parse_certificate(text: &str, file: &str) -> Result<Certificate, ReportError> {
    check_schema(text, file, CERTIFICATE_SCHEMA_VERSION)?;
    serde_json::from_str(text).map_err(|source| ReportError::Json {
        file: file.to_string(),
        source,
    })
}

/// Reads a `certificate.json` from `path`.
pub fn read_certificate(path: &Path) -> Result<Certificate, ReportError> {
    let file = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|source| ReportError::Io {
        file: file.clone(),
        source,
    })?;
    parse_certificate(&text, &file)
}

/// Writes a certificate folder: `history.jsonl` (when given), `certificate.html`,
/// `certificate.md`, then `certificate.json`, each atomically. Creates `dir` if needed;
/// replaces files already there.
pub fn write_certificate_folder(
    dir: &Path,
    certificate: &Certificate,
    history: Option<&History>,
) -> Result<(), ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        file: dir.display().to_string(),
        source,
    })?;
    if let Some(history) = history {
        write_file(dir, HISTORY_FILE, |out| history.write_jsonl(out))?;
    }
    let renderings = [
        (CERTIFICATE_HTML_FILE, certificate_html(certificate)),
        (CERTIFICATE_MARKDOWN_FILE, certificate_markdown(certificate)),
        (CERTIFICATE_JSON_FILE, certificate_json(certificate)),
    ];
    for (name, text) in renderings {
        write_file(dir, name, |out| out.write_all(text.as_bytes()))?;
    }
    Ok(())
}

fn write_file(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), ReportError> {
    let path = dir.join(name);
    write_atomically(&path, write).map_err(|source| ReportError::Io {
        file: path.display().to_string(),
        source,
    })
}

/// The two parts of certification in the order certificates list them, with their
/// headings.
pub(crate) const CATEGORIES: [(Category, &str); 2] = [
    (Category::Protocol, "Protocol suite"),
    (Category::Faults, "Fault workload"),
];

/// The properties of one category, in the certificate's order.
pub(crate) fn in_category(
    certificate: &Certificate,
    category: Category,
) -> impl Iterator<Item = &PropertyResult> {
    certificate
        .properties
        .iter()
        .filter(move |p| p.category == category)
}

/// The properties with `status`, protocol suite first, as the properties table lists them.
pub(crate) fn with_status(certificate: &Certificate, status: Status) -> Vec<&PropertyResult> {
    CATEGORIES
        .iter()
        .flat_map(|&(category, _)| in_category(certificate, category))
        .filter(|p| p.status == status)
        .collect()
}

/// `2 PASS, 1 FAIL, 1 NOT APPLICABLE`.
pub(crate) fn counts(certificate: &Certificate) -> String {
    [Status::Pass, Status::Fail, Status::NotApplicable]
        .map(|status| format!("{} {}", certificate.count(status), status.label()))
        .join(", ")
}

/// A broker list as `1 at host:9092, 2 at host:9093`, or `none reported`.
pub(crate) fn brokers_text(certificate: &Certificate) -> String {
    let brokers: Vec<String> = certificate
        .target
        .brokers
        .iter()
        .map(|(id, address)| format!("{id} at {address}"))
        .collect();
    or_none(brokers.join(", "))
}

/// `text`, or `none reported` when empty.
pub(crate) fn or_none(text: String) -> String {
    if text.is_empty() {
        "none reported".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_certificate_schema_is_refused_by_name() {
        let error = parse_certificate(r#"{"schema_version": 99}"#, "certificate.json").unwrap_err();
        assert!(matches!(
            error,
            ReportError::UnsupportedSchema {
                found: 99,
                supported: CERTIFICATE_SCHEMA_VERSION,
                ..
            }
        ));
    }

    #[test]
    fn a_missing_certificate_names_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CERTIFICATE_JSON_FILE);
        let error = read_certificate(&path).unwrap_err();
        assert!(matches!(error, ReportError::Io { .. }));
        assert!(error.to_string().contains("certificate.json"));
    }
}
