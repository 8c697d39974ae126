//! apk: `lib/apk/db/installed` — one paragraph per package, one `K:value` line per field
//! (`P` name, `V` version, `A` architecture, `o` origin, `L` licence).

use super::purl::purl;
use super::{Component, Distro, Files, PackageType, Problem};

pub fn collect(
    files: &Files,
    distro: Option<&Distro>,
    found: &mut Vec<Component>,
    problems: &mut Vec<Problem>,
) {
    let qualifier = distro.map(Distro::purl_qualifier).unwrap_or_default();
    for path in ["lib/apk/db/installed", "usr/lib/apk/db/installed"] {
        let Some(bytes) = files.get(path) else {
            continue;
        };
        let text = String::from_utf8_lossy(bytes);
        for paragraph in text.split("\n\n") {
            let mut fields = std::collections::HashMap::new();
            for line in paragraph.lines() {
                if let Some((key, value)) = line.split_once(':') {
                    if key.len() == 1 {
                        fields.entry(key).or_insert(value.trim());
                    }
                }
            }
            if fields.is_empty() {
                continue;
            }
            let (Some(name), Some(version)) = (fields.get("P"), fields.get("V")) else {
                problems.push(Problem {
                    path: format!("/{path}"),
                    message: "an entry without `P:` or `V:`".into(),
                });
                continue;
            };
            let architecture = fields.get("A").map(|arch| arch.to_string());
            let origin = fields.get("o").map(|origin| origin.to_string());
            found.push(Component {
                package_type: PackageType::Apk,
                name: name.to_string(),
                version: version.to_string(),
                purl: purl(
                    "apk",
                    Some("alpine"),
                    name,
                    version,
                    &[
                        ("arch", architecture.as_deref().unwrap_or("")),
                        ("distro", &qualifier),
                    ],
                ),
                architecture,
                source_name: Some(origin.unwrap_or_else(|| name.to_string())),
                source_version: Some(version.to_string()),
                license: fields.get("L").map(|license| license.to_string()),
                registry: true,
                locations: vec![format!("/{path}")],
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_database() {
        let mut files = Files::default();
        files.insert(
            "lib/apk/db/installed",
            b"C:Q1abc=\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\nL:Apache-2.0\no:openssl\nF:lib\nR:libcrypto.so.3\n\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n".to_vec(),
        );
        let distro = Distro {
            id: "alpine".into(),
            version_id: "3.18.4".into(),
            pretty_name: String::new(),
        };
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, Some(&distro), &mut found, &mut problems);
        assert!(problems.is_empty());
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].purl,
            "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=alpine-3.18.4"
        );
        let query = found[0].query(Some(&distro)).unwrap();
        assert_eq!(query.ecosystem, "Alpine:v3.18");
        assert_eq!(query.name, "openssl");
    }
}
