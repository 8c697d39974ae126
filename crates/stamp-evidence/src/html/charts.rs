//! The tables' row notes and the two inline SVG charts: patch latency (6.3.3) and drift runs
//! per week (11.5.2).

use super::*;

pub(super) fn table_rows_note(out: &mut String, rows: usize) {
    if rows > TABLE_ROWS_MAX {
        let _ = writeln!(
            out,
            "<p class=\"note\">{} more rows are listed only in evidence.json.</p>",
            thousands((rows - TABLE_ROWS_MAX) as u64)
        );
    }
}

pub(super) fn severity_html(raw: Option<&str>) -> String {
    match raw {
        Some(s) if !s.is_empty() => {
            let class = match s.to_ascii_lowercase().as_str() {
                "critical" => "critical",
                "high" => "high",
                "medium" | "moderate" => "medium",
                "low" => "low",
                _ => "other",
            };
            format!("<span class=\"severity {class}\">{}</span>", escape(s))
        }
        _ => DASH.to_string(),
    }
}

/// `Some(true)` when the row is over the 30-day limit: `withinLimit` if given, else `days`.
pub(super) fn latency_over_limit(row: &Value) -> Option<bool> {
    bool_at(row, "withinLimit")
        .map(|within| !within)
        .or_else(|| f64_at(row, "days").map(|d| d > PATCH_LIMIT_DAYS))
}

/// Cut a label for SVG text (SVG does not wrap).
pub(super) fn svg_label(raw: Option<&str>, chars_max: usize) -> String {
    match raw {
        Some(s) if !s.is_empty() => {
            if s.chars().count() > chars_max {
                let cut: String = s.chars().take(chars_max - 1).collect();
                format!("{}…", escape(&cut))
            } else {
                escape(s)
            }
        }
        _ => DASH.to_string(),
    }
}

/// Horizontal bars per advisory: published → fixed image built → deployed → last vulnerable
/// instance stopped, on a day axis with the 30-day limit drawn.
pub(super) fn latency_chart(out: &mut String, rows: &[Value]) {
    const WIDTH: f64 = 960.0;
    const LABEL: f64 = 250.0;
    const RIGHT: f64 = 110.0;
    const ROW: f64 = 30.0;
    const TOP: f64 = 34.0;
    let days_max = rows
        .iter()
        .filter_map(|r| f64_at(r, "days"))
        .fold(PATCH_LIMIT_DAYS, f64::max)
        .min(3_650.0);
    let step = if days_max <= 70.0 {
        10.0
    } else if days_max <= 200.0 {
        30.0
    } else {
        90.0
    };
    let axis_max = ((days_max * 1.05) / step).ceil() * step;
    let plot = WIDTH - LABEL - RIGHT;
    let x = |days: f64| LABEL + days.clamp(0.0, axis_max) / axis_max * plot;
    let height = TOP + ROW * rows.len() as f64 + 44.0;
    let _ = writeln!(
        out,
        "<figure class=\"chart\"><svg class=\"latency-chart\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" role=\"img\" \
         aria-labelledby=\"latency-title\"><title id=\"latency-title\">Patch latency per advisory in days, \
         with the 30-day limit</title>"
    );
    out.push_str(
        "<defs><pattern id=\"open-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fde2e1\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#cf222e\" stroke-width=\"2.5\"/></pattern></defs>\n",
    );
    // Axis with ticks.
    let axis_y = TOP + ROW * rows.len() as f64 + 6.0;
    let mut tick = 0.0;
    while tick <= axis_max + 0.001 {
        let tx = x(tick);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{tx:.1}\" y1=\"{:.1}\" x2=\"{tx:.1}\" y2=\"{axis_y:.1}\"/>\
             <text class=\"tick\" x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{tick}</text>",
            TOP - 6.0,
            axis_y + 16.0
        );
        tick += step;
    }
    let _ = writeln!(
        out,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">days since the advisory was published</text>",
        LABEL + plot / 2.0,
        axis_y + 34.0
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let over = latency_over_limit(row) == Some(true);
        if over {
            let _ = writeln!(
                out,
                "<rect class=\"over-band\" x=\"0\" y=\"{:.1}\" width=\"{WIDTH}\" height=\"{ROW}\"/>",
                y
            );
        }
        let _ = writeln!(
            out,
            "<text class=\"row-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}<tspan class=\"sev\"> {}</tspan></text>",
            LABEL - 10.0,
            y + ROW / 2.0 + 4.0,
            svg_label(str_at(row, "advisory"), 24),
            svg_label(str_at(row, "severity"), 10),
        );
        let days = f64_at(row, "days");
        let published = parse_time(row.get("published"));
        let stage = |key: &str| -> Option<f64> {
            Some(days_between(published?, parse_time(row.get(key))?).max(0.0))
        };
        // Segments: [start, end, class, title]; a missing end stage leaves the rest open.
        let mut segments: Vec<(f64, f64, &str, &str)> = Vec::new();
        let mut start = 0.0;
        for (key, class, title) in [
            ("fixedImageBuilt", "seg-fix", "advisory → fixed image built"),
            ("deployed", "seg-deploy", "fixed image built → deployed"),
            (
                "lastVulnerableStopped",
                "seg-stop",
                "deployed → last vulnerable instance stopped",
            ),
        ] {
            match stage(key) {
                Some(end) if end >= start => {
                    segments.push((start, end, class, title));
                    start = end;
                }
                _ => {
                    let end = days.unwrap_or(start).max(start);
                    segments.push((
                        start,
                        end,
                        "seg-open",
                        "still vulnerable (stage not reached)",
                    ));
                    break;
                }
            }
        }
        let bar_y = y + 7.0;
        for (from, to, class, title) in &segments {
            let width = (x(*to) - x(*from)).max(if to > from { 1.5 } else { 0.0 });
            if width <= 0.0 {
                continue;
            }
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{bar_y:.1}\" width=\"{width:.1}\" height=\"16\" rx=\"2\">\
                 <title>{title}: {:.1} days</title></rect>",
                x(*from),
                to - from
            );
        }
        let end_x = x(days.unwrap_or(start).max(start));
        let _ = writeln!(
            out,
            "<text class=\"days-label{}\" x=\"{:.1}\" y=\"{:.1}\">{}{}</text>",
            if over { " over" } else { "" },
            end_x + 6.0,
            y + ROW / 2.0 + 4.0,
            days.map_or_else(|| DASH.to_string(), |d| format!("{d:.1} d")),
            if over { " ✗ over limit" } else { "" },
        );
    }
    let limit_x = x(PATCH_LIMIT_DAYS);
    let _ = writeln!(
        out,
        "<line class=\"limit\" x1=\"{limit_x:.1}\" y1=\"{:.1}\" x2=\"{limit_x:.1}\" y2=\"{axis_y:.1}\"/>\
         <text class=\"limit-label\" x=\"{limit_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">30-day limit</text>",
        TOP - 14.0,
        TOP - 18.0
    );
    out.push_str(
        "</svg>\n<figcaption class=\"legend\">\
        <span><i class=\"key seg-fix\"></i> advisory → fixed image built</span>\
        <span><i class=\"key seg-deploy\"></i> built → deployed</span>\
        <span><i class=\"key seg-stop\"></i> deployed → last vulnerable instance stopped</span>\
        <span><i class=\"key seg-open\"></i> still vulnerable</span>\
        <span><i class=\"key limit\"></i> 30-day limit</span></figcaption></figure>\n",
    );
}

/// Grouped vertical bars per ISO week: runs, drifted, healed; weeks without a run are marked.
pub(super) fn drift_chart(out: &mut String, weeks: &[Value]) {
    const WIDTH: f64 = 960.0;
    const HEIGHT: f64 = 260.0;
    const LEFT: f64 = 44.0;
    const RIGHT: f64 = 12.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 48.0;
    let value_max = weeks
        .iter()
        .flat_map(|w| ["runs", "drifted", "healed"].map(|k| u64_at(w, k).unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .clamp(1, DRIFT_COUNT_MAX);
    let step = nice_step(value_max);
    let axis_max = value_max.div_ceil(step) * step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: u64| TOP + plot_h - (v.min(axis_max) as f64 / axis_max as f64) * plot_h;
    let _ = writeln!(
        out,
        "<figure class=\"chart\"><svg class=\"drift-chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" role=\"img\" aria-labelledby=\"drift-title\">\
         <title id=\"drift-title\">Drift runs per week: runs, drifted, healed</title>"
    );
    let mut tick = 0;
    while tick <= axis_max {
        let ty = y(tick);
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{ty:.1}\" x2=\"{:.1}\" y2=\"{ty:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0
        );
        tick += step;
    }
    let group = plot_w / weeks.len() as f64;
    let bar = (group * 0.8 / 3.0).min(22.0);
    let label_every = (weeks.len() / 26).max(1);
    for (i, week) in weeks.iter().enumerate() {
        let gx = LEFT + group * i as f64 + (group - bar * 3.0) / 2.0;
        let name = str_at(week, "week");
        let runs = u64_at(week, "runs");
        if runs == Some(0) {
            let _ = writeln!(
                out,
                "<rect class=\"no-run-band\" x=\"{:.1}\" y=\"{TOP}\" width=\"{group:.1}\" height=\"{plot_h:.1}\">\
                 <title>{}: no drift run</title></rect>\
                 <text class=\"no-run-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">✗ none</text>",
                LEFT + group * i as f64,
                text_or_dash(name),
                LEFT + group * (i as f64 + 0.5),
                TOP + plot_h - 6.0,
            );
        }
        for (k, (key, class)) in [
            ("runs", "bar-runs"),
            ("drifted", "bar-drifted"),
            ("healed", "bar-healed"),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(v) = u64_at(week, key) else { continue };
            if v == 0 {
                continue;
            }
            let bx = gx + bar * k as f64;
            let by = y(v);
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" x=\"{bx:.1}\" y=\"{by:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                 <title>{}: {v} {key}</title></rect>",
                (bar - 1.0).max(1.0),
                TOP + plot_h - by,
                text_or_dash(name),
            );
            if bar >= 9.0 {
                let _ = writeln!(
                    out,
                    "<text class=\"bar-value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v}</text>",
                    bx + bar / 2.0,
                    by - 3.0
                );
            }
        }
        if i % label_every == 0 {
            let label = name.map(|n| n.rsplit_once('-').map_or(n, |(_, w)| w));
            let _ = writeln!(
                out,
                "<text class=\"tick week\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                LEFT + group * (i as f64 + 0.5),
                TOP + plot_h + 16.0,
                svg_label(label, 10)
            );
        }
    }
    let first = weeks.first().and_then(|w| str_at(w, "week"));
    let last = weeks.last().and_then(|w| str_at(w, "week"));
    let _ = writeln!(
        out,
        "<text class=\"axis-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">ISO week ({} to {})</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 8.0,
        svg_label(first, 12),
        svg_label(last, 12)
    );
    out.push_str(
        "</svg>\n<figcaption class=\"legend\">\
        <span><i class=\"key bar-runs\"></i> runs</span>\
        <span><i class=\"key bar-drifted\"></i> drifted</span>\
        <span><i class=\"key bar-healed\"></i> healed (replaced)</span>\
        <span><i class=\"key no-run-band\"></i> week without a run</span></figcaption></figure>\n",
    );
}

/// A tick step of 1, 2 or 5 × 10ⁿ giving at most about 6 ticks up to `max`.
pub(super) fn nice_step(max: u64) -> u64 {
    let mut magnitude = 1u64;
    loop {
        for factor in [1u64, 2, 5] {
            let step = factor.saturating_mul(magnitude);
            if max.div_ceil(step) <= 6 {
                return step;
            }
        }
        magnitude = magnitude.saturating_mul(10);
        if magnitude == u64::MAX {
            return max.max(1);
        }
    }
}
