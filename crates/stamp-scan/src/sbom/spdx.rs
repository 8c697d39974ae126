//! SPDX 2.3 JSON (<https://spdx.github.io/spdx-spec/v2.3/>): one package for the image
//! (`primaryPackagePurpose: CONTAINER`), one per component with its purl as a
//! `PACKAGE-MANAGER` external reference, the document `DESCRIBES` the image and the image
//! `CONTAINS` each component. Licences are `NOASSERTION`: stamp does not conclude them, and
//! package databases state them in free text that is not always an SPDX expression.

use serde_json::{json, Value};

use super::{stable_uuid, Subject, TOOL_NAME, TOOL_VERSION};
use crate::inventory::Inventory;

/// Namespace URIs of stamp's SPDX documents (unique per subject through the UUID).
pub const DOCUMENT_NAMESPACE_BASE: &str = "https://stamp.invalid/spdxdocs";

fn spdx_id(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The SPDX 2.3 document of `inventory`.
pub fn document(subject: &Subject, inventory: &Inventory) -> Value {
    let image_id = "SPDXRef-Image";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": subject.name,
        "versionInfo": subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{"algorithm": "SHA256", "checksumValue": subject.digest.trim_start_matches("sha256:")}],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    if let Some(distro) = &inventory.distro {
        let id = format!("SPDXRef-OperatingSystem-{}", spdx_id(&distro.id));
        packages.push(json!({
            "SPDXID": id,
            "name": distro.id,
            "versionInfo": distro.version_id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "OPERATING_SYSTEM",
            "description": distro.pretty_name,
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    for (index, component) in inventory.components.iter().enumerate() {
        let id = format!(
            "SPDXRef-Package-{}-{}-{}",
            component.package_type.as_str(),
            spdx_id(&component.name),
            index + 1
        );
        let mut package = json!({
            "SPDXID": id,
            "name": component.name,
            "versionInfo": component.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": component.purl,
            }],
        });
        if let (Some(name), Some(version)) = (&component.source_name, &component.source_version) {
            package["sourceInfo"] = json!(format!("built from source package {name} {version}"));
        }
        if let Some(license) = &component.license {
            package["licenseComments"] = json!(format!("declared by the package: {license}"));
        }
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": subject.name,
        "documentNamespace": format!("{DOCUMENT_NAMESPACE_BASE}/{}", stable_uuid(&[&subject.digest, "spdx-2.3"])),
        "creationInfo": {
            "created": subject.created,
            "creators": [format!("Tool: {TOOL_NAME}-{TOOL_VERSION}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
