//! `certificate.html`: the certificate as one self-contained page (inline CSS; no script,
//! font or image, nothing fetched), to publish next to a broker's release or attach to
//! an issue.
//!
//! The same content as `certificate.md`, in the same order, with coloured PASS / FAIL /
//! NOT APPLICABLE badges; each FAIL's evidence sits in a `<details>` element that is open
//! by default, so the page reads fully even printed. Every string from the broker or the
//! target file is escaped with [`markup`].

use std::fmt::Write;

use crate::certificate::model::{
    Certificate, Evidence, Exchange, PropertyResult, Status, CERTIFICATE_SCHEMA_VERSION,
};

use super::{brokers_text, counts, in_category, or_none, with_status, CATEGORIES};
use crate::escape::{identifier, markup};
use crate::html::code;
use crate::text;

const STYLE: &str = include_str!("certificate.css");

/// The `certificate.html` of one certification.
pub fn certificate_html(certificate: &Certificate) -> String {
    let verdict = certificate.verdict();
    let mut out = String::with_capacity(16_384);
    let title = format!(
        "faultline certificate: {} — {}",
        certificate.target.name,
        verdict.label()
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        markup(&title)
    );
    write_header(&mut out, certificate);
    out.push_str(
        "<nav><a href=\"#properties\">Properties</a><a href=\"#failures\">Failures</a>\
         <a href=\"#not-applicable\">Not applicable</a><a href=\"#workload\">Fault workload</a>\
         <a href=\"#api-versions\">API versions</a></nav>\n",
    );
    write_properties(&mut out, certificate);
    write_failures(&mut out, certificate);
    write_not_applicable(&mut out, certificate);
    write_workload(&mut out, certificate);
    write_api_versions(&mut out, certificate);
    let _ = write!(
        out,
        "<footer>faultline {} · certificate schema {CERTIFICATE_SCHEMA_VERSION} · a \
         self-contained page: nothing is fetched from the network.</footer>\n</body>\n</html>\n",
        markup(&certificate.faultline_version)
    );
    out
}

fn write_header(out: &mut String, certificate: &Certificate) {
    let target = &certificate.target;
    let _ = writeln!(
        out,
        "<header>\n<h1>{} {} <span class=\"muted\">faultline certificate</span></h1>\n\
         <p class=\"counts\">{} of {} properties.</p>",
        badge(certificate.verdict()),
        markup(&target.name),
        counts(certificate),
        certificate.properties.len()
    );
    let bootstrap: Vec<String> = target.bootstrap.iter().map(|a| code(a)).collect();
    let rows = [
        ("Broker", markup(&target.name)),
        ("Bootstrap", or_none(bootstrap.join(", "))),
        ("Cluster id", optional_code(target.cluster_id.as_deref())),
        ("Brokers", markup(&brokers_text(certificate))),
        (
            "Controller",
            optional_code(target.controller_id.map(|id| id.to_string()).as_deref()),
        ),
        ("faultline version", code(&certificate.faultline_version)),
        ("Started at", code(&certificate.started_at)),
        ("Elapsed", text::seconds_from_ms(certificate.elapsed_ms)),
    ];
    out.push_str("<table class=\"identity\">\n");
    for (name, value) in rows {
        let _ = writeln!(out, "<tr><th>{name}</th><td>{value}</td></tr>");
    }
    out.push_str("</table>\n");
    write_rerun(out, certificate);
    out.push_str("</header>\n");
}

fn write_rerun(out: &mut String, certificate: &Certificate) {
    let _ = writeln!(
        out,
        "<p>Rerun:</p>\n<pre class=\"repro\">{}</pre>",
        markup(&certificate.rerun)
    );
}

fn write_properties(out: &mut String, certificate: &Certificate) {
    out.push_str(
        "<section id=\"properties\">\n<h2>Properties</h2>\n<table>\n<tr><th>Status</th>\
         <th>Property</th><th>Title</th><th>Citation</th></tr>\n",
    );
    for (category, heading) in CATEGORIES {
        let _ = writeln!(
            out,
            "<tr class=\"part\"><th colspan=\"4\">{heading}</th></tr>"
        );
        for property in in_category(certificate, category) {
            let _ = writeln!(
                out,
                "<tr id=\"property-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                identifier(&property.id),
                status_cell(property),
                code(&property.id),
                markup(&property.title),
                markup(&property.citation)
            );
        }
    }
    out.push_str("</table>\n</section>\n");
}

fn write_failures(out: &mut String, certificate: &Certificate) {
    let failures = with_status(certificate, Status::Fail);
    let _ = writeln!(
        out,
        "<section id=\"failures\">\n<h2>Failures ({})</h2>",
        failures.len()
    );
    if failures.is_empty() {
        out.push_str("<p>None: every applicable property passed.</p>\n");
    }
    for property in failures {
        write_failure(out, certificate, property);
    }
    out.push_str("</section>\n");
}

/// One FAIL, complete in itself: a maintainer may read nothing else.
fn write_failure(out: &mut String, certificate: &Certificate, property: &PropertyResult) {
    let _ = writeln!(
        out,
        "<article class=\"failure\" id=\"fail-{}\">\n<h3>{} {}: {}</h3>\n\
         <p><strong>Rule:</strong> {}</p>\n<p><strong>Broker:</strong> {}</p>\n\
         <p><strong>Detail:</strong> {}</p>",
        identifier(&property.id),
        badge(Status::Fail),
        code(&property.id),
        markup(&property.title),
        markup(&property.citation),
        markup(&certificate.target.name),
        markup(&property.detail)
    );
    for (i, evidence) in property.evidence.iter().enumerate() {
        write_evidence(out, i + 1, evidence);
    }
    write_rerun(out, certificate);
    out.push_str("</article>\n");
}

fn write_evidence(out: &mut String, number: usize, evidence: &Evidence) {
    let _ = writeln!(
        out,
        "<details open>\n<summary>Evidence {number}: {}</summary>",
        markup(&evidence.summary)
    );
    for (i, exchange) in evidence.exchanges.iter().enumerate() {
        write_exchange(out, i + 1, exchange);
    }
    if !evidence.history.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"exchange\">History ({} ops):</p>\n<pre>{}</pre>",
            evidence.history.len(),
            markup(&evidence.history.join("\n"))
        );
    }
    out.push_str("</details>\n");
}

fn write_exchange(out: &mut String, number: usize, exchange: &Exchange) {
    let _ = writeln!(
        out,
        "<p class=\"exchange\">Exchange {number}: {} v{} to broker {} at {} ms</p>\n\
         <pre>request → {}\nresponse ← {}</pre>",
        code(&exchange.api),
        exchange.version,
        code(&exchange.broker),
        exchange.at_ms,
        markup(&exchange.request),
        markup(&exchange.response)
    );
}

fn write_not_applicable(out: &mut String, certificate: &Certificate) {
    let not_applicable = with_status(certificate, Status::NotApplicable);
    let _ = writeln!(
        out,
        "<section id=\"not-applicable\">\n<h2>Not applicable ({})</h2>\n<table>\n\
         <tr><th>Property</th><th>Why</th></tr>",
        not_applicable.len()
    );
    for property in not_applicable {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            code(&property.id),
            markup(&property.detail)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn write_workload(out: &mut String, certificate: &Certificate) {
    out.push_str("<section id=\"workload\">\n<h2>Fault workload</h2>\n");
    let Some(workload) = &certificate.workload else {
        out.push_str("<p>The fault workload did not run.</p>\n</section>\n");
        return;
    };
    let _ = writeln!(
        out,
        "<table>\n<tr><th>Seed</th><td>{}</td></tr>\n<tr><th>Duration</th><td>{}</td></tr>\n\
         </table>\n<h3>Faults ({})</h3>",
        code(&workload.seed.to_string()),
        text::seconds_from_ms(workload.duration_ms),
        workload.faults.len()
    );
    if workload.faults.is_empty() {
        out.push_str("<p>No faults were applied.</p>\n");
    } else {
        out.push_str("<ul>\n");
        for fault in &workload.faults {
            let _ = writeln!(out, "<li>{}</li>", markup(fault));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h3>Stats</h3>\n<table>\n");
    for (name, value) in &workload.stats {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td class=\"num\">{value}</td></tr>",
            markup(name)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn write_api_versions(out: &mut String, certificate: &Certificate) {
    let apis = &certificate.target.api_versions;
    let _ = writeln!(
        out,
        "<section id=\"api-versions\">\n<h2>Advertised API versions ({})</h2>\n<table>\n\
         <tr><th class=\"num\">Key</th><th>API</th><th class=\"num\">Min</th>\
         <th class=\"num\">Max</th></tr>",
        apis.len()
    );
    for api in apis {
        let _ = writeln!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            api.key,
            markup(&api.name),
            api.min_version,
            api.max_version
        );
    }
    out.push_str("</table>\n</section>\n");
}

/// A coloured status badge; its class is the status as JSON spells it.
fn badge(status: Status) -> String {
    let class = match status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::NotApplicable => "not-applicable",
    };
    let label = match status {
        Status::NotApplicable => "N/A",
        other => other.label(),
    };
    format!(
        "<span class=\"badge {class}\" title=\"{}\">{label}</span>",
        status.label()
    )
}

/// A property's badge; a FAIL's links to its section.
fn status_cell(property: &PropertyResult) -> String {
    match property.status {
        Status::Fail => format!(
            "<a href=\"#fail-{}\">{}</a>",
            identifier(&property.id),
            badge(Status::Fail)
        ),
        other => badge(other),
    }
}

/// `text` in a `<code>` element, or `none reported`.
fn optional_code(text: Option<&str>) -> String {
    text.map(code)
        .unwrap_or_else(|| "none reported".to_string())
}
