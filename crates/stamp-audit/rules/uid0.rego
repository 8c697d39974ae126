package stamp.rules.uid0

metadata := {
	"code": "PCI-8.2.1-UID0-ONLY-ROOT",
	"title": "Only root has UID 0",
	"severity": "critical",
	"pci": ["8.2.1", "2.2.2"],
	"remediation": "Give every other account its own non-zero UID, or remove it; administrative access goes through root (or sudo) with a unique identity.",
}

not_applicable := "no /etc/passwd" if not input.accounts.present

failures contains sprintf("%s has uid 0", [user.name]) if {
	some user in input.accounts.users
	user.uid == 0
	user.name != "root"
}
