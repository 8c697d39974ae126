package stamp.rules.non_root

metadata := {
	"code": "PCI-2.2.6-NON-ROOT-USER",
	"title": "The image runs as a non-root user",
	"severity": "high",
	"pci": ["2.2.6", "7.2.2"],
	"remediation": "Set `user = \"NAME\"` (a non-zero UID) in the [config] table of stamp.toml.",
}

not_applicable := "not an image (no image config)" if object.get(input, "image", null) == null

name := split(input.image.user, ":")[0]

failures contains "no User in the image config: runs as root" if {
	input.image != null
	name == ""
}

failures contains sprintf("User %s is root", [input.image.user]) if {
	name in {"root", "0"}
}

failures contains sprintf("User %s has uid 0 in /etc/passwd", [input.image.user]) if {
	not name in {"root", "0", ""}
	some user in input.accounts.users
	user.name == name
	user.uid == 0
}
