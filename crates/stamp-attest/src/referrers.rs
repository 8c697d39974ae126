//! Attestations stored in the OCI image layout as OCI 1.1 artifacts that refer to the image.
//!
//! Per OCI image-spec v1.1 "Guidelines for Artifact Usage": an image manifest with
//! `artifactType` `application/vnd.in-toto+json`, the empty config descriptor
//! (`application/vnd.oci.empty.v1+json`, the two bytes `{}`), one layer holding the DSSE
//! envelope (`application/vnd.dsse.envelope.v1+json`) and `subject` pointing at the image
//! manifest. The predicate type is in the `in-toto.io/predicate-type` annotation, as BuildKit
//! writes it. [`referrers`] finds attachments by their `subject`, as a registry's referrers
//! API would.
//!
//! The artifact manifests are kept reachable from `index.json` (so nothing treats them as
//! garbage) through one nested image index, the *referrers index*: an `index.json` entry of
//! media type image index, annotated `dev.stamp.referrers`, without
//! `org.opencontainers.image.ref.name`, listing every attestation manifest with its
//! `artifactType`. One entry rather than one per attestation keeps `index.json` readable for
//! tools that select by ref name: an image with any number of attestations adds one unnamed
//! entry, and `Store::images` (which lists image manifests only) never mistakes an
//! attestation for an image. Each attachment writes a new referrers index and moves its entry
//! to the end of `index.json`.

use std::collections::BTreeMap;

use stamp_core::Digest;
use stamp_image::oci::{
    Descriptor, ImageIndex, ImageManifest, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use stamp_image::store::{write_atomic, StoreError};
use stamp_image::Store;

use crate::dsse::MEDIA_TYPE_ENVELOPE;

/// `artifactType` of an in-toto attestation.
pub const ARTIFACT_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// The OCI empty descriptor's media type and content.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const EMPTY_JSON: &[u8] = b"{}";

/// Annotation carrying the statement's predicate type.
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// Annotation marking the `index.json` entry of the referrers index, and its value.
pub const ANNOTATION_REFERRERS: &str = "dev.stamp.referrers";
pub const REFERRERS_KIND: &str = "attestations";

/// One attestation attached to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The artifact manifest.
    pub manifest: Digest,
    /// The envelope blob.
    pub envelope: Digest,
    pub envelope_size: u64,
    pub predicate_type: Option<String>,
}

/// Store `envelope` and an artifact manifest whose subject is `image` (an image manifest
/// descriptor), and list the manifest in `index.json`.
pub fn attach(
    store: &Store,
    image: &Descriptor,
    envelope: &[u8],
    predicate_type: &str,
) -> Result<Referrer, StoreError> {
    let (empty_digest, empty_size) = store.put_blob(EMPTY_JSON)?;
    let (envelope_digest, envelope_size) = store.put_blob(envelope)?;
    let annotations = BTreeMap::from([(
        ANNOTATION_PREDICATE_TYPE.to_string(),
        predicate_type.to_string(),
    )]);
    let mut layer = Descriptor::new(MEDIA_TYPE_ENVELOPE, envelope_digest, envelope_size);
    layer.annotations = annotations.clone();
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.to_string()),
        artifact_type: Some(ARTIFACT_TYPE_IN_TOTO.to_string()),
        config: Descriptor::new(MEDIA_TYPE_EMPTY, empty_digest, empty_size),
        layers: vec![layer],
        subject: Some(Descriptor::new(&image.media_type, image.digest, image.size)),
        annotations: annotations.clone(),
    };
    let bytes = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let (manifest_digest, manifest_size) = store.put_blob(&bytes)?;

    let mut entry = Descriptor::new(MEDIA_TYPE_MANIFEST, manifest_digest, manifest_size);
    entry.artifact_type = Some(ARTIFACT_TYPE_IN_TOTO.to_string());
    entry.annotations = annotations;

    let _lock = store.lock()?;
    let mut index = store.read_index()?;
    let position = index
        .manifests
        .iter()
        .position(|entry| entry.annotations.contains_key(ANNOTATION_REFERRERS));
    let mut referrers_index = match position {
        Some(position) => read_referrers_index(store, &index.manifests[position])?,
        None => ImageIndex::empty(),
    };
    if !referrers_index
        .manifests
        .iter()
        .any(|listed| listed.digest == manifest_digest)
    {
        referrers_index.manifests.push(entry);
    }
    let bytes = serde_json::to_vec(&referrers_index).expect("an index serializes");
    let (digest, size) = store.put_blob(&bytes)?;
    let mut descriptor = Descriptor::new(MEDIA_TYPE_INDEX, digest, size);
    descriptor
        .annotations
        .insert(ANNOTATION_REFERRERS.to_string(), REFERRERS_KIND.to_string());
    if let Some(position) = position {
        index.manifests.remove(position);
    }
    index.manifests.push(descriptor);
    let bytes = serde_json::to_vec_pretty(&index).expect("an index serializes");
    write_atomic(&store.oci_dir().join("index.json"), &bytes)?;
    Ok(Referrer {
        manifest: manifest_digest,
        envelope: envelope_digest,
        envelope_size,
        predicate_type: Some(predicate_type.to_string()),
    })
}

fn read_referrers_index(store: &Store, entry: &Descriptor) -> Result<ImageIndex, StoreError> {
    let bytes = store.read_document(&entry.digest)?;
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
        path: store.blob_path(&entry.digest),
        what: "OCI image index of attestations",
        source,
    })
}

/// The in-toto attestations whose subject is `image`, oldest first. Attestation manifests
/// listed directly in `index.json` (as other tools may write them) are found too.
pub fn referrers(store: &Store, image: &Digest) -> Result<Vec<Referrer>, StoreError> {
    let mut candidates = Vec::new();
    for entry in store.read_index()?.manifests {
        if entry.annotations.contains_key(ANNOTATION_REFERRERS) {
            candidates.extend(read_referrers_index(store, &entry)?.manifests);
        } else if entry.artifact_type.as_deref() == Some(ARTIFACT_TYPE_IN_TOTO) {
            candidates.push(entry);
        }
    }
    let mut found = Vec::new();
    for entry in candidates {
        if entry.artifact_type.as_deref() != Some(ARTIFACT_TYPE_IN_TOTO) {
            continue;
        }
        let manifest = store.read_manifest(&entry.digest)?;
        if manifest.subject.as_ref().map(|subject| subject.digest) != Some(*image) {
            continue;
        }
        for layer in manifest
            .layers
            .iter()
            .filter(|layer| layer.media_type == MEDIA_TYPE_ENVELOPE)
        {
            found.push(Referrer {
                manifest: entry.digest,
                envelope: layer.digest,
                envelope_size: layer.size,
                predicate_type: layer
                    .annotations
                    .get(ANNOTATION_PREDICATE_TYPE)
                    .or_else(|| manifest.annotations.get(ANNOTATION_PREDICATE_TYPE))
                    .cloned(),
            });
        }
    }
    Ok(found)
}

/// Read an attached envelope, checking its digest.
pub fn read_envelope(store: &Store, referrer: &Referrer) -> Result<Vec<u8>, StoreError> {
    store.read_document(&referrer.envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_lists_attestations_in_one_unnamed_referrers_index_found_by_subject() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let image = Descriptor::new(MEDIA_TYPE_MANIFEST, Digest::of(b"image"), 5);
        let other = Descriptor::new(MEDIA_TYPE_MANIFEST, Digest::of(b"other"), 5);
        let first = attach(&store, &image, b"{\"payload\":\"1\"}", "https://p/v1").unwrap();
        // Attaching the same envelope again changes nothing.
        assert_eq!(
            attach(&store, &image, b"{\"payload\":\"1\"}", "https://p/v1").unwrap(),
            first
        );
        let second = attach(&store, &image, b"{\"payload\":\"2\"}", "https://q/v1").unwrap();
        let third = attach(&store, &other, b"{\"payload\":\"3\"}", "https://p/v1").unwrap();

        let index = store.read_index().unwrap();
        assert_eq!(index.manifests.len(), 1);
        let entry = &index.manifests[0];
        assert_eq!(entry.media_type, MEDIA_TYPE_INDEX);
        assert!(!entry
            .annotations
            .contains_key(stamp_image::oci::ANNOTATION_REF_NAME));
        assert!(store.images().unwrap().is_empty());
        let nested = read_referrers_index(&store, entry).unwrap();
        assert_eq!(nested.manifests.len(), 3);
        assert!(nested
            .manifests
            .iter()
            .all(|listed| listed.artifact_type.as_deref() == Some(ARTIFACT_TYPE_IN_TOTO)));

        let manifest = store.read_manifest(&first.manifest).unwrap();
        assert_eq!(manifest.config.media_type, MEDIA_TYPE_EMPTY);
        assert_eq!(manifest.config.digest, Digest::of(EMPTY_JSON));
        assert_eq!(manifest.config.size, 2);
        assert_eq!(store.verify_blob(&manifest.config.digest).unwrap(), 2);
        assert_eq!(manifest.subject.unwrap().digest, image.digest);
        assert_eq!(
            manifest.artifact_type.as_deref(),
            Some(ARTIFACT_TYPE_IN_TOTO)
        );

        assert_eq!(
            referrers(&store, &image.digest).unwrap(),
            vec![first.clone(), second]
        );
        assert_eq!(referrers(&store, &other.digest).unwrap(), vec![third]);
        assert_eq!(
            read_envelope(&store, &first).unwrap(),
            b"{\"payload\":\"1\"}"
        );
        assert!(referrers(&store, &Digest::of(b"none")).unwrap().is_empty());
    }
}
