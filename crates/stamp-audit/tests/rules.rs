//! Data-driven cases for every built-in rule: `tests/cases/RULE.json` lists cases, each a
//! patch over the hardened facts of `tests/cases/_base.json` (objects merge key by key, other
//! values replace, the string `"__delete__"` removes a key) and the expected status (and,
//! optionally, the exact failure items) of the rule with the file's code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use stamp_audit::{Facts, RuleSet, Status};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                if value == "__delete__" {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

fn base() -> Value {
    serde_json::from_slice(&std::fs::read(cases_dir().join("_base.json")).unwrap()).unwrap()
}

/// Evaluate facts that may lack fields the `Facts` type has (deleted keys stay deleted).
fn evaluate(facts: &Value) -> Vec<stamp_audit::RuleResult> {
    // The case's facts must still have the schema's shape, and every key a case sets must be
    // one the facts type knows: a misspelt key would otherwise test nothing and pass.
    let typed: Facts = serde_json::from_value(facts.clone())
        .unwrap_or_else(|error| panic!("facts do not have the schema's shape: {error}"));
    assert_known_keys(facts, &serde_json::to_value(&typed).unwrap(), "facts");
    RuleSet::builtin().evaluate_value(facts).unwrap()
}

/// Every object key of `case` also stands in `typed` (the same facts read into `Facts` and
/// written back, which drops keys the type does not have).
fn assert_known_keys(case: &Value, typed: &Value, at: &str) {
    match (case, typed) {
        (Value::Object(case), Value::Object(typed)) => {
            for (key, value) in case {
                let Some(known) = typed.get(key) else {
                    panic!("`{at}.{key}` is not a field of the facts (misspelt?)");
                };
                assert_known_keys(value, known, &format!("{at}.{key}"));
            }
        }
        (Value::Array(case), Value::Array(typed)) => {
            for (index, (value, known)) in case.iter().zip(typed).enumerate() {
                assert_known_keys(value, known, &format!("{at}[{index}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn the_hardened_base_passes_every_rule() {
    let results = evaluate(&base());
    assert_eq!(results.len(), stamp_audit::BUILTIN_RULES.len() - 1);
    for result in &results {
        assert_eq!(
            result.status,
            Status::Pass,
            "{}: {:?}",
            result.code,
            result.items
        );
    }
}

#[test]
fn every_rule_case() {
    let results = evaluate(&base());
    let codes: BTreeSet<String> = results.iter().map(|result| result.code.clone()).collect();
    let mut covered: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(cases_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('_') || !name.ends_with(".json") {
            continue;
        }
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let code = document["code"].as_str().expect("a code").to_string();
        assert!(
            codes.contains(&code),
            "{name}: no built-in rule has code {code}"
        );
        let cases = document["cases"].as_array().expect("cases");
        assert!(cases.len() >= 3, "{name}: fewer than 3 cases");
        for case in cases {
            count += 1;
            let case_name = format!("{name}: {}", case["name"].as_str().unwrap());
            let mut facts = base();
            merge(&mut facts, &case["facts"]);
            let result = evaluate(&facts)
                .into_iter()
                .find(|result| result.code == code)
                .unwrap();
            let expected = case["expect"].as_str().unwrap();
            if result.status.as_str() != expected {
                failures.push(format!(
                    "{case_name}: expected {expected}, got {} {:?} {:?}",
                    result.status.as_str(),
                    result.items,
                    result.reason
                ));
                continue;
            }
            if let Some(items) = case.get("items") {
                let items: Vec<String> = serde_json::from_value(items.clone()).unwrap();
                if items != result.items {
                    failures.push(format!(
                        "{case_name}: expected items {items:?}, got {:?}",
                        result.items
                    ));
                }
            }
            covered
                .entry(code.clone())
                .or_default()
                .insert(match result.status {
                    Status::Pass => "pass",
                    Status::Fail => "fail",
                    Status::NotApplicable => "not-applicable",
                });
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for code in &codes {
        let seen = covered.get(code).cloned().unwrap_or_default();
        assert_eq!(
            seen,
            BTreeSet::from(["fail", "not-applicable", "pass"]),
            "{code}: cases must cover pass, fail and not-applicable"
        );
    }
}

#[test]
fn a_user_rule_gets_the_same_facts_and_shape() {
    let mut rules = RuleSet::builtin();
    rules.add_text(
        "policy/no-games.rego",
        r#"package stamp.rules.user.no_games
metadata := {"code": "ACME-NO-GAMES", "title": "No games user", "severity": "low",
  "pci": ["2.2.2"], "remediation": "userdel games"}
failures contains user.name if {
  some user in input.accounts.users
  user.name == "games"
}
"#
        .into(),
    );
    let mut facts = base();
    merge(
        &mut facts,
        &serde_json::json!({"accounts": {"users": [{"name": "games", "uid": 5, "gid": 60,
            "home": "/usr/games", "shell": "/usr/sbin/nologin", "login_shell": false,
            "password": "locked", "hash_scheme": null}]}}),
    );
    let results = rules.evaluate_value(&facts).unwrap();
    let user = results.iter().find(|r| r.code == "ACME-NO-GAMES").unwrap();
    assert_eq!(user.status, Status::Fail);
    assert_eq!(user.items, ["games"]);
    assert_eq!(user.source, "policy/no-games.rego");
    assert!(rules.user_digest().is_some());
    assert!(RuleSet::builtin().user_digest().is_none());
}

#[test]
fn a_rego_syntax_error_names_the_file_and_line() {
    let mut rules = RuleSet::builtin();
    rules.add_text(
        "policy/broken.rego",
        "package stamp.rules.user.broken\n\nmetadata := {\"code\": \"X\"\nfailures contains x if {\n".into(),
    );
    let error = rules.evaluate(&Facts::default()).unwrap_err().to_string();
    assert!(error.contains("policy/broken.rego:"), "{error}");
    assert!(error.contains("does not compile"), "{error}");
}

#[test]
fn a_rule_without_metadata_or_with_a_bad_severity_is_refused() {
    for (text, expected) in [
        ("package stamp.rules.user.bare\nfailures contains \"x\" if true\n", "metadata"),
        (
            "package stamp.rules.user.sev\nmetadata := {\"code\": \"A\", \"title\": \"t\", \"severity\": \"urgent\", \"pci\": [\"2.2.2\"], \"remediation\": \"r\"}\n",
            "severity `urgent`",
        ),
        (
            "package stamp.rules.user.dup\nmetadata := {\"code\": \"PCI-2.2.2-EMPTY-PASSWORD\", \"title\": \"t\", \"severity\": \"low\", \"pci\": [\"2.2.2\"], \"remediation\": \"r\"}\n",
            "also used by",
        ),
    ] {
        let mut rules = RuleSet::builtin();
        rules.add_text("policy/x.rego", text.into());
        let error = rules.evaluate(&Facts::default()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
        assert!(error.contains("policy/x.rego"), "{error}");
    }
}

#[test]
fn the_rule_set_digest_covers_every_builtin_file() {
    let digest = RuleSet::builtin_digest();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let listed: BTreeSet<String> = stamp_audit::BUILTIN_RULES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(listed, on_disk, "every rules/*.rego file is embedded");
}
