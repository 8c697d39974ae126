package stamp.rules.package_caches

metadata := {
	"code": "PCI-2.2.6-PACKAGE-CACHES",
	"title": "No package-manager caches in the image",
	"severity": "low",
	"pci": ["2.2.6", "6.3.2"],
	"remediation": "Clean caches in the layer that fills them: `apt-get clean && rm -rf /var/lib/apt/lists/*`, `pip install --no-cache-dir`, `npm cache clean --force`.",
}

not_applicable := "no package manager" if {
	count(input.packages.managers) == 0
	count(input.filesystem.package_caches) == 0
}

failures contains path if some path in input.filesystem.package_caches
