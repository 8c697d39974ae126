//! Print the facts and the audit results of a root filesystem directory:
//! `cargo run -p stamp-audit --example audit_dir -- DIR [--facts]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: audit_dir DIR [--facts]");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    let facts = stamp_audit::collect(std::path::Path::new(&dir), Default::default());
    let collected = started.elapsed();
    if args.next().as_deref() == Some("--facts") {
        println!("{}", serde_json::to_string_pretty(&facts).unwrap());
    }
    let results = stamp_audit::RuleSet::builtin()
        .evaluate(&facts)
        .unwrap_or_else(|error| {
            eprintln!("error: {error}");
            std::process::exit(1);
        });
    for result in &results {
        println!(
            "{:<15} {:<9} {:<34} {}",
            result.status.as_str(),
            result.severity.as_str(),
            result.code,
            result
                .reason
                .clone()
                .unwrap_or_else(|| result.items.join("; "))
        );
    }
    eprintln!("facts {:?}, total {:?}", collected, started.elapsed());
}
