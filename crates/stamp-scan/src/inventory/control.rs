//! Debian-control-style paragraphs (`Field: value`, continuation lines start with a space or
//! tab, paragraphs end at a blank line), as in dpkg's `status` and Python's `METADATA`.

/// One paragraph: fields in order, values with continuation lines joined by `\n`.
pub type Paragraph = Vec<(String, String)>;

/// Read every paragraph of `text`. Lines that are neither fields nor continuations are
/// ignored (dpkg would refuse the file; stamp reads what it can).
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current: Paragraph = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// The first value of field `name` (case-insensitive, as dpkg treats field names).
pub fn field<'a>(paragraph: &'a Paragraph, name: &str) -> Option<&'a str> {
    paragraph
        .iter()
        .find(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// The header block of an RFC 822-style metadata file (Python `METADATA`/`PKG-INFO`): the
/// fields before the first blank line.
pub fn header(text: &str) -> Paragraph {
    let end = text
        .find("\n\n")
        .or_else(|| text.find("\r\n\r\n"))
        .unwrap_or(text.len());
    paragraphs(&text[..end])
        .into_iter()
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_and_blank_separators() {
        let text = "Package: a\nDescription: one\n two\n\n\nPackage: b\nversion: 1\n";
        let paragraphs = paragraphs(text);
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(field(&paragraphs[0], "description"), Some("one\ntwo"));
        assert_eq!(field(&paragraphs[1], "Version"), Some("1"));
    }
}
