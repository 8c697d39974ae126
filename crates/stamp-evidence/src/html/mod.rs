//! `index.html` of an evidence pack: static HTML, CSS and inline SVG rendered from
//! `evidence.json`.
//!
//! [`render`] turns the pack's `evidence.json` value into one self-contained page for the
//! assessor: a header (period, environment, log origin and size, who generated the pack and
//! when), a summary bar, one card per PCI DSS requirement with its status in colour *and* words,
//! the patch-latency chart for 6.3.3 (advisory → fixed image built → deployed → last vulnerable
//! instance stopped, against the one-month limit), drift runs per week for 11.5.2, the
//! exceptions with their expiry, the inventory of images and instances for 12.5.1, and a
//! timeline of every event in the period, grouped by day, that the cards link into
//! (`#event-N`).
//!
//! What it deliberately does not do: decide any status (the assertions are computed and
//! verified elsewhere in this crate; the page only shows them), read a clock, load anything or
//! run script. The page has no JavaScript, no fonts, no external asset and no `http(s)` URL; a
//! Content-Security-Policy forbids all of them, so a string that slipped past escaping still
//! could not run. Every string from the JSON is HTML-escaped; a missing or malformed value shows
//! as "—" and never panics. The same input gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

mod charts;
mod value;

use charts::*;
pub use value::escape;
use value::*;

/// Events rendered in the timeline; a pack with more keeps every event a card cites and lists
/// the rest only in `evidence.json`. Measured in headless Chromium on 2 cores: 5,000 rows load
/// in about 3 s, 20,000 in about 12 s.
pub const TIMELINE_EVENTS_MAX: usize = 10_000;
/// Requirement cards rendered (PCI DSS v4.0.1 has about 300 defined requirements).
pub const REQUIREMENTS_MAX: usize = 500;
/// Event links rendered per card and kind (offending / supporting); the rest are counted.
pub const EVENT_LINKS_PER_CARD_MAX: usize = 60;
/// Rows rendered in each table (latency, exceptions, images, instances).
pub const TABLE_ROWS_MAX: usize = 5_000;
/// Advisories drawn in the patch-latency chart (all of them still appear in its table).
pub const LATENCY_CHART_ROWS_MAX: usize = 120;
/// Weeks drawn in the drift chart (three years); the most recent weeks are kept.
pub const DRIFT_WEEKS_MAX: usize = 156;
/// Characters shown of any one string from the JSON; longer ones end in "…".
pub const TEXT_CHARS_MAX: usize = 2_000;

/// The PCI DSS 6.3.3 limit for critical patches: one month, counted as 30 days.
const PATCH_LIMIT_DAYS: f64 = 30.0;
const DASH: &str = "—";
/// Counts above this are drawn at the top of the drift chart (keeps the axis arithmetic small).
const DRIFT_COUNT_MAX: u64 = 1_000_000_000;

/// Renders `index.html` from the pack's `evidence.json` value (schema `stamp.dev/evidence/v1`).
pub fn render(evidence: &Value) -> String {
    let report = Report::new(evidence);
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"color-scheme\" content=\"light\">\n");
    out.push_str("<meta name=\"generator\" content=\"stamp evidence\">\n");
    let _ = writeln!(
        out,
        "<title>PCI DSS evidence · {} · {} – {}</title>",
        text_or_dash(str_at(evidence, "environment")),
        date_or_dash(evidence.get("period").and_then(|p| p.get("from"))),
        date_or_dash(evidence.get("period").and_then(|p| p.get("to"))),
    );
    out.push_str("<style>\n");
    out.push_str(CSS);
    out.push_str("</style>\n</head>\n<body>\n");
    report.header(&mut out);
    report.nav(&mut out);
    out.push_str("<main>\n");
    report.summary(&mut out);
    report.requirements(&mut out);
    report.patch_latency(&mut out);
    report.drift(&mut out);
    report.exceptions(&mut out);
    report.inventory(&mut out);
    report.timeline(&mut out);
    out.push_str("</main>\n");
    report.footer(&mut out);
    out.push_str("</body>\n</html>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Requirement status.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Met,
    NotMet,
    Partly,
    NotApplicable,
    NotCovered,
    Unknown,
}

impl Status {
    const ALL: [Status; 5] = [
        Status::Met,
        Status::NotMet,
        Status::Partly,
        Status::NotApplicable,
        Status::NotCovered,
    ];

    fn parse(raw: Option<&str>) -> Status {
        match raw {
            Some("met") => Status::Met,
            Some("not-met") => Status::NotMet,
            Some("partly") => Status::Partly,
            Some("not-applicable") => Status::NotApplicable,
            Some("not-covered") => Status::NotCovered,
            _ => Status::Unknown,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not-met",
            Status::Partly => "partly",
            Status::NotApplicable => "not-applicable",
            Status::NotCovered => "not-covered",
            Status::Unknown => "unknown",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Status::Met => "Met",
            Status::NotMet => "Not met",
            Status::Partly => "Partly",
            Status::NotApplicable => "Not applicable",
            Status::NotCovered => "Not covered by stamp",
            Status::Unknown => "Status unknown",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Status::Met => "✓",
            Status::NotMet => "✗",
            Status::Partly => "◐",
            Status::NotApplicable => "–",
            Status::NotCovered => "○",
            Status::Unknown => "?",
        }
    }

    /// The key of the count in `summary`.
    fn summary_key(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "notMet",
            Status::Partly => "partly",
            Status::NotApplicable => "notApplicable",
            Status::NotCovered => "notCovered",
            Status::Unknown => "unknown",
        }
    }

    fn badge(self) -> String {
        format!(
            "<span class=\"badge status-{}\"><span aria-hidden=\"true\">{}</span> {}</span>",
            self.slug(),
            self.symbol(),
            self.label()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

struct Report<'a> {
    evidence: &'a Value,
    requirements: &'a [Value],
    /// Timeline events rendered, sorted by (day, index); the day is `None` when unparsable.
    events: Vec<&'a Value>,
    /// Log indexes that have an `#event-N` anchor on the page.
    anchored: BTreeSet<u64>,
    /// Log index → requirement ids that this event breaks.
    offending_by_event: BTreeMap<u64, Vec<String>>,
    /// Log index → requirement ids that cite this event as evidence.
    cited_by_event: BTreeMap<u64, Vec<String>>,
    /// Timeline entries left out beyond [`TIMELINE_EVENTS_MAX`].
    events_left_out: usize,
}

impl<'a> Report<'a> {
    fn new(evidence: &'a Value) -> Report<'a> {
        let requirements = array_at(evidence, "requirements");
        let requirements = &requirements[..requirements.len().min(REQUIREMENTS_MAX)];
        let timeline = array_at(evidence, "timeline");
        let mut offending_by_event: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut cited_by_event: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for requirement in requirements {
            let id = str_at(requirement, "id").unwrap_or(DASH).to_string();
            for (key, map) in [
                ("offending", &mut offending_by_event),
                ("events", &mut cited_by_event),
            ] {
                for index in array_at(requirement, key).iter().filter_map(Value::as_u64) {
                    let ids = map.entry(index).or_default();
                    if !ids.contains(&id) {
                        ids.push(id.clone());
                    }
                }
            }
        }
        // Over the limit, events that break a requirement come first, then the cited ones, then
        // the rest; all in time order.
        let chronological = |e: &&Value| {
            let time = parse_time(e.get("time"));
            (time.is_none(), time, u64_at(e, "index"))
        };
        let mut events: Vec<&Value> = timeline.iter().collect();
        if events.len() > TIMELINE_EVENTS_MAX {
            events.sort_by_key(|e| {
                let index = u64_at(e, "index");
                let rank = match index {
                    Some(i) if offending_by_event.contains_key(&i) => 0,
                    Some(i) if cited_by_event.contains_key(&i) => 1,
                    _ => 2,
                };
                (rank, chronological(e))
            });
            events.truncate(TIMELINE_EVENTS_MAX);
        }
        events.sort_by_key(chronological);
        let anchored = events.iter().filter_map(|e| u64_at(e, "index")).collect();
        Report {
            evidence,
            requirements,
            events,
            anchored,
            offending_by_event,
            cited_by_event,
            events_left_out: timeline.len().saturating_sub(TIMELINE_EVENTS_MAX),
        }
    }

    /// `#N` linking into the timeline, or plain text when the event is not on the page.
    fn event_link(&self, index: u64, offending: bool) -> String {
        let class = if offending {
            "event-ref offending"
        } else {
            "event-ref"
        };
        if self.anchored.contains(&index) {
            format!("<a class=\"{class}\" href=\"#event-{index}\">#{index}</a>")
        } else {
            format!(
                "<span class=\"{class} unlinked\" title=\"not in this period's timeline\">#{index}</span>"
            )
        }
    }

    fn requirement_link(&self, id: &str, offending: bool) -> String {
        let class = if offending {
            "req-ref offending"
        } else {
            "req-ref"
        };
        format!(
            "<a class=\"{class}\" href=\"#{}\">{}</a>",
            anchor("req-", id),
            escape(id)
        )
    }

    fn header(&self, out: &mut String) {
        let e = self.evidence;
        let period = e.get("period");
        let log = e.get("log").unwrap_or(&Value::Null);
        let environment = match e.get("environment") {
            Some(Value::Null) => "all environments".to_string(),
            other => text_or_dash(other.and_then(Value::as_str)),
        };
        out.push_str("<header class=\"report-header\">\n<div class=\"title-row\">\n");
        out.push_str("<div><p class=\"eyebrow\">PCI DSS v4.0.1 · assessor's evidence pack</p>\n");
        let _ = writeln!(
            out,
            "<h1>Evidence for <span class=\"env\">{environment}</span></h1>\n\
             <p class=\"period\">{} → {}</p></div>",
            time_or_dash(period.and_then(|p| p.get("from"))),
            time_or_dash(period.and_then(|p| p.get("to"))),
        );
        out.push_str("</div>\n<dl class=\"facts\">\n");
        let retention = log.get("retention").unwrap_or(&Value::Null);
        let covers = match f64_at(retention, "coversMonths") {
            Some(months) => format!("{months:.1} months"),
            None => DASH.to_string(),
        };
        let whole_life = match bool_at(retention, "wholeLife") {
            Some(true) => " · the log's whole life",
            Some(false) => " · pruned past retention",
            None => "",
        };
        let facts: [(&str, String); 10] = [
            ("Environment", environment.clone()),
            ("Log origin", text_or_dash(str_at(log, "origin"))),
            ("Tree size", count_or_dash(u64_at(log, "treeSize"))),
            (
                "Root hash",
                match str_at(log, "rootHash") {
                    Some(hash) if !hash.is_empty() => {
                        format!("<code class=\"hash\">{}</code>", escape(hash))
                    }
                    _ => DASH.to_string(),
                },
            ),
            ("Oldest entry", time_or_dash(log.get("oldestEntry"))),
            ("Retention", format!("{covers}{whole_life}")),
            (
                "Checkpoint",
                match str_at(log, "checkpoint") {
                    Some(path) if !path.is_empty() => {
                        format!("<code>{}</code>", escape(path))
                    }
                    _ => DASH.to_string(),
                },
            ),
            ("Generated at", time_or_dash(e.get("generatedAt"))),
            ("Generated by", text_or_dash(str_at(e, "generatedBy"))),
            (
                "Log entries in the pack",
                match log
                    .get("range")
                    .map(|r| (u64_at(r, "first"), u64_at(r, "last")))
                {
                    Some((Some(first), Some(last))) => format!("#{first} – #{last}"),
                    _ => DASH.to_string(),
                },
            ),
        ];
        for (term, value) in facts {
            let _ = writeln!(out, "<div><dt>{term}</dt><dd>{value}</dd></div>");
        }
        out.push_str("</dl>\n</header>\n");
    }

    fn nav(&self, out: &mut String) {
        out.push_str(
            "<nav class=\"toc\" aria-label=\"sections\">\
             <a href=\"#summary\">Summary</a>\
             <a href=\"#requirements\">Requirements</a>\
             <a href=\"#patch-latency\">Patch latency</a>\
             <a href=\"#drift\">Drift checks</a>\
             <a href=\"#exceptions\">Exceptions</a>\
             <a href=\"#inventory\">Inventory</a>\
             <a href=\"#timeline\">Timeline</a></nav>\n",
        );
    }

    /// Counts per status: from `summary` where present, else counted from the requirements.
    fn status_counts(&self) -> Vec<(Status, Option<u64>)> {
        let summary = self.evidence.get("summary");
        Status::ALL
            .iter()
            .map(|&status| {
                let from_summary = summary.and_then(|s| u64_at(s, status.summary_key()));
                let counted = self
                    .requirements
                    .iter()
                    .filter(|r| Status::parse(str_at(r, "status")) == status)
                    .count() as u64;
                (
                    status,
                    from_summary.or(summary.is_none().then_some(counted)),
                )
            })
            .collect()
    }

    fn summary(&self, out: &mut String) {
        let counts = self.status_counts();
        let total: u64 = counts.iter().filter_map(|(_, n)| *n).sum();
        out.push_str("<section id=\"summary\" class=\"summary\">\n<h2>Summary</h2>\n");
        out.push_str(
            "<div class=\"summary-bar\" role=\"img\" aria-label=\"requirements by status\">",
        );
        for (status, n) in &counts {
            let n = n.unwrap_or(0);
            if n == 0 || total == 0 {
                continue;
            }
            let percent = n as f64 * 100.0 / total as f64;
            let _ = write!(
                out,
                "<span class=\"segment status-{}\" style=\"width:{percent:.3}%\" title=\"{}: {n}\">{n}</span>",
                status.slug(),
                status.label()
            );
        }
        out.push_str("</div>\n<ul class=\"summary-counts\">\n");
        for (status, n) in &counts {
            let _ = writeln!(
                out,
                "<li class=\"count status-{}\"><span class=\"number\">{}</span> {} {}</li>",
                status.slug(),
                count_or_dash(*n),
                status.symbol(),
                status.label()
            );
        }
        let events = self
            .evidence
            .get("summary")
            .and_then(|s| u64_at(s, "events"))
            .or_else(|| {
                self.evidence
                    .get("timeline")
                    .and_then(Value::as_array)
                    .map(|t| t.len() as u64)
            });
        let _ = writeln!(
            out,
            "<li class=\"count events\"><span class=\"number\">{}</span> events in the period</li>",
            count_or_dash(events)
        );
        out.push_str("</ul>\n");
        let attention: Vec<&Value> = self
            .requirements
            .iter()
            .filter(|r| {
                matches!(
                    Status::parse(str_at(r, "status")),
                    Status::NotMet | Status::Partly
                )
            })
            .collect();
        if !attention.is_empty() {
            out.push_str("<p class=\"attention\"><strong>Needs attention:</strong> ");
            for (i, requirement) in attention.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let status = Status::parse(str_at(requirement, "status"));
                let id = str_at(requirement, "id").unwrap_or(DASH);
                let _ = write!(
                    out,
                    "{} <span class=\"status-text status-{}\">({})</span>",
                    self.requirement_link(id, status == Status::NotMet),
                    status.slug(),
                    status.label().to_lowercase()
                );
            }
            out.push_str("</p>\n");
        }
        out.push_str("</section>\n");
    }

    fn requirements(&self, out: &mut String) {
        out.push_str("<section id=\"requirements\">\n<h2>Requirements</h2>\n");
        if self.requirements.is_empty() {
            out.push_str("<p class=\"empty\">No requirements in this pack.</p>\n");
        }
        out.push_str("<div class=\"cards\">\n");
        for requirement in self.requirements {
            self.card(out, requirement);
        }
        out.push_str("</div>\n");
        let all = array_at(self.evidence, "requirements").len();
        if all > self.requirements.len() {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more requirements are listed only in evidence.json.</p>",
                all - self.requirements.len()
            );
        }
        out.push_str("</section>\n");
    }

    fn card(&self, out: &mut String, requirement: &Value) {
        let raw_id = str_at(requirement, "id").filter(|s| !s.is_empty());
        let status = Status::parse(str_at(requirement, "status"));
        let id_attr = raw_id.map_or(String::new(), |id| {
            format!(" id=\"{}\"", anchor("req-", id))
        });
        let data_id = raw_id.map(escape).unwrap_or_default();
        let _ = writeln!(
            out,
            "<article class=\"card status-{}\"{id_attr} data-requirement=\"{data_id}\">",
            status.slug()
        );
        let _ = writeln!(
            out,
            "<div class=\"card-head\"><h3><span class=\"req-id\">{}</span> {}</h3>{}</div>",
            text_or_dash(raw_id),
            text_or_dash(str_at(requirement, "title")),
            status.badge()
        );
        if status == Status::Unknown {
            let _ = writeln!(
                out,
                "<p class=\"note\">status given as <code>{}</code></p>",
                match requirement.get("status") {
                    Some(Value::String(s)) => escape(s),
                    _ => DASH.to_string(),
                }
            );
        }
        let assertion = str_at(requirement, "assertion");
        let nothing_to_assert = matches!(status, Status::NotCovered | Status::NotApplicable)
            && assertion.is_some_and(|a| a.trim().is_empty());
        if !nothing_to_assert {
            let _ = writeln!(
                out,
                "<p class=\"assertion\"><span class=\"label\">Assertion</span> {}</p>",
                text_or_dash(assertion)
            );
        }
        if let Some(detail) = str_at(requirement, "detail").filter(|d| !d.trim().is_empty()) {
            let _ = writeln!(out, "<p class=\"detail\">{}</p>", escape(detail));
        }
        for (key, label, offending) in [
            ("offending", "Offending events", true),
            ("events", "Evidence", false),
        ] {
            let refs = array_at(requirement, key);
            if refs.is_empty() {
                continue;
            }
            let _ = write!(
                out,
                "<p class=\"events{}\"><span class=\"label\">{label}</span> ",
                if offending { " offending-list" } else { "" }
            );
            for (i, value) in refs.iter().take(EVENT_LINKS_PER_CARD_MAX).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match value.as_u64() {
                    Some(index) => out.push_str(&self.event_link(index, offending)),
                    None => out.push_str(DASH),
                }
            }
            if refs.len() > EVENT_LINKS_PER_CARD_MAX {
                let _ = write!(
                    out,
                    " <span class=\"muted\">and {} more</span>",
                    refs.len() - EVENT_LINKS_PER_CARD_MAX
                );
            }
            out.push_str("</p>\n");
        }
        if array_at(requirement, "events").is_empty()
            && matches!(status, Status::Met | Status::Partly)
        {
            out.push_str("<p class=\"events muted\">No events cited.</p>\n");
        }
        out.push_str("</article>\n");
    }

    fn patch_latency(&self, out: &mut String) {
        let rows = array_at(self.evidence, "patchLatency");
        out.push_str("<section id=\"patch-latency\">\n<h2>Patch latency <span class=\"req-tag\">6.3.3</span></h2>\n");
        out.push_str(
            "<p class=\"lede\">Days from an advisory's publication to the last instance running \
             the vulnerable image being stopped. PCI DSS 6.3.3 allows one month for critical \
             fixes (30 days here).</p>\n",
        );
        if rows.is_empty() {
            out.push_str("<p class=\"empty\">No vulnerabilities needing a patch in this period.</p>\n</section>\n");
            return;
        }
        latency_chart(out, &rows[..rows.len().min(LATENCY_CHART_ROWS_MAX)]);
        out.push_str(
            "<div class=\"table-wrap\"><table class=\"latency\">\n<thead><tr><th>Advisory</th>\
             <th>Severity</th><th>Image</th><th>Published</th><th>Fix</th><th>Fixed image built</th>\
             <th>Deployed</th><th>Last vulnerable stopped</th><th class=\"num\">Days</th>\
             <th>30-day limit</th></tr></thead>\n<tbody>\n",
        );
        for row in rows.iter().take(TABLE_ROWS_MAX) {
            let over = latency_over_limit(row);
            let aliases: Vec<String> = array_at(row, "aliases")
                .iter()
                .filter_map(Value::as_str)
                .map(escape)
                .collect();
            let _ = writeln!(
                out,
                "<tr{}><td><strong>{}</strong>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                if over == Some(true) {
                    " class=\"over-limit\""
                } else {
                    ""
                },
                text_or_dash(str_at(row, "advisory")),
                {
                    let mut extra = String::new();
                    if !aliases.is_empty() {
                        let _ = write!(
                            extra,
                            "<br><span class=\"muted\">{}</span>",
                            aliases.join(", ")
                        );
                    }
                    if let Some(index) = u64_at(row, "event") {
                        let _ = write!(
                            extra,
                            "<br><span class=\"label\">found</span>{}",
                            self.event_link(index, false)
                        );
                    }
                    extra
                },
                severity_html(str_at(row, "severity")),
                digest_html(str_at(row, "image")),
                time_or_dash(row.get("published")),
                match bool_at(row, "fixAvailable") {
                    Some(true) => "available",
                    Some(false) => "none yet",
                    None => DASH,
                },
                time_or(row.get("fixedImageBuilt"), "not built"),
                time_or(row.get("deployed"), "not deployed"),
                time_or(row.get("lastVulnerableStopped"), "still running"),
                f64_at(row, "days").map_or_else(|| DASH.to_string(), |d| format!("{d:.1}")),
                match over {
                    Some(true) => "<span class=\"badge status-not-met\">✗ Over the limit</span>",
                    Some(false) => "<span class=\"badge status-met\">✓ Within</span>",
                    None => DASH,
                },
            );
        }
        out.push_str("</tbody></table></div>\n");
        table_rows_note(out, rows.len());
        out.push_str("</section>\n");
    }

    fn drift(&self, out: &mut String) {
        let weeks = array_at(self.evidence, "driftRuns");
        out.push_str("<section id=\"drift\">\n<h2>Drift checks per week <span class=\"req-tag\">11.5.2</span></h2>\n");
        out.push_str(
            "<p class=\"lede\">Comparisons of running instances against their images' signed file \
             manifests. PCI DSS 11.5.2 asks for at least one a week; a drifted instance is \
             answered by replacing it (healed).</p>\n",
        );
        if weeks.is_empty() {
            out.push_str(
                "<p class=\"empty\">No drift runs recorded in this period.</p>\n</section>\n",
            );
            return;
        }
        let shown = &weeks[weeks.len().saturating_sub(DRIFT_WEEKS_MAX)..];
        drift_chart(out, shown);
        out.push_str(
            "<div class=\"table-wrap\"><table class=\"drift\">\n<thead><tr><th>Week</th>\
             <th class=\"num\">Runs</th><th class=\"num\">Drifted</th><th class=\"num\">Healed</th>\
             </tr></thead>\n<tbody>\n",
        );
        for week in weeks.iter().take(TABLE_ROWS_MAX) {
            let runs = u64_at(week, "runs");
            let _ = writeln!(
                out,
                "<tr{}><td>{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                if runs == Some(0) { " class=\"no-runs\"" } else { "" },
                text_or_dash(str_at(week, "week")),
                count_or_dash(runs),
                if runs == Some(0) { " <span class=\"badge status-not-met\">✗ no run</span>" } else { "" },
                count_or_dash(u64_at(week, "drifted")),
                count_or_dash(u64_at(week, "healed")),
            );
        }
        out.push_str("</tbody></table></div>\n");
        table_rows_note(out, weeks.len());
        out.push_str("</section>\n");
    }

    fn exceptions(&self, out: &mut String) {
        let exceptions = array_at(self.evidence, "exceptions");
        out.push_str("<section id=\"exceptions\">\n<h2>Exceptions</h2>\n");
        if exceptions.is_empty() {
            out.push_str(
                "<p class=\"empty\">No exceptions granted in this period.</p>\n</section>\n",
            );
            return;
        }
        out.push_str(
            "<div class=\"table-wrap\"><table class=\"exceptions\">\n<thead><tr><th>Exception</th>\
             <th>Finding</th><th>Reason</th><th>Requested by</th><th>Approved by</th>\
             <th>Expires</th><th>State</th><th>Event</th></tr></thead>\n<tbody>\n",
        );
        for exception in exceptions.iter().take(TABLE_ROWS_MAX) {
            let expired = bool_at(exception, "expired");
            let requested = str_at(exception, "requestedBy");
            let approved = str_at(exception, "approvedBy");
            let same_person = requested.is_some() && requested == approved;
            let _ = writeln!(
                out,
                "<tr{}><td><code>{}</code></td><td><code>{}</code></td><td class=\"reason\">{}</td>\
                 <td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if expired == Some(true) { " class=\"expired\"" } else { "" },
                text_or_dash(str_at(exception, "id")),
                text_or_dash(str_at(exception, "code")),
                text_or_dash(str_at(exception, "reason")),
                text_or_dash(requested),
                text_or_dash(approved),
                if same_person {
                    " <span class=\"badge status-not-met\">✗ same as requester</span>"
                } else {
                    ""
                },
                time_or_dash(exception.get("expires")),
                match expired {
                    Some(true) => "<span class=\"badge status-not-met\">✗ Expired</span>",
                    Some(false) => "<span class=\"badge status-met\">✓ Active</span>",
                    None => DASH,
                },
                u64_at(exception, "event")
                    .map_or_else(|| DASH.to_string(), |i| self.event_link(i, false)),
            );
        }
        out.push_str("</tbody></table></div>\n");
        table_rows_note(out, exceptions.len());
        out.push_str("</section>\n");
    }

    fn inventory(&self, out: &mut String) {
        let inventory = self.evidence.get("inventory").unwrap_or(&Value::Null);
        let images = array_at(inventory, "images");
        let instances = array_at(inventory, "instances");
        out.push_str("<section id=\"inventory\">\n<h2>Inventory <span class=\"req-tag\">12.5.1</span></h2>\n");
        let _ = writeln!(out, "<h3>Images ({})</h3>", thousands(images.len() as u64));
        if images.is_empty() {
            out.push_str("<p class=\"empty\">No images.</p>\n");
        } else {
            out.push_str(
                "<div class=\"table-wrap\"><table class=\"images\">\n<thead><tr><th>Digest</th>\
                 <th>Reference</th><th>Built</th><th>Deployed</th></tr></thead>\n<tbody>\n",
            );
            for image in images.iter().take(TABLE_ROWS_MAX) {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    digest_html(str_at(image, "digest")),
                    text_or_dash(str_at(image, "reference")),
                    time_or_dash(image.get("built")),
                    match bool_at(image, "deployed") {
                        Some(true) => "yes",
                        Some(false) => "<span class=\"muted\">no</span>",
                        None => DASH,
                    },
                );
            }
            out.push_str("</tbody></table></div>\n");
            table_rows_note(out, images.len());
        }
        let _ = writeln!(
            out,
            "<h3>Instances ({})</h3>",
            thousands(instances.len() as u64)
        );
        if instances.is_empty() {
            out.push_str("<p class=\"empty\">No instances.</p>\n");
        } else {
            out.push_str(
                "<div class=\"table-wrap\"><table class=\"instances\">\n<thead><tr><th>Instance</th>\
                 <th>Environment</th><th>Image</th><th>Started</th><th>Stopped</th>\
                 <th>Last drift check</th></tr></thead>\n<tbody>\n",
            );
            for instance in instances.iter().take(TABLE_ROWS_MAX) {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    text_or_dash(str_at(instance, "id")),
                    text_or_dash(str_at(instance, "env")),
                    digest_html(str_at(instance, "digest")),
                    time_or_dash(instance.get("started")),
                    time_or(instance.get("stopped"), "running"),
                    time_or(instance.get("lastDrift"), "never"),
                );
            }
            out.push_str("</tbody></table></div>\n");
            table_rows_note(out, instances.len());
        }
        out.push_str("</section>\n");
    }

    fn timeline(&self, out: &mut String) {
        out.push_str("<section id=\"timeline\">\n<h2>Timeline of changes</h2>\n");
        if self.events.is_empty() {
            out.push_str("<p class=\"empty\">No events in this period.</p>\n</section>\n");
            return;
        }
        let _ = writeln!(
            out,
            "<p class=\"lede\">{} events, oldest first, grouped by day (UTC). Rows marked \
             <span class=\"badge status-not-met\">✗ breaks</span> are the events behind a \
             requirement that is not met.</p>",
            thousands(self.events.len() as u64)
        );
        out.push_str(
            "<div class=\"table-wrap\"><table class=\"timeline\">\n<colgroup><col class=\"c-index\">\
             <col class=\"c-time\"><col class=\"c-kind\"><col class=\"c-actor\"><col class=\"c-component\">\
             <col class=\"c-outcome\"><col class=\"c-summary\"><col class=\"c-reqs\"></colgroup>\n\
             <thead><tr><th class=\"num\">#</th>\
             <th>Time</th><th>Kind</th><th>Actor</th><th>Component</th><th>Outcome</th>\
             <th>Summary</th><th>Requirements</th></tr></thead>\n",
        );
        let mut current_day: Option<Option<String>> = None;
        let mut anchors_written = BTreeSet::new();
        for event in &self.events {
            let time = parse_time(event.get("time"));
            let day = time.map(format_date);
            if current_day.as_ref() != Some(&day) {
                if current_day.is_some() {
                    out.push_str("</tbody>\n");
                }
                let heading = match (&day, time) {
                    (Some(d), Some(t)) => format!("{d} · {}", t.weekday()),
                    _ => "Time unknown".to_string(),
                };
                let _ = writeln!(
                    out,
                    "<tbody class=\"day\"><tr class=\"day-head\"><th colspan=\"8\">{heading}</th></tr>"
                );
                current_day = Some(day);
            }
            let index = u64_at(event, "index");
            let offending = index.and_then(|i| self.offending_by_event.get(&i));
            let outcome = match str_at(event, "outcome") {
                Some("success") => "<span class=\"outcome ok\">✓ success</span>".to_string(),
                Some("failure") => "<span class=\"outcome fail\">✗ failure</span>".to_string(),
                other => text_or_dash(other),
            };
            let mut classes = vec!["event"];
            if offending.is_some() {
                classes.push("offending");
            }
            if str_at(event, "outcome") == Some("failure") {
                classes.push("failure");
            }
            let mut requirements = String::new();
            if let Some(ids) = offending {
                requirements.push_str("<span class=\"badge status-not-met\">✗ breaks</span> ");
                for id in ids {
                    requirements.push_str(&self.requirement_link(id, true));
                    requirements.push(' ');
                }
            }
            if let Some(ids) = index.and_then(|i| self.cited_by_event.get(&i)) {
                for id in ids
                    .iter()
                    .filter(|id| offending.is_none_or(|o| !o.contains(id)))
                {
                    requirements.push_str(&self.requirement_link(id, false));
                    requirements.push(' ');
                }
            }
            let _ = writeln!(
                out,
                "<tr class=\"{}\"{}><td class=\"num\">{}</td><td class=\"time\">{}</td><td><code>{}</code></td>\
                 <td>{}</td><td>{}</td><td>{}</td><td class=\"summary-text\">{}</td><td class=\"reqs\">{}</td></tr>",
                classes.join(" "),
                match index {
                    Some(i) if anchors_written.insert(i) => format!(" id=\"event-{i}\""),
                    _ => String::new(),
                },
                index.map_or_else(|| DASH.to_string(), |i| i.to_string()),
                time.map_or_else(
                    || DASH.to_string(),
                    |t| format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
                ),
                text_or_dash(str_at(event, "kind")),
                text_or_dash(str_at(event, "actor")),
                text_or_dash(str_at(event, "component")),
                outcome,
                text_or_dash(str_at(event, "summary")),
                requirements.trim_end(),
            );
        }
        out.push_str("</tbody>\n</table></div>\n");
        if self.events_left_out > 0 {
            let _ = writeln!(
                out,
                "<p class=\"note\">{} more events are listed only in evidence.json.</p>",
                thousands(self.events_left_out as u64)
            );
        }
        out.push_str("</section>\n");
    }

    fn footer(&self, out: &mut String) {
        out.push_str("<footer class=\"report-footer\">\n<p>");
        let files = str_at(self.evidence, "files").and_then(pack_relative_link);
        match files {
            Some(path) => {
                let _ = write!(
                    out,
                    "Checksums of every file in this pack: <a href=\"{path}\"><code>{path}</code></a>. "
                );
            }
            None => out.push_str("Checksums of every file in this pack: — . "),
        }
        out.push_str(
            "Check the pack offline, with nothing but the pack and the public keys: \
             <code>stamp verify PACK --trust KEYS</code> (see <code>VERIFY.md</code>). \
             The machine-readable form of this page is <code>evidence.json</code>.</p>\n",
        );
        if let Some(signature) = str_at(self.evidence, "signature").and_then(pack_relative_link) {
            let _ = writeln!(
                out,
                "<p>The checksum list is signed: <a href=\"{signature}\"><code>{signature}</code></a>.</p>"
            );
        }
        let _ = writeln!(
            out,
            "<p class=\"muted\">Schema <code>{}</code></p>",
            text_or_dash(str_at(self.evidence, "schema"))
        );
        out.push_str("</footer>\n");
    }
}

/// The page's style sheet (inline in `<style>`; print rules included).
const CSS: &str = include_str!("style.css");

#[cfg(test)]
mod tests;
