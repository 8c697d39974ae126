//! dpkg: `var/lib/dpkg/status` (packages whose status is not `not-installed` or
//! `config-files`, as `dpkg-query -W` shows installed ones) and the per-package files of
//! `var/lib/dpkg/status.d/` that distroless images carry instead (no `Status` field there).

use super::control::{field, paragraphs};
use super::purl::purl;
use super::{Component, Distro, Files, PackageType, Problem};

/// `Source: name (version)` → (name, version).
fn parse_source(source: &str) -> (String, Option<String>) {
    match source.split_once('(') {
        Some((name, version)) => (
            name.trim().to_string(),
            Some(version.trim_end_matches(')').trim().to_string()),
        ),
        None => (source.trim().to_string(), None),
    }
}

pub fn collect(
    files: &Files,
    distro: Option<&Distro>,
    found: &mut Vec<Component>,
    problems: &mut Vec<Problem>,
) {
    let namespace = distro
        .map(|distro| distro.id.as_str())
        .filter(|id| !id.is_empty())
        .unwrap_or("debian");
    let qualifier = distro.map(Distro::purl_qualifier).unwrap_or_default();
    let paths: Vec<&str> = files
        .paths()
        .filter(|path| *path == "var/lib/dpkg/status" || path.starts_with("var/lib/dpkg/status.d/"))
        .collect();
    for path in paths {
        let text = String::from_utf8_lossy(files.get(path).unwrap_or_default());
        let status_file = path == "var/lib/dpkg/status";
        for paragraph in paragraphs(&text) {
            let (Some(name), Some(version)) =
                (field(&paragraph, "Package"), field(&paragraph, "Version"))
            else {
                if field(&paragraph, "Package").is_some() && status_file {
                    // A package known to dpkg but without a version is not installed.
                    continue;
                }
                problems.push(Problem {
                    path: format!("/{path}"),
                    message: "a paragraph without `Package` or `Version`".into(),
                });
                continue;
            };
            if status_file {
                let status = field(&paragraph, "Status").unwrap_or("");
                let state = status.split_whitespace().nth(2).unwrap_or("");
                if matches!(state, "not-installed" | "config-files" | "") {
                    continue;
                }
            }
            let architecture = field(&paragraph, "Architecture").map(str::to_string);
            let (source_name, source_version) = match field(&paragraph, "Source") {
                Some(source) => {
                    let (name, version) = parse_source(source);
                    (Some(name), version.or_else(|| Some(version_of(&paragraph))))
                }
                None => (None, None),
            };
            let purl = purl(
                "deb",
                Some(namespace),
                name,
                version,
                &[
                    ("arch", architecture.as_deref().unwrap_or("")),
                    ("distro", &qualifier),
                ],
            );
            found.push(Component {
                package_type: PackageType::Deb,
                name: name.to_string(),
                version: version.to_string(),
                purl,
                architecture,
                source_name: Some(source_name.unwrap_or_else(|| name.to_string())),
                source_version: Some(source_version.unwrap_or_else(|| version.to_string())),
                license: None,
                registry: true,
                locations: vec![format!("/{path}")],
            });
        }
    }
}

fn version_of(paragraph: &super::control::Paragraph) -> String {
    field(paragraph, "Version").unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_with_source_packages() {
        let mut files = Files::default();
        files.insert(
            "var/lib/dpkg/status",
            b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\n\n\
Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2+b1\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
Package: never\nStatus: purge ok not-installed\n"
                .to_vec(),
        );
        let distro = Distro {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: String::new(),
        };
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, Some(&distro), &mut found, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].source_name.as_deref(), Some("glibc"));
        assert_eq!(found[0].source_version.as_deref(), Some("2.36-9+deb12u4"));
        assert_eq!(
            found[0].purl,
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(found[1].source_version.as_deref(), Some("3.0.11-1~deb12u2"));
        let query = found[1].query(Some(&distro)).unwrap();
        assert_eq!(
            (
                query.ecosystem.as_str(),
                query.name.as_str(),
                query.version.as_str()
            ),
            ("Debian:12", "openssl", "3.0.11-1~deb12u2")
        );
    }

    #[test]
    fn distroless_status_d() {
        let mut files = Files::default();
        files.insert(
            "var/lib/dpkg/status.d/base-files",
            b"Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n".to_vec(),
        );
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, None, &mut found, &mut problems);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "base-files");
    }
}
