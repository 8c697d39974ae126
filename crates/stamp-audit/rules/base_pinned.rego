package stamp.rules.base_pinned

metadata := {
	"code": "PCI-6.3.2-BASE-PINNED",
	"title": "The base image is pinned by digest",
	"severity": "high",
	"pci": ["6.3.2", "12.5.1", "1.2.8"],
	"remediation": "Name the base by digest in stamp.toml (`[base] oci_layout = ... digest = \"sha256:...\"` or `rootfs = ... sha256 = ...`).",
}

not_applicable := "the base is not known (a plain directory)" if object.get(input, "base", null) == null

failures contains sprintf("base (%s) is not pinned by digest", [input.base.kind]) if {
	input.base != null
	input.base.kind != "scratch"
	not input.base.pinned
}
