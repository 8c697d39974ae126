//! Bounded JSON parsing for input that comes from outside (OSV records, package-lock.json,
//! package.json): a size limit checked before parsing and a nesting-depth limit checked by a
//! linear scan before serde sees the bytes, so a hostile document can neither exhaust memory
//! through its size nor the stack through its depth.

use serde::de::DeserializeOwned;

/// Deepest nesting of arrays and objects accepted in any JSON input. OSV records nest about 7
/// levels deep, package-lock.json about 5; serde_json's own recursion limit is 128.
pub const JSON_DEPTH_MAX: usize = 64;

/// Why a JSON document was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonInputError {
    #[error("{size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("nesting deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("invalid JSON")]
    Syntax(#[source] serde_json::Error),
}

/// The deepest nesting of `bytes` if it is at most `limit`, scanning strings correctly.
pub fn check_depth(bytes: &[u8], limit: usize) -> Result<usize, JsonInputError> {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(JsonInputError::TooDeep { limit });
                }
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(deepest)
}

/// Parse `bytes` as `T` after checking its size against `size_limit` and its depth against
/// [`JSON_DEPTH_MAX`].
pub fn parse_bounded<T: DeserializeOwned>(
    bytes: &[u8],
    size_limit: usize,
) -> Result<T, JsonInputError> {
    if bytes.len() > size_limit {
        return Err(JsonInputError::TooLarge {
            size: bytes.len(),
            limit: size_limit,
        });
    }
    check_depth(bytes, JSON_DEPTH_MAX)?;
    serde_json::from_slice(bytes).map_err(JsonInputError::Syntax)
}

/// Deserialize `null` as the type's default (OSV exporters write `null` for empty lists).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn depth_limit_at_the_boundary() {
        assert_eq!(
            check_depth(nested(JSON_DEPTH_MAX).as_bytes(), JSON_DEPTH_MAX).unwrap(),
            JSON_DEPTH_MAX
        );
        assert!(matches!(
            check_depth(nested(JSON_DEPTH_MAX + 1).as_bytes(), JSON_DEPTH_MAX),
            Err(JsonInputError::TooDeep { .. })
        ));
        let value: serde_json::Value =
            parse_bounded(nested(JSON_DEPTH_MAX).as_bytes(), 1 << 20).unwrap();
        assert!(value.is_array());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let text = format!("{{\"a\": \"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert_eq!(check_depth(text.as_bytes(), JSON_DEPTH_MAX).unwrap(), 1);
    }

    #[test]
    fn size_limit_at_the_boundary() {
        let text = b"[1, 2]";
        assert!(parse_bounded::<Vec<u8>>(text, text.len()).is_ok());
        assert!(matches!(
            parse_bounded::<Vec<u8>>(text, text.len() - 1),
            Err(JsonInputError::TooLarge { .. })
        ));
    }
}
