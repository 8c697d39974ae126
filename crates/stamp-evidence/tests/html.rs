//! The evidence pack's `index.html` rendered from a hand-written `evidence.json`
//! (tests/fixtures/evidence.json: a quarter of a payments service in prod with 19 requirements,
//! two of them not met), checked for structure, escaping and robustness, and then opened in
//! Debian's headless Chromium: a screenshot, no console message, the requirement cards in the DOM.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stamp_evidence::html::{render, TEXT_CHARS_MAX, TIMELINE_EVENTS_MAX};

fn fixture() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence.json");
    let text = std::fs::read_to_string(&path).expect("reading the fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn requirements(evidence: &Value) -> &Vec<Value> {
    evidence["requirements"].as_array().expect("requirements")
}

/// The `<article …>…</article>` of requirement `id`.
fn card<'a>(html: &'a str, id: &str) -> &'a str {
    let marker = format!("data-requirement=\"{id}\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no card for {id}"));
    let start = html[..at].rfind("<article").expect("card start");
    let end = at + html[at..].find("</article>").expect("card end");
    &html[start..end]
}

/// Every `href="#X"` in the page, and every `id="X"`.
fn fragment_links_and_ids(html: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let collect = |needle: &str| {
        html.match_indices(needle)
            .map(|(at, _)| {
                let rest = &html[at + needle.len()..];
                rest[..rest.find('"').expect("closing quote")].to_string()
            })
            .collect::<BTreeSet<_>>()
    };
    (collect("href=\"#"), collect(" id=\""))
}

const HOSTILE: &str = "<script>console.error('injected')</script><img src=x onerror=alert(1)>";

/// The fixture with user-typed strings replaced by markup that must come out inert.
fn fixture_with_hostile_strings() -> Value {
    let mut evidence = fixture();
    evidence["exceptions"][0]["reason"] = json!(format!("reason {HOSTILE}"));
    evidence["timeline"][3]["summary"] = json!(format!("summary {HOSTILE}"));
    evidence["timeline"][4]["actor"] = json!("\"><script>alert(2)</script>");
    evidence["requirements"][0]["detail"] = json!(format!("detail {HOSTILE}"));
    evidence
}

#[test]
fn every_requirement_has_a_card_with_its_status_class_and_text() {
    let evidence = fixture();
    let html = render(&evidence);
    let requirements = requirements(&evidence);
    assert!(requirements.len() >= 12);
    assert_eq!(
        html.matches("<article class=\"card ").count(),
        requirements.len()
    );
    for requirement in requirements {
        let id = requirement["id"].as_str().unwrap();
        let status = requirement["status"].as_str().unwrap();
        let card = card(&html, id);
        let label = match status {
            "met" => "✓</span> Met</span>",
            "not-met" => "✗</span> Not met</span>",
            "partly" => "◐</span> Partly</span>",
            "not-applicable" => "–</span> Not applicable</span>",
            "not-covered" => "○</span> Not covered by stamp</span>",
            other => panic!("fixture holds unknown status {other}"),
        };
        assert!(
            card.starts_with(&format!(
                "<article class=\"card status-{status}\" id=\"req-{id}\""
            )),
            "{id}: {card}"
        );
        assert!(
            card.contains(&format!("class=\"badge status-{status}\"")),
            "{id}"
        );
        assert!(card.contains(label), "{id} lacks the words {label:?}");
        let assertion = requirement["assertion"].as_str().unwrap();
        if !assertion.is_empty() {
            assert!(
                card.contains(&stamp_evidence::html::escape(assertion)),
                "{id}"
            );
        }
    }
}

#[test]
fn offending_events_link_to_highlighted_timeline_rows() {
    let evidence = fixture();
    let html = render(&evidence);
    let not_met: Vec<&Value> = requirements(&evidence)
        .iter()
        .filter(|r| r["status"] == "not-met")
        .collect();
    assert_eq!(not_met.len(), 2, "fixture has two requirements not met");
    for requirement in not_met {
        let id = requirement["id"].as_str().unwrap();
        let card = card(&html, id);
        let offending = requirement["offending"].as_array().unwrap();
        assert!(!offending.is_empty(), "{id}");
        for index in offending {
            let index = index.as_u64().unwrap();
            assert!(
                card.contains(&format!(
                    "<a class=\"event-ref offending\" href=\"#event-{index}\">#{index}</a>"
                )),
                "{id} card lacks a link to offending event {index}"
            );
            let row_at = html
                .find(&format!(" id=\"event-{index}\""))
                .unwrap_or_else(|| panic!("no timeline row for event {index}"));
            let row_start = html[..row_at].rfind("<tr ").unwrap();
            let row = &html[row_start..row_at + html[row_at..].find("</tr>").unwrap()];
            assert!(row.starts_with("<tr class=\"event offending"), "{row}");
            assert!(
                row.contains(&format!("href=\"#req-{id}\">{id}</a>")),
                "row {index} does not link back to {id}: {row}"
            );
        }
    }
    // Met requirements mark nothing offending.
    let met = card(&html, "6.5.1");
    assert!(!met.contains("offending"));
}

#[test]
fn every_fragment_link_resolves_to_an_anchor_on_the_page() {
    let html = render(&fixture());
    let (links, ids) = fragment_links_and_ids(&html);
    assert!(links.len() > 50, "expected many links, got {}", links.len());
    let dangling: Vec<&String> = links.difference(&ids).collect();
    assert!(dangling.is_empty(), "links without an anchor: {dangling:?}");
    // Anchors are unique.
    let all_ids = html.matches(" id=\"").count();
    assert_eq!(all_ids, ids.len(), "duplicate id attributes");
}

#[test]
fn an_event_outside_the_timeline_is_not_a_dangling_link() {
    let mut evidence = fixture();
    evidence["requirements"][6]["offending"] = json!([999_999]);
    let html = render(&evidence);
    assert!(!html.contains("#event-999999\""));
    assert!(html.contains("unlinked\" title=\"not in this period's timeline\">#999999</span>"));
    let (links, ids) = fragment_links_and_ids(&html);
    assert!(links.is_subset(&ids));
}

#[test]
fn the_page_loads_nothing_and_runs_nothing() {
    let html = render(&fixture_with_hostile_strings());
    for forbidden in [
        "http://", "https://", "<script", "<link", "@import", "url(http", "src=\"",
    ] {
        assert!(
            !html.to_ascii_lowercase().contains(forbidden),
            "page contains {forbidden:?}"
        );
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    // The schema URL from the JSON is still shown, with its colon as a character reference.
    assert!(html.contains("https&#58;//stamp.dev/evidence/v1"));
}

#[test]
fn a_script_in_a_reason_comes_out_escaped() {
    let html = render(&fixture_with_hostile_strings());
    let escaped = "&lt;script&gt;console.error(&#39;injected&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(html.contains(&format!("<td class=\"reason\">reason {escaped}</td>")));
    assert!(html.contains(&format!("summary {escaped}")));
    assert!(html.contains(&format!("detail {escaped}")));
    assert!(html.contains("&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
}

#[test]
fn header_and_summary_show_the_pack_facts() {
    let html = render(&fixture());
    for expected in [
        "2026-08-01 00:00 UTC → 2026-10-31 23:59 UTC",
        "<span class=\"env\">prod</span>",
        "<dd>stamp.payments.example/log</dd>",
        "<dd>1,131</dd>",
        "<dd>2026-11-01 08:30 UTC</dd>",
        "<dd>assessor-export@payments.example</dd>",
        "<dd>#1040 – #1130</dd>",
        "<a href=\"SHA256SUMS\"><code>SHA256SUMS</code></a>",
        "<a href=\"SHA256SUMS.sig\"><code>SHA256SUMS.sig</code></a>",
        "8.0 months · the log's whole life",
        "<span class=\"number\">12</span> ✓ Met",
        "<span class=\"number\">2</span> ✗ Not met",
        "<span class=\"number\">90</span> events in the period",
    ] {
        assert!(html.contains(expected), "missing {expected:?}");
    }
    // The summary bar has one segment per non-empty status, widths summing to 100 %.
    let widths: f64 = html
        .match_indices("class=\"segment status-")
        .map(|(at, _)| {
            let rest = &html[at..];
            let start = rest.find("width:").unwrap() + "width:".len();
            rest[start..start + rest[start..].find('%').unwrap()]
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!((widths - 100.0).abs() < 0.01, "segments sum to {widths}");
    assert_eq!(html.matches("class=\"segment status-").count(), 5);
}

#[test]
fn latency_rows_over_thirty_days_are_marked_in_chart_and_table() {
    let evidence = fixture();
    let html = render(&evidence);
    let rows = evidence["patchLatency"].as_array().unwrap();
    let over = rows.iter().filter(|r| r["withinLimit"] == false).count();
    assert!(over >= 1 && over < rows.len());
    assert_eq!(html.matches("<rect class=\"over-band\"").count(), over);
    assert_eq!(html.matches("✗ over limit</text>").count(), over);
    assert_eq!(html.matches("<tr class=\"over-limit\">").count(), over);
    assert!(html.contains("<line class=\"limit\""));
    assert!(html.contains(">30-day limit</text>"));
    // The fix for CVE-2026-41877 was built but never deployed: the rest of its bar is open.
    assert!(html.contains("<title>still vulnerable (stage not reached)"));
    assert!(html.contains("43.5 d ✗ over limit"));
    // Rows name the rescan event that found the advisory.
    for row in rows.iter().filter(|r| r["event"].is_u64()) {
        assert!(html.contains(&format!(
            "<span class=\"label\">found</span><a class=\"event-ref\" href=\"#event-{0}\">#{0}</a>",
            row["event"]
        )));
    }
    for row in rows {
        assert!(html.contains(row["advisory"].as_str().unwrap()));
    }
}

#[test]
fn drift_chart_has_every_week_and_marks_weeks_without_a_run() {
    let mut evidence = fixture();
    let html = render(&evidence);
    let weeks = evidence["driftRuns"].as_array().unwrap().clone();
    assert!(weeks.len() >= 4);
    for week in &weeks {
        let name = week["week"].as_str().unwrap();
        let short = name.rsplit_once('-').unwrap().1;
        assert!(
            html.contains(&format!("text-anchor=\"middle\">{short}</text>")),
            "{name}"
        );
        let runs = week["runs"].as_u64().unwrap();
        assert!(
            html.contains(&format!("<title>{name}: {runs} runs</title>")),
            "{name}"
        );
    }
    assert!(!html.contains("no-run-band\" x="));
    evidence["driftRuns"][2]["runs"] = json!(0);
    let html = render(&evidence);
    let name = weeks[2]["week"].as_str().unwrap();
    assert!(html.contains(&format!("<title>{name}: no drift run</title>")));
    assert!(html.contains("<tr class=\"no-runs\">"));
}

#[test]
fn expired_exceptions_are_marked_in_words() {
    let evidence = fixture();
    let html = render(&evidence);
    let exceptions = evidence["exceptions"].as_array().unwrap();
    let expired: Vec<&Value> = exceptions.iter().filter(|e| e["expired"] == true).collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(html.matches("<tr class=\"expired\">").count(), 1);
    let at = html.find("<tr class=\"expired\">").unwrap();
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    assert!(row.contains(expired[0]["id"].as_str().unwrap()));
    assert!(row.contains("✗ Expired"));
    assert!(row.contains("2026-09-30 23:59 UTC"));
    assert_eq!(html.matches("✓ Active").count(), exceptions.len() - 1);
}

#[test]
fn inventory_lists_every_image_and_instance() {
    let evidence = fixture();
    let html = render(&evidence);
    let images = evidence["inventory"]["images"].as_array().unwrap();
    let instances = evidence["inventory"]["instances"].as_array().unwrap();
    assert!(html.contains(&format!("<h3>Images ({})</h3>", images.len())));
    assert!(html.contains(&format!("<h3>Instances ({})</h3>", instances.len())));
    for image in images {
        assert!(html.contains(&format!("title=\"{}\"", image["digest"].as_str().unwrap())));
    }
    for instance in instances {
        assert!(html.contains(&format!(
            "<td><code>{}</code></td>",
            instance["id"].as_str().unwrap()
        )));
    }
    let running = instances.iter().filter(|i| i["stopped"].is_null()).count();
    assert!(running > 0);
    assert_eq!(
        html.matches("<span class=\"muted\">running</span>").count(),
        running
    );
}

#[test]
fn timeline_groups_events_by_day_with_an_anchor_each() {
    let evidence = fixture();
    let html = render(&evidence);
    let timeline = evidence["timeline"].as_array().unwrap();
    let days: BTreeSet<&str> = timeline
        .iter()
        .map(|e| &e["time"].as_str().unwrap()[..10])
        .collect();
    assert_eq!(html.matches("<tbody class=\"day\">").count(), days.len());
    for event in timeline {
        assert!(html.contains(&format!(" id=\"event-{}\"", event["index"])));
    }
    assert!(html.contains("<th colspan=\"8\">2026-09-18 · Friday</th>"));
    assert_eq!(
        html.matches("class=\"outcome fail\"").count(),
        timeline
            .iter()
            .filter(|e| e["outcome"] == "failure")
            .count()
    );
}

#[test]
fn timeline_is_cut_at_its_limit_and_says_so() {
    let event = |i: usize| {
        json!({"index": i, "time": "2026-10-01T00:00:00Z", "kind": "drift", "actor": "a",
               "outcome": "success", "component": "c", "summary": "s"})
    };
    let at_limit = json!({"timeline": (0..TIMELINE_EVENTS_MAX).map(event).collect::<Vec<_>>()});
    let html = render(&at_limit);
    assert_eq!(html.matches(" id=\"event-").count(), TIMELINE_EVENTS_MAX);
    assert!(!html.contains("more events are listed only in evidence.json"));
    let over = json!({"timeline": (0..TIMELINE_EVENTS_MAX + 1).map(event).collect::<Vec<_>>()});
    let html = render(&over);
    assert_eq!(html.matches(" id=\"event-").count(), TIMELINE_EVENTS_MAX);
    assert!(html.contains("1 more events are listed only in evidence.json"));
}

#[test]
fn a_cut_timeline_keeps_the_events_the_cards_cite() {
    let event = |i: usize| {
        json!({"index": i, "time": format!("2026-10-01T00:00:{:02}Z", i % 60), "kind": "drift",
               "actor": "a", "outcome": "success", "component": "c", "summary": "s"})
    };
    let last = TIMELINE_EVENTS_MAX + 10;
    let evidence = json!({
        "timeline": (0..=last).map(event).collect::<Vec<_>>(),
        "requirements": [{"id": "11.5.2", "status": "not-met", "events": [last - 1], "offending": [last]}],
    });
    let html = render(&evidence);
    assert_eq!(html.matches(" id=\"event-").count(), TIMELINE_EVENTS_MAX);
    assert!(html.contains("11 more events are listed only in evidence.json"));
    for kept in [last - 1, last] {
        assert!(
            html.contains(&format!(" id=\"event-{kept}\"")),
            "event {kept} was cut"
        );
    }
    let (links, ids) = fragment_links_and_ids(&html);
    assert!(links.is_subset(&ids));
}

#[test]
fn a_repeated_log_index_gets_one_anchor() {
    let mut evidence = fixture();
    let first = evidence["timeline"][0].clone();
    evidence["timeline"]
        .as_array_mut()
        .unwrap()
        .push(first.clone());
    let html = render(&evidence);
    assert_eq!(
        html.matches(&format!(" id=\"event-{}\"", first["index"]))
            .count(),
        1
    );
}

#[test]
fn long_strings_are_cut() {
    let mut evidence = fixture();
    evidence["requirements"][0]["detail"] = json!("x".repeat(TEXT_CHARS_MAX * 3));
    let html = render(&evidence);
    assert!(html.contains(&format!(
        "<p class=\"detail\">{}…</p>",
        "x".repeat(TEXT_CHARS_MAX)
    )));
}

#[test]
fn malformed_values_render_as_a_dash() {
    let mut evidence = fixture();
    evidence["generatedAt"] = json!("yesterday");
    evidence["log"]["treeSize"] = json!("lots");
    evidence["log"]["origin"] = json!(17);
    evidence["requirements"][0]["status"] = json!("sort-of");
    evidence["requirements"][1]["events"] = json!(["one", 1041]);
    evidence["exceptions"][0]["expires"] = json!("soon");
    evidence["exceptions"][0]["expired"] = json!("no");
    evidence["patchLatency"][0]["days"] = json!(null);
    evidence["timeline"][0]["time"] = json!(12);
    evidence["patchLatency"][1]["published"] = json!("2026-08-19");
    evidence["signature"] = json!("javascript:alert(1)");
    let html = render(&evidence);
    assert!(html.contains("<dt>Generated at</dt><dd>—</dd>"));
    assert!(html.contains("<dt>Tree size</dt><dd>—</dd>"));
    assert!(html.contains("<dt>Log origin</dt><dd>—</dd>"));
    let unknown = card(&html, evidence["requirements"][0]["id"].as_str().unwrap());
    assert!(unknown.contains("status-unknown"));
    assert!(unknown.contains("Status unknown"));
    assert!(unknown.contains("<code>sort-of</code>"));
    let mixed = card(&html, evidence["requirements"][1]["id"].as_str().unwrap());
    assert!(mixed.contains("Evidence</span> — <a"));
    assert!(html.contains("<th colspan=\"8\">Time unknown</th>"));
    assert!(
        html.contains("<td>2026-08-19 00:00 UTC</td>"),
        "a bare date is midnight UTC"
    );
    assert!(
        !html.contains("javascript:"),
        "only pack-relative paths are linked"
    );
}

/// Replace every value down to depth 4 (first two elements of arrays), one at a time, with values
/// of each wrong type: the page still renders whole.
#[test]
fn any_value_of_any_type_anywhere_renders_without_panic() {
    fn paths(value: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>, depth: usize) {
        if depth == 4 {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    prefix.push(json!(key));
                    out.push(prefix.clone());
                    paths(child, prefix, out, depth + 1);
                    prefix.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().take(2).enumerate() {
                    prefix.push(json!(i));
                    out.push(prefix.clone());
                    paths(child, prefix, out, depth + 1);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }
    fn slot<'a>(value: &'a mut Value, path: &[Value]) -> &'a mut Value {
        path.iter().fold(value, |v, key| match key {
            Value::String(k) => &mut v[k.as_str()],
            Value::Number(n) => &mut v[n.as_u64().unwrap() as usize],
            _ => unreachable!(),
        })
    }
    let evidence = fixture();
    let mut all = Vec::new();
    paths(&evidence, &mut Vec::new(), &mut all, 0);
    assert!(all.len() > 100, "{} paths", all.len());
    let wrong = [
        json!(null),
        json!(-1),
        json!(1e308),
        json!("<b>"),
        json!([1, "x"]),
        json!({"x": 1}),
        json!(true),
    ];
    let mut renders = 0;
    for path in &all {
        for value in &wrong {
            let mut mutated = evidence.clone();
            *slot(&mut mutated, path) = value.clone();
            let html = render(&mutated);
            assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
            assert!(!html.contains("<b>"), "unescaped at {path:?}");
            renders += 1;
        }
    }
    for whole in [json!(null), json!([]), json!("x"), json!({}), json!(42)] {
        let html = render(&whole);
        assert!(html.contains("No requirements in this pack."));
        assert!(html.contains("No events in this period."));
        renders += 1;
    }
    assert!(renders > 1_000);
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let evidence = fixture();
    let first = render(&evidence);
    assert_eq!(first, render(&evidence));
    // Timeline order does not depend on the order events come in.
    let mut shuffled = evidence.clone();
    shuffled["timeline"].as_array_mut().unwrap().reverse();
    assert_eq!(first, render(&shuffled));
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium.

/// Each Chromium run is killed after this long.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);
const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian's Chromium (or `STAMP_CHROMIUM`), or `None` (with a message) when it is missing
/// outside CI; in CI (`CI` set) a missing Chromium fails the test.
fn chromium() -> Option<PathBuf> {
    let path =
        std::env::var_os("STAMP_CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "`{}` is missing; CI installs Debian's `chromium` package (.ci/run)",
            path.display()
        );
    }
    eprintln!(
        "skipping: `{}` is missing (apt-get install chromium)",
        path.display()
    );
    None
}

struct ChromiumRun {
    stdout: String,
    stderr: String,
}

impl ChromiumRun {
    /// Console messages Chromium logged for the page (`console.*`, uncaught errors, CSP
    /// violations): lines `[…:INFO:CONSOLE:1] "message", source: file:///… (1)`.
    fn console_messages(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.contains(":CONSOLE"))
            .collect()
    }
}

/// Runs headless Chromium on `page` with `args`, in a new profile, killed (with its whole
/// process group) after [`CHROMIUM_TIMEOUT`].
fn run_chromium(chromium: &Path, page: &Path, args: &[String]) -> ChromiumRun {
    use std::os::unix::process::CommandExt;
    let work = tempfile::tempdir().unwrap();
    let profile = work.path().join("profile");
    let stdout_path = work.path().join("stdout");
    let stderr_path = work.path().join("stderr");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("starting chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {CHROMIUM_TIMEOUT:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = ChromiumRun {
        stdout: std::fs::read_to_string(&stdout_path).unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    };
    assert!(
        status.success(),
        "chromium exited {status}; stderr:\n{}",
        run.stderr
    );
    run
}

/// Width, height, how many distinct colours, and the share of pixels that differ from the most
/// common one, of a PNG file (the decoder also checks the signature and every chunk's CRC).
struct PngFacts {
    width: u32,
    height: u32,
    colours: usize,
    ink_share: f64,
}

fn png_facts(path: &Path) -> PngFacts {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("screenshot exists"));
    let mut reader = png::Decoder::new(file).read_info().expect("a valid PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("PNG size fits")];
    let frame = reader.next_frame(&mut buffer).expect("PNG decodes");
    let pixel = frame.color_type.samples() * usize::from(frame.bit_depth as u8).div_ceil(8);
    let data = &buffer[..frame.buffer_size()];
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for row in data.chunks_exact(frame.line_size) {
        for px in row.chunks_exact(pixel) {
            *counts.entry(px).or_default() += 1;
        }
    }
    let total = (frame.width as usize * frame.height as usize).max(1);
    let background = counts.values().copied().max().unwrap_or(0);
    PngFacts {
        width: frame.width,
        height: frame.height,
        colours: counts.len(),
        ink_share: 1.0 - background as f64 / total as f64,
    }
}

/// A page with content: more than a handful of colours and at least 5 % of pixels off the
/// background (a blank page has one colour and 0 %).
fn looks_rendered(facts: &PngFacts) -> bool {
    facts.colours > 50 && facts.ink_share > 0.05
}

#[test]
fn chromium_shows_the_report_without_console_messages() {
    let Some(chromium) = chromium() else { return };
    let evidence = fixture_with_hostile_strings();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("index.html");
    std::fs::write(&page, render(&evidence)).unwrap();

    let dom = run_chromium(&chromium, &page, &["--dump-dom".to_string()]);
    assert_eq!(
        dom.console_messages(),
        Vec::<&str>::new(),
        "console messages while loading the report"
    );
    for requirement in requirements(&evidence) {
        let id = requirement["id"].as_str().unwrap();
        let status = requirement["status"].as_str().unwrap();
        let card = card(&dom.stdout, id);
        assert!(
            card.starts_with(&format!("<article class=\"card status-{status}\"")),
            "{id} in the DOM: {card}"
        );
    }
    assert_eq!(
        dom.stdout.matches("<article class=\"card ").count(),
        requirements(&evidence).len()
    );
    // The injected markup stayed text: no script or img element in the parsed DOM.
    assert!(!dom.stdout.contains("<script"));
    assert!(!dom.stdout.contains("<img"));
    assert!(dom.stdout.contains("<svg class=\"latency-chart\""));

    let shot = dir.path().join("report.png");
    run_chromium(
        &chromium,
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".to_string(),
            "--hide-scrollbars".to_string(),
        ],
    );
    let facts = png_facts(&shot);
    assert_eq!((facts.width, facts.height), (1280, 2000));
    assert!(
        looks_rendered(&facts),
        "screenshot looks blank: {} colours, {:.3} off the background",
        facts.colours,
        facts.ink_share
    );
    if let Some(keep) = std::env::var_os("STAMP_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// The checks above can fail: a console.error, a broken inline script and a script blocked by
/// the page's policy are each reported, and a blank page's screenshot is recognised as blank.
#[test]
fn chromium_checks_catch_console_errors_and_blank_pages() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "console-error.html",
            "<!DOCTYPE html><p>x</p><script>console.error('planted console error')</script>",
            "planted console error",
        ),
        (
            "broken-script.html",
            "<!DOCTYPE html><p>x</p><script>this is not javascript(</script>",
            "SyntaxError",
        ),
        (
            "blocked-script.html",
            "<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">\
             <p>x</p><script>document.title = 'ran'</script>",
            "Content Security Policy",
        ),
    ];
    for (name, body, expected) in cases {
        let page = dir.path().join(name);
        std::fs::write(&page, body).unwrap();
        let run = run_chromium(&chromium, &page, &["--dump-dom".to_string()]);
        let messages = run.console_messages();
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{name}: expected a console message with {expected:?}, got {messages:?}"
        );
    }

    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let shot = dir.path().join("blank.png");
    run_chromium(
        &chromium,
        &blank,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".to_string(),
        ],
    );
    let facts = png_facts(&shot);
    assert_eq!((facts.width, facts.height), (1280, 2000));
    assert!(!looks_rendered(&facts), "a blank page passed as rendered");
}
