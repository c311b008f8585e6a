//! The renderings of a run, by name: what `faultline report <run-folder> --format ...`
//! chooses from, and what a run folder holds.

use std::fmt;
use std::str::FromStr;

use faultline_checker::history::History;

use crate::run::RunReport;
use crate::{html, json, junit, markdown};

/// One rendering of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `report.json`: the machine-readable report.
    Json,
    /// `junit.xml`: one test case per check, for CI.
    Junit,
    /// `summary.md`: Markdown, also a CI step summary.
    Markdown,
    /// `report.html`: the self-contained page with the timeline.
    Html,
}

impl Format {
    /// Every rendering, in the order a run folder is written; `report.json` comes last,
    /// so a folder with a `report.json` is complete.
    pub const ALL: [Format; 4] = [Format::Html, Format::Markdown, Format::Junit, Format::Json];

    /// The file this rendering is written to in a run folder.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Junit => "junit.xml",
            Format::Markdown => "summary.md",
            Format::Html => "report.html",
        }
    }

    /// Renders a run in this format.
    pub fn render(self, report: &RunReport, history: &History) -> String {
        match self {
            Format::Json => json::report_json(report),
            Format::Junit => junit::run_junit(report, history),
            Format::Markdown => markdown::run_markdown(report, history),
            Format::Html => html::run_html(report, history),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Markdown => "md",
            Format::Html => "html",
        })
    }
}

/// Raised for a format name that is not one of `json`, `junit`, `md`, `html`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?}: expected json, junit, md or html")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Format, UnknownFormat> {
        match name {
            "json" => Ok(Format::Json),
            "junit" | "xml" => Ok(Format::Junit),
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            other => Err(UnknownFormat(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert!("pdf".parse::<Format>().is_err());
    }
}
