use super::*;

#[test]
fn escape_covers_markup_quotes_and_controls() {
    assert_eq!(
        escape("<a href=\"x\" onclick='y'>&\u{0}</a>"),
        "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\u{FFFD}&lt;/a&gt;"
    );
    assert_eq!(
        escape("see https://x.example/a"),
        "see https&#58;//x.example/a"
    );
    assert_eq!(escape("10:30 a:b"), "10:30 a:b");
}

#[test]
fn escape_cuts_at_the_text_limit() {
    let exact = "a".repeat(TEXT_CHARS_MAX);
    assert_eq!(escape(&exact), exact);
    let over = "a".repeat(TEXT_CHARS_MAX + 1);
    assert_eq!(escape(&over), format!("{exact}…"));
}

#[test]
fn thousands_groups_digits() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1_000), "1,000");
    assert_eq!(thousands(12_345_678), "12,345,678");
}

#[test]
fn pack_links_refuse_schemes_and_escapes() {
    assert_eq!(
        pack_relative_link("SHA256SUMS").as_deref(),
        Some("SHA256SUMS")
    );
    assert_eq!(
        pack_relative_link("log/checkpoint.txt").as_deref(),
        Some("log/checkpoint.txt")
    );
    for bad in [
        "javascript:alert(1)",
        "/etc/passwd",
        "../x",
        "a//b",
        "",
        "https://x",
    ] {
        assert_eq!(pack_relative_link(bad), None, "{bad}");
    }
}

#[test]
fn nice_step_keeps_ticks_few() {
    assert_eq!(nice_step(1), 1);
    assert_eq!(nice_step(6), 1);
    assert_eq!(nice_step(7), 2);
    assert_eq!(nice_step(25), 5);
    assert_eq!(nice_step(140), 50);
    assert_eq!(nice_step(u64::MAX).max(1), nice_step(u64::MAX));
}

#[test]
fn anchors_keep_only_safe_characters() {
    assert_eq!(anchor("req-", "6.5.1"), "req-6.5.1");
    assert_eq!(anchor("req-", "x\" onload=\"y"), "req-x__onload__y");
}
