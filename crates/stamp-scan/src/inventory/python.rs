//! Python: installed distributions' core metadata — `NAME-VERSION.dist-info/METADATA`
//! (wheels, PEP 376/566), `NAME.egg-info/PKG-INFO` and single-file `NAME.egg-info`
//! (setuptools, as Debian's python3-* packages install them). Names normalized as PEP 503.

use super::control::{field, header};
use super::purl::purl;
use super::{Component, Files, PackageType, Problem};
use crate::osv::ecosystem::normalize_name;

pub fn collect(files: &Files, found: &mut Vec<Component>, problems: &mut Vec<Problem>) {
    let paths: Vec<&str> = files
        .paths()
        .filter(|path| {
            path.ends_with(".dist-info/METADATA")
                || path.ends_with(".egg-info/PKG-INFO")
                || path.ends_with(".egg-info")
        })
        .collect();
    for path in paths {
        let text = String::from_utf8_lossy(files.get(path).unwrap_or_default());
        let metadata = header(&text);
        let (Some(name), Some(version)) = (field(&metadata, "Name"), field(&metadata, "Version"))
        else {
            problems.push(Problem {
                path: format!("/{path}"),
                message: "core metadata without `Name` or `Version`".into(),
            });
            continue;
        };
        let license = field(&metadata, "License-Expression")
            .or_else(|| field(&metadata, "License"))
            .filter(|license| !license.is_empty() && *license != "UNKNOWN")
            .map(|license| license.lines().next().unwrap_or("").to_string());
        found.push(Component {
            package_type: PackageType::Pypi,
            name: name.to_string(),
            version: version.to_string(),
            purl: purl("pypi", None, &normalize_name("PyPI", name), version, &[]),
            architecture: None,
            source_name: None,
            source_version: None,
            license,
            registry: true,
            locations: vec![format!("/{path}")],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dist_info_and_egg_info() {
        let mut files = Files::default();
        files.insert(
            "usr/lib/python3/site-packages/Jinja2-3.1.2.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.2\nLicense: BSD-3-Clause\n\nName: not-this\n".to_vec(),
        );
        files.insert(
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
            b"Metadata-Version: 1.2\nName: six\nVersion: 1.16.0\n".to_vec(),
        );
        files.insert(
            "usr/lib/python3/dist-packages/broken.egg-info/PKG-INFO",
            b"Name: x\n".to_vec(),
        );
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, &mut found, &mut problems);
        assert_eq!(found.len(), 2);
        assert_eq!(problems.len(), 1);
        let jinja = found.iter().find(|c| c.name == "Jinja2").unwrap();
        assert_eq!(jinja.purl, "pkg:pypi/jinja2@3.1.2");
        assert_eq!(jinja.license.as_deref(), Some("BSD-3-Clause"));
    }
}
