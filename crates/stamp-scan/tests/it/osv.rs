//! Import of the real OSV records in `../shared/data/osv` and matching against them:
//! crates.io against cargo-audit's own results for the same RustSec snapshot, and
//! hand-checked PyPI and Debian cases.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use stamp_scan::inventory::{self, Files};
use stamp_scan::osv::matching::{match_package, Match, PackageQuery};
use stamp_scan::osv::{import, ImportOptions, VulnDb};

use crate::support::{osv_data, shared};

/// The whole shared data set imported once per test process.
fn database() -> &'static PathBuf {
    static DATABASE: OnceLock<PathBuf> = OnceLock::new();
    DATABASE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Databases of test processes that have ended (nextest runs one process per test).
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name
                .strip_prefix("osv-all-")
                .and_then(|rest| rest.strip_suffix(".db"))
            {
                if !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let path = dir.join(format!("osv-all-{}.db", std::process::id()));
        let report = import(&[osv_data()], &path, &ImportOptions::default()).unwrap();
        // 12,875 files; DSA-3029-1 is both converted and an osv.dev sample (one id).
        assert_eq!(report.meta.records, 12_874, "{:?}", report.skipped);
        assert_eq!(report.duplicates, 1);
        // PROVENANCE.json and osv-schema.json are not records.
        assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
        path
    })
}

fn open() -> VulnDb {
    VulnDb::open(database()).unwrap()
}

fn query(db: &VulnDb, ecosystem: &str, name: &str, version: &str) -> Vec<Match> {
    match_package(
        db,
        &PackageQuery {
            ecosystem: ecosystem.into(),
            name: name.into(),
            version: version.into(),
        },
    )
    .unwrap()
}

fn ids(matches: &[Match]) -> BTreeSet<String> {
    matches.iter().map(|found| found.id.clone()).collect()
}

#[test]
fn import_counts_withdrawn_and_digest() {
    let db = open();
    assert_eq!(db.meta.records, 12_874);
    assert_eq!(db.meta.withdrawn, 14);
    assert!(db.meta.digest.starts_with("sha256:"));
    // The digest depends on the set of records, not on how they were found: importing the
    // folders one by one gives the same digest.
    let dir = tempfile::tempdir().unwrap();
    let folders: Vec<PathBuf> = [
        "npm",
        "PyPI",
        "Alpine",
        "crates.io",
        "_osv.dev-samples",
        "Debian",
    ]
    .iter()
    .map(|name| osv_data().join(name))
    .collect();
    let again = import(
        &folders,
        &dir.path().join("v.db"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(again.meta.digest, db.meta.digest);
    assert_eq!(again.meta.snapshot_time, db.meta.snapshot_time);
}

struct AuditResult {
    vulnerabilities: BTreeSet<String>,
    warnings: BTreeSet<(String, String)>,
}

fn cargo_audit(fixture: &str) -> AuditResult {
    let path = shared()
        .join("oracles/cargo-audit")
        .join(fixture)
        .join("cargo-audit.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let vulnerabilities = json["vulnerabilities"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| found["advisory"]["id"].as_str().unwrap().to_string())
        .collect();
    let mut warnings = BTreeSet::new();
    for (kind, list) in json["warnings"].as_object().unwrap() {
        for warning in list.as_array().unwrap() {
            // Yanked-crate checks need the network; stamp does not make them.
            if let Some(id) = warning["advisory"]["id"].as_str() {
                warnings.insert((kind.clone(), id.to_string()));
            }
        }
    }
    AuditResult {
        vulnerabilities,
        warnings,
    }
}

fn stamp_audit(db: &VulnDb, fixture: &str) -> AuditResult {
    let lock = shared()
        .join("oracles/cargo-audit")
        .join(fixture)
        .join("Cargo.lock");
    let mut files = Files::default();
    files.insert("app/Cargo.lock", std::fs::read(lock).unwrap());
    let inventory = inventory::inventory(&files);
    let mut result = AuditResult {
        vulnerabilities: BTreeSet::new(),
        warnings: BTreeSet::new(),
    };
    for component in &inventory.components {
        let Some(query) = component.query(None) else {
            continue;
        };
        for found in match_package(db, &query).unwrap() {
            match found.informational {
                Some(kind) => result.warnings.insert((kind, found.id)),
                None => result.vulnerabilities.insert(found.id),
            };
        }
    }
    result
}

#[test]
fn crates_io_matches_equal_cargo_audit() {
    let db = open();
    for (fixture, vulnerabilities) in [("web-service", 18), ("cli-tool", 7), ("up-to-date", 0)] {
        let expected = cargo_audit(fixture);
        let actual = stamp_audit(&db, fixture);
        assert_eq!(expected.vulnerabilities.len(), vulnerabilities);
        assert_eq!(
            actual.vulnerabilities, expected.vulnerabilities,
            "{fixture}: vulnerabilities"
        );
        assert_eq!(actual.warnings, expected.warnings, "{fixture}: warnings");
    }
}

#[test]
fn pypi_hand_checked() {
    let db = open();
    // jinja2 records: fixed 2.7.2, 2.7.3, 2.8.1, 2.10.1, 2.11.3. Name matched after PEP 503
    // normalization.
    let expected: BTreeSet<String> = ["PYSEC-2019-217", "PYSEC-2021-66"].map(String::from).into();
    assert_eq!(ids(&query(&db, "PyPI", "Jinja2", "2.10")), expected);
    let found = query(&db, "PyPI", "jinja2", "2.10.1");
    assert_eq!(ids(&found), ["PYSEC-2021-66".to_string()].into());
    assert_eq!(found[0].fixed.as_deref(), Some("2.11.3"));
    // Aliases of the record come along.
    assert!(found[0].aliases.contains(&"CVE-2020-28493".to_string()));
    assert!(query(&db, "PyPI", "jinja2", "2.11.3").is_empty());
    // aiohttp 3.8.1 is in the `versions` list of the withdrawn PYSEC-2022-43059 (every
    // version, `introduced: 0` and no fix): withdrawn, so not reported.
    assert!(db.is_withdrawn("PYSEC-2022-43059").unwrap());
    let expected: BTreeSet<String> = [
        "PYSEC-2023-120",
        "PYSEC-2023-246",
        "PYSEC-2023-250",
        "PYSEC-2023-251",
        "PYSEC-2024-24",
        "PYSEC-2024-26",
    ]
    .map(String::from)
    .into();
    assert_eq!(ids(&query(&db, "PyPI", "aiohttp", "3.8.1")), expected);
    // PYSEC-2024-24 starts at 1.0.5.
    assert!(!ids(&query(&db, "PyPI", "aiohttp", "1.0.4")).contains("PYSEC-2024-24"));
    assert!(ids(&query(&db, "PyPI", "aiohttp", "1.0.5")).contains("PYSEC-2024-24"));
}

#[test]
fn pypi_last_affected_fixture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/osv-last-affected");
    import(&[fixture], &path, &ImportOptions::default()).unwrap();
    let db = VulnDb::open(&path).unwrap();
    let found = query(&db, "PyPI", "PyCrypto", "2.6.1");
    assert_eq!(ids(&found), ["STAMP-TEST-2018-6594".to_string()].into());
    assert_eq!(found[0].fixed, None);
    assert!(!found[0].fix_exists);
    assert_eq!(found[0].rating.score, Some(7.5));
    assert_eq!(ids(&query(&db, "PyPI", "pycrypto", "2.6")).len(), 1);
    assert!(query(&db, "PyPI", "pycrypto", "2.6.1.post1").is_empty());
    assert!(query(&db, "PyPI", "pycrypto", "2.7a1").is_empty());
}

#[test]
fn debian_hand_checked() {
    let db = open();
    // DSA-4616-1 qemu: Debian:9 fixed in 1:2.8+dfsg-6+deb9u9, Debian:10 in 1:3.1+dfsg-8+deb10u4.
    let has = |release: &str, version: &str, id: &str| {
        ids(&query(&db, release, "qemu", version)).contains(id)
    };
    assert!(has("Debian:10", "1:3.1+dfsg-8+deb10u3", "DSA-4616-1"));
    assert!(!has("Debian:10", "1:3.1+dfsg-8+deb10u4", "DSA-4616-1"));
    // Without an epoch the version is older than any epoch-1 version.
    assert!(has("Debian:10", "9.9-1", "DSA-4616-1"));
    // The Debian:9 fix does not apply to Debian:10, and the reverse.
    assert!(has("Debian:10", "1:2.8+dfsg-6+deb9u9", "DSA-4616-1"));
    assert!(!has("Debian:9", "1:2.8+dfsg-6+deb9u9", "DSA-4616-1"));
    // No Debian:12 entry: nothing for bookworm.
    assert!(!has("Debian:12", "1:2.8+dfsg-6+deb9u8", "DSA-4616-1"));
    let found = query(&db, "Debian:10", "qemu", "1:3.1+dfsg-8+deb10u3");
    let dsa = found.iter().find(|found| found.id == "DSA-4616-1").unwrap();
    assert_eq!(dsa.fixed.as_deref(), Some("1:3.1+dfsg-8+deb10u4"));
    assert!(dsa.aliases.contains(&"CVE-2020-7039".to_string()));

    // DSA-5044-1 firefox-esr: Debian:11 fixed in 91.5.0esr-1~deb11u1 (a tilde version).
    let firefox = |version: &str| ids(&query(&db, "Debian:11", "firefox-esr", version));
    assert!(firefox("91.4.0esr-1~deb11u1").contains("DSA-5044-1"));
    assert!(firefox("91.5.0esr-1~deb11u0").contains("DSA-5044-1"));
    assert!(!firefox("91.5.0esr-1~deb11u1").contains("DSA-5044-1"));
    // `91.5.0esr-1` sorts after `91.5.0esr-1~deb11u1`.
    assert!(!firefox("91.5.0esr-1").contains("DSA-5044-1"));
}

/// Write `files` (name, bytes) into a deflated zip at `path`.
fn write_zip(path: &std::path::Path, files: &[(String, Vec<u8>)]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn npm_records() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(osv_data().join("npm"))
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn zip_import_equals_directory_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = npm_records();
    files.push(("README.txt".into(), b"not a record".to_vec()));
    let archive = dir.path().join("all.zip");
    write_zip(&archive, &files);
    let from_zip = import(
        &[archive],
        &dir.path().join("a.db"),
        &ImportOptions::default(),
    )
    .unwrap();
    let from_dir = import(
        &[osv_data().join("npm")],
        &dir.path().join("b.db"),
        &ImportOptions::default(),
    )
    .unwrap();
    assert_eq!(from_zip.meta.records, 5);
    assert_eq!(from_zip.meta.digest, from_dir.meta.digest);
}

#[test]
fn import_limits_at_their_boundaries() {
    use stamp_scan::osv::import::{ImportError, ImportLimits};
    let dir = tempfile::tempdir().unwrap();
    let records = npm_records();
    let archive = dir.path().join("all.zip");
    write_zip(&archive, &records);
    let sources = [archive];
    let largest = records.iter().map(|(_, bytes)| bytes.len()).max().unwrap();
    let total: usize = records.iter().map(|(_, bytes)| bytes.len()).sum();
    let with = |limits: ImportLimits| ImportOptions {
        limits,
        ..ImportOptions::default()
    };
    let exact = ImportLimits {
        record_bytes_max: largest,
        records_max: 5,
        affected_per_record_max: 4,
        zip_entries_max: 5,
        zip_uncompressed_bytes_max: total as u64,
    };
    let db = dir.path().join("v.db");
    let report = import(&sources, &db, &with(exact)).unwrap();
    assert_eq!(report.meta.records, 5);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // One byte, record, entry or affected entry less.
    let report = import(
        &sources,
        &db,
        &with(ImportLimits {
            record_bytes_max: largest - 1,
            ..exact
        }),
    )
    .unwrap();
    assert_eq!(report.skipped.len(), 1);
    let report = import(
        &sources,
        &db,
        &with(ImportLimits {
            affected_per_record_max: 3,
            ..exact
        }),
    )
    .unwrap();
    assert_eq!(report.skipped.len(), 2, "{:?}", report.skipped);
    assert!(matches!(
        import(
            &sources,
            &db,
            &with(ImportLimits {
                records_max: 4,
                ..exact
            })
        ),
        Err(ImportError::TooManyRecords { limit: 4 })
    ));
    assert!(matches!(
        import(
            &sources,
            &db,
            &with(ImportLimits {
                zip_entries_max: 4,
                ..exact
            })
        ),
        Err(ImportError::ZipTooManyEntries { entries: 5, .. })
    ));
    assert!(matches!(
        import(
            &sources,
            &db,
            &with(ImportLimits {
                zip_uncompressed_bytes_max: total as u64 - 1,
                ..exact
            })
        ),
        Err(ImportError::ZipTooLarge { .. })
    ));
    // A failed import leaves the previous database (the 3-record import above) in place.
    assert_eq!(VulnDb::open(&db).unwrap().meta.records, 3);
}

/// stamp's CVSS v3 formulas against RustSec's `cvss` crate, on every v3 vector in the data;
/// every v4 vector scores.
#[test]
fn cvss_scores_of_every_vector_in_the_data() {
    fn walk(dir: &std::path::Path, vectors: &mut BTreeSet<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, vectors);
            } else if let Ok(record) =
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap())
            {
                for severity in record["severity"].as_array().into_iter().flatten() {
                    vectors.insert((
                        severity["type"].as_str().unwrap().to_string(),
                        severity["score"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
    }
    let mut vectors = BTreeSet::new();
    walk(&osv_data(), &mut vectors);
    let (mut v3, mut v4) = (0, 0);
    for (kind, vector) in &vectors {
        match kind.as_str() {
            "CVSS_V3" => {
                let ours = stamp_scan::cvss::v3_base_score(vector).unwrap();
                let theirs: cvss::v3::Vector = vector.parse().unwrap();
                assert_eq!(ours, theirs.score().value(), "{vector}");
                v3 += 1;
            }
            "CVSS_V4" => {
                let score = stamp_scan::cvss::v4_base_score(vector).unwrap();
                assert!((0.0..=10.0).contains(&score), "{vector}");
                v4 += 1;
            }
            _ => {}
        }
    }
    eprintln!("{v3} distinct CVSS v3 vectors agree, {v4} CVSS v4 vectors scored");
    assert!(v3 > 80 && v4 > 30, "{v3} {v4}");
}
