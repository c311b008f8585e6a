//! `certificate.md`: the certificate in Markdown, for a README badge page, an issue filed
//! against a broker, or a CI step summary.
//!
//! Top to bottom: the verdict and broker, who was certified, the rerun command, the
//! counts, every property in one table (protocol suite, then fault workload), then one
//! section per FAIL that stands on its own — detail, evidence, requests and responses,
//! history ops and the rerun command — so a maintainer can act on it pasted alone into
//! an issue. Then why the NOT APPLICABLE ones do not apply, the fault workload, and the
//! API versions the broker advertised. Every string from the broker or the target file
//! is escaped with the run report's helpers; requests, responses and history lines go
//! verbatim into fenced code blocks, where Markdown renders nothing.

use std::fmt::Write;

use crate::certificate::model::{Certificate, Evidence, Exchange, PropertyResult, Status};

use super::{brokers_text, counts, in_category, or_none, with_status, CATEGORIES};
use crate::markdown::{cell, code, escape, fenced};
use crate::text;

/// The `certificate.md` of one certification.
pub fn certificate_markdown(certificate: &Certificate) -> String {
    let verdict = certificate.verdict();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} faultline certificate: {} — {}\n",
        status_mark(verdict),
        escape(&certificate.target.name),
        verdict.label()
    );
    write_identity(&mut out, certificate);
    let _ = writeln!(out, "**Rerun:**\n\n{}", fenced("sh", &certificate.rerun));
    let _ = writeln!(
        out,
        "**{}** of {} properties.\n",
        counts(certificate),
        certificate.properties.len()
    );
    write_properties(&mut out, certificate);
    write_failures(&mut out, certificate);
    write_not_applicable(&mut out, certificate);
    write_workload(&mut out, certificate);
    write_api_versions(&mut out, certificate);
    out
}

fn write_identity(out: &mut String, certificate: &Certificate) {
    let target = &certificate.target;
    let bootstrap: Vec<String> = target.bootstrap.iter().map(|a| code(a)).collect();
    let rows = [
        ("Broker", escape(&target.name)),
        ("Bootstrap", or_none(bootstrap.join(", "))),
        (
            "Cluster id",
            target
                .cluster_id
                .as_deref()
                .map(code)
                .unwrap_or_else(|| "none reported".to_string()),
        ),
        ("Brokers", cell(&brokers_text(certificate))),
        (
            "Controller",
            target
                .controller_id
                .map(|id| code(&id.to_string()))
                .unwrap_or_else(|| "none reported".to_string()),
        ),
        ("faultline", code(&certificate.faultline_version)),
        ("Started at", code(&certificate.started_at)),
        ("Elapsed", text::seconds_from_ms(certificate.elapsed_ms)),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
    out.push('\n');
}

fn write_properties(out: &mut String, certificate: &Certificate) {
    out.push_str(
        "### Properties\n\n| Part | Status | Property | Title | Citation |\n\
         |---|---|---|---|---|\n",
    );
    for (category, heading) in CATEGORIES {
        for property in in_category(certificate, category) {
            let _ = writeln!(
                out,
                "| {heading} | {} {} | {} | {} | {} |",
                status_mark(property.status),
                property.status.label(),
                code(&property.id),
                cell(&property.title),
                cell(&property.citation)
            );
        }
    }
    out.push('\n');
}

fn write_failures(out: &mut String, certificate: &Certificate) {
    let failures = with_status(certificate, Status::Fail);
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Failures ({})\n", failures.len());
    for property in failures {
        write_failure(out, certificate, property);
    }
}

/// One FAIL, complete in itself: a maintainer may read nothing else.
fn write_failure(out: &mut String, certificate: &Certificate, property: &PropertyResult) {
    let _ = writeln!(
        out,
        "#### ❌ FAIL {}: {}\n\n**Rule:** {}\n\n**Broker:** {}\n\n**Detail:** {}\n",
        code(&property.id),
        escape(&property.title),
        escape(&property.citation),
        escape(&certificate.target.name),
        escape(&property.detail)
    );
    for (i, evidence) in property.evidence.iter().enumerate() {
        write_evidence(out, i + 1, evidence);
    }
    let _ = writeln!(out, "**Rerun:**\n\n{}", fenced("sh", &certificate.rerun));
}

fn write_evidence(out: &mut String, number: usize, evidence: &Evidence) {
    let _ = writeln!(
        out,
        "**Evidence {number}:** {}\n",
        escape(&evidence.summary)
    );
    for (i, exchange) in evidence.exchanges.iter().enumerate() {
        write_exchange(out, i + 1, exchange);
    }
    if !evidence.history.is_empty() {
        let _ = writeln!(
            out,
            "History ({} ops):\n\n{}",
            evidence.history.len(),
            fenced("json", &evidence.history.join("\n"))
        );
    }
}

fn write_exchange(out: &mut String, number: usize, exchange: &Exchange) {
    let _ = writeln!(
        out,
        "Exchange {number}: {} v{} to broker {} at {} ms\n\n{}",
        code(&exchange.api),
        exchange.version,
        code(&exchange.broker),
        exchange.at_ms,
        fenced(
            "text",
            &format!(
                "request → {}\nresponse ← {}",
                exchange.request, exchange.response
            )
        )
    );
}

fn write_not_applicable(out: &mut String, certificate: &Certificate) {
    let not_applicable = with_status(certificate, Status::NotApplicable);
    if not_applicable.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Not applicable ({})\n\n| Property | Why |\n|---|---|",
        not_applicable.len()
    );
    for property in not_applicable {
        let _ = writeln!(
            out,
            "| {} | {} |",
            code(&property.id),
            cell(&property.detail)
        );
    }
    out.push('\n');
}

fn write_workload(out: &mut String, certificate: &Certificate) {
    out.push_str("### Fault workload\n\n");
    let Some(workload) = &certificate.workload else {
        out.push_str("The fault workload did not run.\n\n");
        return;
    };
    let _ = writeln!(
        out,
        "| | |\n|---|---|\n| Seed | {} |\n| Duration | {} |\n",
        code(&workload.seed.to_string()),
        text::seconds_from_ms(workload.duration_ms)
    );
    if workload.faults.is_empty() {
        out.push_str("No faults were applied.\n\n");
    } else {
        let _ = writeln!(out, "Faults ({}):\n", workload.faults.len());
        for fault in &workload.faults {
            let _ = writeln!(out, "- {}", escape(fault));
        }
        out.push('\n');
    }
    if !workload.stats.is_empty() {
        out.push_str("| Stat | Value |\n|---|---:|\n");
        for (name, value) in &workload.stats {
            let _ = writeln!(out, "| {} | {value} |", cell(name));
        }
        out.push('\n');
    }
}

fn write_api_versions(out: &mut String, certificate: &Certificate) {
    let apis = &certificate.target.api_versions;
    let _ = writeln!(out, "### Advertised API versions ({})\n", apis.len());
    if apis.is_empty() {
        out.push_str("The broker advertised none.\n\n");
        return;
    }
    out.push_str("| Key | API | Min | Max |\n|---:|---|---:|---:|\n");
    for api in apis {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            api.key,
            cell(&api.name),
            api.min_version,
            api.max_version
        );
    }
    out.push('\n');
}

fn status_mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅",
        Status::Fail => "❌",
        Status::NotApplicable => "➖",
    }
}
