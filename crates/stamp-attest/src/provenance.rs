//! SLSA provenance v1 (`https://slsa.dev/provenance/v1`) for stamp builds.
//!
//! The structs follow the SLSA v1 protobuf (`in_toto_attestation/predicates/provenance/v1`):
//! `buildDefinition` {`buildType`, `externalParameters`, `internalParameters`,
//! `resolvedDependencies`} and `runDetails` {`builder` {`id`, `version`,
//! `builderDependencies`}, `metadata` {`invocationId`, `startedOn`, `finishedOn`},
//! `byproducts`}, parsed strictly. [`BuildFacts`] is what a stamp build knows; [`provenance`]
//! turns it into the statement that `stamp build` signs.
//!
//! stamp's build type (`https://stamp.dev/build/oci-image/v1`) defines:
//! * `externalParameters`: `spec` {`path` as given, `digest` {`sha256`}}, `gitCommit` when the
//!   spec is in a git work tree;
//! * `internalParameters`: `sourceDateEpoch`, `sourceDateFrom`, `architecture`, `os`;
//! * `resolvedDependencies`: the base (rootfs tarball or OCI image) by digest, the git
//!   commit (`digest.gitCommit`), and each copied input file with the sha256 of the content
//!   that went into the image (`annotations.dest` names where);
//! * `byproducts`: the file manifest root digest (what drift detection compares against).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stamp_core::Digest;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::statement::{ResourceDescriptor, Statement};

/// The SLSA provenance v1 predicate type.
pub const PREDICATE_TYPE_SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";

/// stamp's build type.
pub const BUILD_TYPE: &str = "https://stamp.dev/build/oci-image/v1";

/// The builder id of the stamp CLI building on the local machine.
pub const BUILDER_ID: &str = "https://stamp.dev/builder/stamp-cli/v1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provenance {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub internal_parameters: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BuildMetadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub invocation_id: String,
    /// RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// The base a build started from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseInput {
    /// How the spec names it (`rootfs.tar.gz`, `oci:layout@sha256:…`).
    pub name: String,
    pub digest: Digest,
}

/// One copied input: the source as the spec names it, where it went, and the content digest
/// of a regular file (`None` for a directory copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileInput {
    pub source: String,
    pub dest: String,
    pub sha256: Option<Digest>,
}

/// What a stamp build knows, for its provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildFacts {
    pub image_name: String,
    pub image_digest: Digest,
    pub spec_path: String,
    pub spec_digest: Digest,
    pub git_commit: Option<String>,
    pub base: Option<BaseInput>,
    pub inputs: Vec<FileInput>,
    pub source_date_epoch: u64,
    pub source_date_from: String,
    pub architecture: String,
    pub os: String,
    pub file_manifest_root: Digest,
    pub invocation_id: String,
    pub started_on: OffsetDateTime,
    pub finished_on: OffsetDateTime,
    pub stamp_version: String,
}

/// A new random build invocation id (`urn:stamp:build:` and 32 hex characters).
pub fn new_invocation_id() -> String {
    use rand_core::RngCore as _;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    format!("urn:stamp:build:{}", hex::encode(bytes))
}

/// RFC 3339 UTC with whole seconds (`2025-01-02T03:04:05Z`), as protobuf Timestamp JSON reads it.
pub fn format_time(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// The SLSA provenance v1 statement for a build.
pub fn provenance(facts: &BuildFacts) -> Statement {
    let mut spec = Map::new();
    spec.insert("path".into(), facts.spec_path.clone().into());
    spec.insert(
        "digest".into(),
        serde_json::json!({ "sha256": facts.spec_digest.hex() }),
    );
    let mut external = Map::new();
    external.insert("spec".into(), Value::Object(spec));
    if let Some(commit) = &facts.git_commit {
        external.insert("gitCommit".into(), commit.clone().into());
    }
    let mut internal = Map::new();
    internal.insert("sourceDateEpoch".into(), facts.source_date_epoch.into());
    internal.insert(
        "sourceDateFrom".into(),
        facts.source_date_from.clone().into(),
    );
    internal.insert("architecture".into(), facts.architecture.clone().into());
    internal.insert("os".into(), facts.os.clone().into());

    let mut dependencies = Vec::new();
    if let Some(base) = &facts.base {
        let mut descriptor = ResourceDescriptor::sha256(base.name.clone(), &base.digest);
        descriptor.annotations.insert("role".into(), "base".into());
        dependencies.push(descriptor);
    }
    if let Some(commit) = &facts.git_commit {
        dependencies.push(ResourceDescriptor {
            name: "source".into(),
            digest: BTreeMap::from([("gitCommit".to_string(), commit.clone())]),
            ..ResourceDescriptor::default()
        });
    }
    for input in &facts.inputs {
        let mut descriptor = ResourceDescriptor {
            name: input.source.clone(),
            ..ResourceDescriptor::default()
        };
        if let Some(digest) = &input.sha256 {
            descriptor.digest.insert("sha256".into(), digest.hex());
        }
        descriptor
            .annotations
            .insert("dest".into(), input.dest.clone().into());
        dependencies.push(descriptor);
    }

    let predicate = Provenance {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.into(),
            external_parameters: external,
            internal_parameters: internal,
            resolved_dependencies: dependencies,
        },
        run_details: RunDetails {
            builder: Builder {
                id: BUILDER_ID.into(),
                version: BTreeMap::from([("stamp".to_string(), facts.stamp_version.clone())]),
                builder_dependencies: Vec::new(),
            },
            metadata: Some(BuildMetadata {
                invocation_id: facts.invocation_id.clone(),
                started_on: Some(format_time(facts.started_on)),
                finished_on: Some(format_time(facts.finished_on)),
            }),
            byproducts: vec![ResourceDescriptor {
                name: "file-manifest".into(),
                digest: BTreeMap::from([("sha256".to_string(), facts.file_manifest_root.hex())]),
                media_type: "application/vnd.stamp.file-manifest.v1+json".into(),
                ..ResourceDescriptor::default()
            }],
        },
    };
    Statement::new(
        vec![ResourceDescriptor::sha256(
            facts.image_name.clone(),
            &facts.image_digest,
        )],
        PREDICATE_TYPE_SLSA_PROVENANCE_V1,
        &predicate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    pub(crate) fn facts() -> BuildFacts {
        BuildFacts {
            image_name: "hello".into(),
            image_digest: Digest::of(b"manifest"),
            spec_path: "stamp.toml".into(),
            spec_digest: Digest::of(b"spec"),
            git_commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            base: Some(BaseInput {
                name: "rootfs.tar.gz".into(),
                digest: Digest::of(b"base"),
            }),
            inputs: vec![FileInput {
                source: "hello.txt".into(),
                dest: "/hello.txt".into(),
                sha256: Some(Digest::of(b"hello\n")),
            }],
            source_date_epoch: 1_700_000_000,
            source_date_from: "stamp.toml".into(),
            architecture: "amd64".into(),
            os: "linux".into(),
            file_manifest_root: Digest::of(b"files"),
            invocation_id: "abc".into(),
            started_on: datetime!(2025-01-02 03:04:05.6 UTC),
            finished_on: datetime!(2025-01-02 03:04:07 UTC),
            stamp_version: "0.1.0".into(),
        }
    }

    #[test]
    fn the_predicate_uses_slsa_field_names_and_parses_back_strictly() {
        let statement = provenance(&facts());
        assert_eq!(statement.predicate_type, PREDICATE_TYPE_SLSA_PROVENANCE_V1);
        assert_eq!(statement.subject_digests(), vec![Digest::of(b"manifest")]);
        let predicate: Provenance = statement.predicate_as().unwrap();
        assert_eq!(predicate.build_definition.build_type, BUILD_TYPE);
        assert_eq!(
            predicate.build_definition.external_parameters["spec"]["digest"]["sha256"],
            Digest::of(b"spec").hex()
        );
        assert_eq!(predicate.run_details.builder.id, BUILDER_ID);
        let metadata = predicate.run_details.metadata.unwrap();
        assert_eq!(metadata.started_on.as_deref(), Some("2025-01-02T03:04:05Z"));
        let dependencies = &predicate.build_definition.resolved_dependencies;
        assert_eq!(dependencies[0].sha256_digest(), Some(Digest::of(b"base")));
        assert_eq!(
            dependencies[1].digest["gitCommit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(dependencies[2].annotations["dest"], "/hello.txt");
        let json = serde_json::to_value(&statement.predicate).unwrap();
        for key in ["buildDefinition", "runDetails"] {
            assert!(json.get(key).is_some(), "{json}");
        }
        assert!(json["runDetails"]["metadata"].get("invocationId").is_some());
    }

    #[test]
    fn an_unknown_field_in_the_predicate_is_refused() {
        let statement = provenance(&facts());
        let mut value = Value::Object(statement.predicate.clone());
        value["runDetails"]["builder"]["name"] = "x".into();
        assert!(serde_json::from_value::<Provenance>(value).is_err());
    }
}
