//! CycloneDX 1.6 JSON (<https://cyclonedx.org/docs/1.6/json/>): the image is
//! `metadata.component` (type `container`), the distribution an `operating-system`
//! component, every package a `library` component whose `bom-ref` is its purl; one
//! `dependencies` entry says the image contains them all.

use serde_json::{json, Map, Value};

use super::{stable_uuid, Subject, TOOL_NAME, TOOL_VERSION};
use crate::inventory::{Component, Inventory, PackageType};

fn properties(component: &Component) -> Vec<Value> {
    let mut properties =
        vec![json!({"name": "stamp:package:type", "value": component.package_type.as_str()})];
    if let Some(source) = &component.source_name {
        properties.push(json!({"name": "stamp:package:source-name", "value": source}));
    }
    if let Some(version) = &component.source_version {
        properties.push(json!({"name": "stamp:package:source-version", "value": version}));
    }
    if let Some(architecture) = &component.architecture {
        properties.push(json!({"name": "stamp:package:architecture", "value": architecture}));
    }
    for location in &component.locations {
        properties.push(json!({"name": "stamp:package:location", "value": location}));
    }
    // Not from a public registry (a Cargo path or git package, an npm git dependency): not
    // matched against advisories when the SBOM is read back.
    if !component.registry {
        properties.push(json!({"name": "stamp:package:registry", "value": "false"}));
    }
    properties
}

fn component(component: &Component) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), json!("library"));
    object.insert("bom-ref".into(), json!(component.purl));
    let (group, name) = match (component.package_type, component.name.split_once('/')) {
        (PackageType::Npm, Some((scope, name))) if scope.starts_with('@') => (Some(scope), name),
        _ => (None, component.name.as_str()),
    };
    if let Some(group) = group {
        object.insert("group".into(), json!(group));
    }
    object.insert("name".into(), json!(name));
    object.insert("version".into(), json!(component.version));
    if let Some(license) = &component.license {
        object.insert("licenses".into(), json!([{"license": {"name": license}}]));
    }
    object.insert("purl".into(), json!(component.purl));
    object.insert("properties".into(), Value::Array(properties(component)));
    Value::Object(object)
}

/// The CycloneDX 1.6 document of `inventory`.
pub fn document(subject: &Subject, inventory: &Inventory) -> Value {
    let image_ref = "stamp:image";
    let mut components = Vec::new();
    let mut refs = Vec::new();
    if let Some(distro) = &inventory.distro {
        let os_ref = format!("stamp:os:{}-{}", distro.id, distro.version_id);
        let mut os = json!({
            "type": "operating-system",
            "bom-ref": os_ref,
            "name": distro.id,
            "version": distro.version_id,
        });
        if !distro.pretty_name.is_empty() {
            os["description"] = json!(distro.pretty_name);
        }
        components.push(os);
        refs.push(os_ref);
    }
    for item in &inventory.components {
        components.push(component(item));
        refs.push(item.purl.clone());
    }
    json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", stable_uuid(&[&subject.digest, "cyclonedx-1.6"])),
        "version": 1,
        "metadata": {
            "timestamp": subject.created,
            "tools": {"components": [{"type": "application", "name": TOOL_NAME, "version": TOOL_VERSION}]},
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": subject.name,
                "version": subject.digest,
            },
        },
        "components": components,
        "dependencies": [{"ref": image_ref, "dependsOn": refs}],
    })
}
