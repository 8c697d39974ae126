//! CVSS base scores from vector strings, and the qualitative rating stamp ranks findings by.
//!
//! v3.0 and v3.1 base scores follow the specification's §7.1 formulas (with v3.1's
//! `Roundup`, which v3.0 vectors are scored with too, as NVD does); they are short enough to
//! own, and a test checks them against RustSec's `cvss` crate on every vector of the shared
//! OSV data. v4.0 scores come from that crate (the v4 score needs the specification's
//! macro-vector tables, which it carries).

use std::collections::HashMap;

/// Qualitative severity, in order. `Unknown` means no vector and no database severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Unknown,
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The CVSS v3 qualitative rating of a base score (specification §5).
    pub fn from_score(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::None
        }
    }

    /// A database-specific label (`CRITICAL`, `HIGH`, `MODERATE`, `MEDIUM`, `LOW`, …).
    pub fn from_label(label: &str) -> Severity {
        match label.trim().to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" | "important" => Severity::High,
            "moderate" | "medium" => Severity::Medium,
            "low" | "negligible" | "unimportant" => Severity::Low,
            "none" => Severity::None,
            _ => Severity::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Severity::from_label(text) {
            Severity::Unknown if text != "unknown" => Err(format!("unknown severity `{text}`")),
            severity => Ok(severity),
        }
    }
}

/// Why a vector could not be scored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    #[error("not a CVSS v3 vector (expected a `CVSS:3.0/` or `CVSS:3.1/` prefix)")]
    Prefix,
    #[error("metric `{0}` is missing or has an unknown value")]
    Metric(&'static str),
    #[error("malformed metric `{0}`")]
    Malformed(String),
    #[error("not a valid CVSS v4.0 vector: {0}")]
    V4(String),
}

/// The CVSS-B base score of a CVSS v4.0 vector (`CVSS:4.0/AV:N/AC:L/AT:N/…`).
pub fn v4_base_score(vector: &str) -> Result<f64, CvssError> {
    let vector: cvss::v4::Vector = vector
        .trim()
        .parse()
        .map_err(|error: cvss::Error| CvssError::V4(error.to_string()))?;
    Ok(vector.score().value())
}

/// Round up to one decimal as CVSS v3.1 Appendix A defines it (exact on floating point).
fn round_up(value: f64) -> f64 {
    let integer = (value * 100_000.0).round() as i64;
    if integer % 10_000 == 0 {
        integer as f64 / 100_000.0
    } else {
        ((integer / 10_000) as f64 + 1.0) / 10.0
    }
}

/// The base score of a CVSS v3.0 or v3.1 vector (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`).
pub fn v3_base_score(vector: &str) -> Result<f64, CvssError> {
    let rest = vector
        .trim()
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.trim().strip_prefix("CVSS:3.0/"))
        .ok_or(CvssError::Prefix)?;
    let mut metrics = HashMap::new();
    for part in rest.split('/') {
        let (name, value) = part
            .split_once(':')
            .ok_or_else(|| CvssError::Malformed(part.to_string()))?;
        if metrics.insert(name, value).is_some() {
            return Err(CvssError::Malformed(part.to_string()));
        }
    }
    let get = |name: &'static str, table: &[(&str, f64)]| -> Result<f64, CvssError> {
        let value = metrics.get(name).ok_or(CvssError::Metric(name))?;
        table
            .iter()
            .find(|(key, _)| key == value)
            .map(|(_, weight)| *weight)
            .ok_or(CvssError::Metric(name))
    };
    let scope_changed = match metrics.get("S") {
        Some(&"U") => false,
        Some(&"C") => true,
        _ => return Err(CvssError::Metric("S")),
    };
    let attack_vector = get("AV", &[("N", 0.85), ("A", 0.62), ("L", 0.55), ("P", 0.2)])?;
    let attack_complexity = get("AC", &[("L", 0.77), ("H", 0.44)])?;
    let privileges = if scope_changed {
        get("PR", &[("N", 0.85), ("L", 0.68), ("H", 0.5)])?
    } else {
        get("PR", &[("N", 0.85), ("L", 0.62), ("H", 0.27)])?
    };
    let user_interaction = get("UI", &[("N", 0.85), ("R", 0.62)])?;
    let impact_weights = [("H", 0.56), ("L", 0.22), ("N", 0.0)];
    let confidentiality = get("C", &impact_weights)?;
    let integrity = get("I", &impact_weights)?;
    let availability = get("A", &impact_weights)?;
    let impact_sub_score = 1.0 - (1.0 - confidentiality) * (1.0 - integrity) * (1.0 - availability);
    let impact = if scope_changed {
        7.52 * (impact_sub_score - 0.029) - 3.25 * (impact_sub_score - 0.02).powi(15)
    } else {
        6.42 * impact_sub_score
    };
    let exploitability = 8.22 * attack_vector * attack_complexity * privileges * user_interaction;
    if impact <= 0.0 {
        return Ok(0.0);
    }
    Ok(if scope_changed {
        round_up((1.08 * (impact + exploitability)).min(10.0))
    } else {
        round_up((impact + exploitability).min(10.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        // Scores as the FIRST calculator and NVD give them.
        for (vector, score) in [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
        ] {
            assert_eq!(v3_base_score(vector), Ok(score), "{vector}");
        }
    }

    #[test]
    fn malformed_vectors_are_refused() {
        assert_eq!(
            v3_base_score("AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Err(CvssError::Prefix)
        );
        assert_eq!(
            v3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H"),
            Err(CvssError::Metric("A"))
        );
        assert_eq!(
            v3_base_score("CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            Err(CvssError::Metric("AV"))
        );
    }

    #[test]
    fn v4_scores() {
        // Values from FIRST's CVSS v4.0 calculator.
        for (vector, score) in [
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                9.3,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N",
                0.0,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                8.5,
            ),
        ] {
            assert_eq!(v4_base_score(vector), Ok(score), "{vector}");
        }
        assert!(v4_base_score("CVSS:4.0/AV:N").is_err());
    }

    #[test]
    fn ratings() {
        assert_eq!(Severity::from_score(9.0), Severity::Critical);
        assert_eq!(Severity::from_score(8.9), Severity::High);
        assert_eq!(Severity::from_score(0.1), Severity::Low);
        assert_eq!(Severity::from_score(0.0), Severity::None);
        assert_eq!(Severity::from_label("MODERATE"), Severity::Medium);
    }
}
