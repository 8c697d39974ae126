//! Walking an image for [`super::scan_bytes`]: each layer blob streamed through the bounded
//! tar reader, every regular file scanned in the layer that holds it (so a file a later layer
//! whites out is still scanned, and marked as hidden), then the configuration's `Env`.

use std::collections::BTreeMap;
use std::io::Read;

use stamp_core::Digest;
use stamp_image::layer::{classify, Change, EntryError};
use stamp_image::path::ImagePath;
use stamp_image::store::StoreError;
use stamp_image::tar::{EntryKind, ReadLimits, ReadTarError, TarReader};
use stamp_image::Store;

use super::{scan_bytes, scan_content, Location, ScanLimits, ScanProblem, SensitiveReport};

/// Why an image could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {layer}: not a valid tar stream")]
    Tar {
        layer: Digest,
        #[source]
        source: ReadTarError,
    },
    #[error("layer {layer}: entry `{entry}` is refused")]
    Entry {
        layer: Digest,
        entry: String,
        #[source]
        source: EntryError,
    },
}

/// Findings by the path of the file they are in, per layer, to mark those a later layer
/// hides.
#[derive(Default)]
struct Visibility {
    /// Findings of earlier layers, by path.
    earlier: BTreeMap<ImagePath, Vec<usize>>,
    /// Findings of the layer being read, by path.
    current: BTreeMap<ImagePath, Vec<usize>>,
}

impl Visibility {
    fn hide(&mut self, report: &mut SensitiveReport, hidden: impl Fn(&ImagePath) -> bool) {
        self.earlier.retain(|path, indexes| {
            if hidden(path) {
                for &index in indexes.iter() {
                    report.findings[index].location.hidden_by_later_layer = true;
                }
                false
            } else {
                true
            }
        });
    }

    fn end_layer(&mut self) {
        for (path, indexes) in std::mem::take(&mut self.current) {
            self.earlier.entry(path).or_default().extend(indexes);
        }
    }
}

/// Scan every layer of image `digest` and its configuration's environment.
pub fn scan_image(
    store: &Store,
    digest: &Digest,
    limits: ScanLimits,
) -> Result<SensitiveReport, ScanImageError> {
    let manifest = store.read_manifest(digest)?;
    let mut report = SensitiveReport::default();
    let mut visibility = Visibility::default();
    for layer in &manifest.layers {
        let reader = store.open_layer(layer)?;
        scan_layer(&mut report, &mut visibility, layer.digest, reader, limits)?;
    }
    let config = store.read_config(&manifest.config.digest)?;
    if let Some(runtime) = &config.config {
        scan_env(&mut report, &runtime.env);
    }
    Ok(report)
}

/// Scan `NAME=VALUE` environment entries of the image configuration.
pub fn scan_env(report: &mut SensitiveReport, env: &[String]) {
    for entry in env {
        let name = entry
            .split_once('=')
            .map_or(entry.as_str(), |(name, _)| name);
        let location = Location {
            layer: None,
            path: crate::pan::mask_pans(&format!("config:Env[{name}]")),
            in_gzip: false,
            line: 1,
            hidden_by_later_layer: false,
        };
        scan_bytes(entry.as_bytes(), &location, &mut report.findings);
    }
}

/// Scan one uncompressed layer.
fn scan_layer(
    report: &mut SensitiveReport,
    visibility: &mut Visibility,
    layer: Digest,
    reader: impl Read,
    limits: ScanLimits,
) -> Result<(), ScanImageError> {
    let mut tar = TarReader::new(reader, ReadLimits::default());
    let tar_error = |source| ScanImageError::Tar { layer, source };
    let layer_text = layer.to_string();
    let problem = |path: &str, reason: String| ScanProblem {
        layer: Some(layer_text.clone()),
        path: crate::pan::mask_pans(path),
        reason,
    };
    while let Some(header) = tar.next_header().map_err(tar_error)? {
        let change = classify(&header).map_err(|source| ScanImageError::Entry {
            layer,
            entry: header.path.clone(),
            source,
        })?;
        let (path, header) = match change {
            Change::Remove { path } => {
                visibility.hide(report, |found| *found == path || found.is_below(&path));
                continue;
            }
            Change::Opaque { dir } => {
                visibility.hide(report, |found| found.is_below(&dir));
                continue;
            }
            Change::Put { path, header } => {
                visibility.hide(report, |found| *found == path);
                (path, header)
            }
        };
        if header.kind != EntryKind::File {
            continue;
        }
        let relative = path.relative();
        if report.files_scanned >= limits.files_max {
            report.problems.push(problem(
                &relative,
                format!(
                    "not scanned: over the limit of {} files per image",
                    limits.files_max
                ),
            ));
            return Ok(());
        }
        if header.size > limits.file_bytes_max {
            report.problems.push(problem(
                &relative,
                format!(
                    "not scanned: {} bytes, over the limit of {} bytes",
                    header.size, limits.file_bytes_max
                ),
            ));
            continue;
        }
        if report.bytes_scanned + header.size > limits.total_bytes_max {
            report.problems.push(problem(
                &relative,
                format!(
                    "not scanned: over the limit of {} bytes per image",
                    limits.total_bytes_max
                ),
            ));
            continue;
        }
        let mut content = Vec::with_capacity(header.size as usize);
        let mut buffer = [0u8; 64 * 1024];
        loop {
            let read = tar.read_content(&mut buffer).map_err(tar_error)?;
            if read == 0 {
                break;
            }
            content.extend_from_slice(&buffer[..read]);
        }
        let first_new = report.findings.len();
        let location = Location {
            layer: Some(layer_text.clone()),
            path: crate::pan::mask_pans(&relative),
            in_gzip: false,
            line: 0,
            hidden_by_later_layer: false,
        };
        scan_content(report, location, &content, limits);
        if report.findings.len() > first_new {
            visibility
                .current
                .entry(path)
                .or_default()
                .extend(first_new..report.findings.len());
        }
    }
    visibility.end_layer();
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A scan of `layers` (uncompressed tar streams) as one image.
    pub fn scan_layers(layers: &[Vec<u8>], limits: ScanLimits) -> SensitiveReport {
        let mut report = SensitiveReport::default();
        let mut visibility = Visibility::default();
        for (index, layer) in layers.iter().enumerate() {
            let digest = Digest::of(format!("layer {index}").as_bytes());
            scan_layer(
                &mut report,
                &mut visibility,
                digest,
                layer.as_slice(),
                limits,
            )
            .unwrap();
        }
        report
    }
}
