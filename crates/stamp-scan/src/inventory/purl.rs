//! Package URLs (purl, ECMA-427): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`.

/// Percent-encode a purl segment: everything but ASCII letters, digits and `.-_~` (and `:`,
/// which purl leaves readable in versions such as Debian epochs).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b".-_~:".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Build a purl; qualifiers are sorted by key and empty values left out, as the spec's
/// canonical form requires.
pub fn purl(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let mut text = format!("pkg:{kind}/");
    if let Some(namespace) = namespace.filter(|namespace| !namespace.is_empty()) {
        for part in namespace.split('/') {
            text.push_str(&encode(part));
            text.push('/');
        }
    }
    text.push_str(&encode(name));
    if !version.is_empty() {
        text.push('@');
        text.push_str(&encode(version));
    }
    let mut qualifiers: Vec<&(&str, &str)> = qualifiers
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .collect();
    qualifiers.sort_by_key(|(key, _)| *key);
    for (index, (key, value)) in qualifiers.iter().enumerate() {
        text.push(if index == 0 { '?' } else { '&' });
        text.push_str(key);
        text.push('=');
        text.push_str(&encode(value));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(
            purl(
                "deb",
                Some("debian"),
                "libc6",
                "2.36-9+deb12u4",
                &[("distro", "debian-12"), ("arch", "amd64")]
            ),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
        );
        assert_eq!(
            purl("npm", Some("@babel"), "core", "7.0.0", &[]),
            "pkg:npm/%40babel/core@7.0.0"
        );
        assert_eq!(
            purl("deb", Some("debian"), "tar", "1:1.34", &[("arch", "")]),
            "pkg:deb/debian/tar@1:1.34"
        );
    }
}
